// Types for the asciinema-player files that player-assets.ts embeds with `with { type: "file" }`.
declare module "*/asciinema-player.css" {
  /** A path Bun.file can read: node_modules in development, the embedded copy in the binary. */
  const path: string;
  export default path;
}
