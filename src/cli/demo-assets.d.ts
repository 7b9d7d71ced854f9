// Types for PGlite's runtime files that demo-database.ts embeds with `with { type: "file" }`.
declare module "*/pglite.wasm" {
  /** A path Bun.file can read: node_modules in development, the embedded copy in the binary. */
  const path: string;
  export default path;
}
declare module "*/initdb.wasm" {
  const path: string;
  export default path;
}
declare module "*/pglite.data" {
  const path: string;
  export default path;
}
