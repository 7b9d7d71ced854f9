// The parser's WASM starts with a small memory and still parses what it parsed before.
import { expect, test } from "bun:test";
import wasmPath from "libpg-query/wasm/libpg-query.wasm" with { type: "file" };
import { withSmallInitialMemory } from "./wasm-memory.ts";

function initialPages(wasm: Uint8Array): number {
  const module = new WebAssembly.Module(wasm);
  const instance = new WebAssembly.Instance(module, stubImports(module) as never);
  const memory = Object.values(instance.exports).find((e) => e instanceof WebAssembly.Memory) as WebAssembly.Memory;
  return memory.buffer.byteLength / 65536;
}

function stubImports(module: WebAssembly.Module): Record<string, Record<string, unknown>> {
  const imports: Record<string, Record<string, unknown>> = {};
  for (const i of WebAssembly.Module.imports(module)) (imports[i.module] ??= {})[i.name] = () => 0;
  return imports;
}

test("libpg-query's 128 MiB initial memory is lowered to just above its stack", async () => {
  const original = new Uint8Array(await Bun.file(wasmPath).arrayBuffer());
  const small = withSmallInitialMemory(original);
  expect(small.length).toBe(original.length);
  expect(initialPages(original)).toBe(2048);
  const pages = initialPages(small);
  expect(pages).toBeLessThan(1024);
  expect(pages * 65536).toBeGreaterThan(34_515_008); // the stack pointer's initial value in this build
});

test("a module it does not recognise is returned as it is", () => {
  const junk = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 99, 1, 0]);
  expect(withSmallInitialMemory(junk)).toBe(junk);
  const notWasm = new Uint8Array([1, 2, 3]);
  expect(withSmallInitialMemory(notWasm)).toBe(notWasm);
});
