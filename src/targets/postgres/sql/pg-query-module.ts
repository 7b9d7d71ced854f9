// The PostgreSQL parser (libpg_query compiled to WASM), instantiated from bytes we hand it, with
// the one call the analysis needs: query text → the parser's JSON parse tree, or its error.
import { GatewayError } from "../../../core/errors.ts";
import factory from "libpg-query/wasm/libpg-query.js";
import type { PgQueryEmscriptenModule } from "libpg-query/wasm/libpg-query.js";

export interface PgParseError {
  readonly message: string;
  /** 0-based character offset into the query where the parser stopped, when it says. */
  readonly position: number | null;
}

/** `json`: the parse tree as the parser's own JSON, UTF-8 bytes (a copy), decoded only when needed. */
export type PgParseResult = { readonly ok: true; readonly json: Buffer } | { readonly ok: false; readonly error: PgParseError };

export interface PgQueryModule {
  parse(sql: string): PgParseResult;
}

/** Instantiate the compiled parser; each call makes an independent instance with its own memory. */
export async function loadPgQueryModule(compiled: WebAssembly.Module): Promise<PgQueryModule> {
  // Emscripten's hook has no way to report failure; race it against one so a bad instance
  // rejects the load instead of leaving it pending forever.
  let fail: (e: unknown) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const mod = await Promise.race([
    factory({
      instantiateWasm(imports, receive) {
        WebAssembly.instantiate(compiled, imports).then(receive, fail);
        return {};
      },
    }),
    failed,
  ]);
  const mem = new Memory(mod);
  return { parse: (sql) => parseWith(mem, sql) };
}

/**
 * One Buffer over the whole WASM memory, remade only when the memory grows (which replaces
 * its ArrayBuffer). Typed-array views made per call over this large memory showed up as a
 * large share of a small parse in profiles; Buffer's write/indexOf/copy on one view do not.
 */
class Memory {
  private buffer: ArrayBufferLike | null = null;
  private bytes: Buffer = Buffer.alloc(0);

  constructor(readonly mod: PgQueryEmscriptenModule) {}

  view(): Buffer {
    const current = this.mod.HEAPU8.buffer;
    if (current !== this.buffer) {
      this.buffer = current;
      this.bytes = Buffer.from(current);
    }
    return this.bytes;
  }
}

function withCString<T>(mem: Memory, s: string, use: (ptr: number) => T): T {
  const length = Buffer.byteLength(s, "utf8");
  const ptr = mem.mod._malloc(length + 1);
  if (ptr === 0) throw new GatewayError("E_INTERNAL", "parser out of memory");
  try {
    // view() after malloc: a grown memory has a new buffer.
    const m = mem.view();
    if (m.write(s, ptr, length, "utf8") !== length) throw new GatewayError("E_INTERNAL", "query text did not fit the parser's buffer");
    m[ptr + length] = 0;
    return use(ptr);
  } finally {
    mem.mod._free(ptr);
  }
}

// The bytes of a C string, copied out before the parser frees them.
function readCBytes(mem: Memory, ptr: number): Buffer {
  const m = mem.view();
  const end = m.indexOf(0, ptr);
  if (end < 0) throw new GatewayError("E_INTERNAL", "parser returned an unterminated string");
  const out = Buffer.allocUnsafe(end - ptr);
  m.copy(out, 0, ptr, end);
  return out;
}

function parseWith(mem: Memory, sql: string): PgParseResult {
  const mod = mem.mod;
  return withCString(mem, sql, (queryPtr) => {
    const resultPtr = mod._wasm_parse_query_raw(queryPtr);
    if (resultPtr === 0) throw new GatewayError("E_INTERNAL", "parser out of memory");
    try {
      // struct PgQueryParseResult { char *parse_tree; char *stderr_buffer; PgQueryError *error; }
      const treePtr = mod.getValue(resultPtr, "i32");
      const errorPtr = mod.getValue(resultPtr + 8, "i32");
      if (errorPtr !== 0) {
        // struct PgQueryError { char *message; char *funcname; char *filename; int lineno; int cursorpos; char *context; }
        const messagePtr = mod.getValue(errorPtr, "i32");
        const cursorpos = mod.getValue(errorPtr + 16, "i32");
        const message = messagePtr === 0 ? "unknown parser error" : mod.UTF8ToString(messagePtr);
        // cursorpos is 1-based and counts characters (PostgreSQL's pg_mbstrlen_with_len), 0 = unknown.
        return { ok: false, error: { message, position: cursorpos > 0 ? cursorpos - 1 : null } };
      }
      if (treePtr === 0) throw new GatewayError("E_INTERNAL", "parser returned neither a tree nor an error");
      return { ok: true, json: readCBytes(mem, treePtr) };
    } finally {
      mod._wasm_free_parse_result(resultPtr);
    }
  });
}
