// Types for the two files of the libpg-query package we load directly: the emscripten factory
// and its WASM binary. We skip the package's index.js on purpose: it starts loading the WASM
// from its own folder at import time, which is I/O at import and fails in a compiled binary.

declare module "libpg-query/wasm/libpg-query.wasm" {
  /** A path Bun.file can read: node_modules in development, the embedded copy in `bun build --compile`. */
  const path: string;
  export default path;
}

declare module "libpg-query/wasm/libpg-query.js" {
  export interface PgQueryEmscriptenModule {
    _malloc(size: number): number;
    _free(ptr: number): void;
    _wasm_parse_query_raw(queryPtr: number): number;
    _wasm_free_parse_result(resultPtr: number): void;
    getValue(ptr: number, type: "i32"): number;
    UTF8ToString(ptr: number): string;
    /** The WASM memory; replaced when memory grows, so read it after every allocation. */
    readonly HEAPU8: Uint8Array;
  }
  export interface PgQueryModuleOptions {
    /** Emscripten hook: we instantiate from bytes we hold, so the module never reads a file. */
    instantiateWasm?: (
      imports: WebAssembly.Imports,
      receive: (instance: WebAssembly.Instance) => void,
    ) => object;
    print?: (text: string) => void;
    printErr?: (text: string) => void;
  }
  const factory: (options?: PgQueryModuleOptions) => Promise<PgQueryEmscriptenModule>;
  export default factory;
}
