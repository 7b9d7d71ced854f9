// Starts libpg-query's WASM memory small. The module declares 128 MiB of initial memory (2048
// pages), most of it an untouched heap; the engine counts every instance's whole memory as
// heap for its collection schedule, so two parser instances made the gateway look like a 540 MB
// heap and let ~200 MB of socket buffers pile up between collections. The parser needs its
// data, its 32 MiB stack (below the stack pointer's initial value) and a heap that malloc grows
// on demand (the module allows growth), so the initial size is lowered to just above the stack.
// Any layout this does not recognise is left exactly as it is.

const PAGE = 65536;
/** Room for the heap's first allocations before the first grow. */
const HEAP_PAGES = 16;

/**
 * The module's bytes with the initial memory lowered to the stack top plus HEAP_PAGES, or the
 * same bytes when the module is not laid out as expected (one memory with a maximum, a mutable
 * i32 stack pointer as global 0, data below it) or would not shrink.
 */
export function withSmallInitialMemory(wasm: Uint8Array): Uint8Array {
  const b = wasm;
  if (b.length < 8 || b[0] !== 0x00 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) return wasm;
  let p = 8;
  const uleb = (): number => {
    let r = 0;
    let shift = 0;
    for (;;) {
      if (p >= b.length || shift > 35) throw new Error("bad LEB");
      const x = b[p++]!;
      r += (x & 0x7f) * 2 ** shift;
      shift += 7;
      if ((x & 0x80) === 0) return r;
    }
  };
  const sleb32 = (): number => {
    let r = 0;
    let shift = 0;
    let x: number;
    do {
      if (p >= b.length || shift > 35) throw new Error("bad LEB");
      x = b[p++]!;
      r |= (x & 0x7f) << shift;
      shift += 7;
    } while (x & 0x80);
    if (shift < 32 && x & 0x40) r |= -1 << shift;
    return r;
  };
  try {
    let initialAt = -1;
    let initialLength = 0;
    let initial = 0;
    let maximum = 0;
    let stackTop = -1;
    let dataEnd = 0;
    while (p < b.length) {
      const id = b[p++]!;
      const size = uleb();
      const start = p;
      if (id === 5) {
        if (uleb() !== 1) return wasm;
        const flags = b[p++]!;
        if (flags !== 1) return wasm; // no maximum, or shared/64-bit memory
        initialAt = p;
        initial = uleb();
        initialLength = p - initialAt;
        maximum = uleb();
      } else if (id === 6) {
        if (uleb() < 1) return wasm;
        const type = b[p++];
        const mutable = b[p++];
        const op = b[p++];
        if (type !== 0x7f || mutable !== 1 || op !== 0x41) return wasm; // global 0: mut i32 = i32.const
        stackTop = sleb32();
        if (b[p++] !== 0x0b) return wasm;
      } else if (id === 11) {
        const n = uleb();
        for (let i = 0; i < n; i++) {
          const flags = uleb();
          if (flags === 1) {
            p += uleb(); // passive: placed by memory.init at run time, within the active layout
            continue;
          }
          if (flags !== 0 || b[p++] !== 0x41) return wasm;
          const offset = sleb32();
          if (b[p++] !== 0x0b) return wasm;
          const length = uleb();
          p += length;
          dataEnd = Math.max(dataEnd, offset + length);
        }
      }
      p = start + size;
    }
    if (initialAt < 0 || stackTop <= 0 || dataEnd > stackTop) return wasm;
    const pages = Math.ceil(stackTop / PAGE) + HEAP_PAGES;
    if (pages >= initial || pages > maximum) return wasm;
    // The same number of bytes: a LEB128 may carry continuation bytes of zero.
    const out = new Uint8Array(b);
    let v = pages;
    for (let i = 0; i < initialLength; i++) {
      const last = i === initialLength - 1;
      out[initialAt + i] = (v & 0x7f) | (last ? 0 : 0x80);
      v = Math.floor(v / 128);
    }
    if (v !== 0) return wasm;
    return out;
  } catch {
    return wasm;
  }
}
