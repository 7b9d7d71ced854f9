// asciinema-player (the npm package's self-contained bundle: one script that defines
// window.AsciinemaPlayer, and its stylesheet), embedded in the binary by `with { type: "file" }`
// and served by the console from the admin listener: no CDN, so a console on a closed network plays recordings.
// @ts-expect-error TS resolves the .js file itself (no types): with type "file" the import is a path string.
import playerJsPath from "../../../node_modules/asciinema-player/dist/bundle/asciinema-player.min.js" with { type: "file" };
import playerCssPath from "../../../node_modules/asciinema-player/dist/bundle/asciinema-player.css" with { type: "file" };

export interface PlayerAsset {
  readonly body: string;
  readonly type: string;
}

let cached: { js: PlayerAsset; css: PlayerAsset } | null = null;

/** Read once, on the first page that needs them. */
export async function playerAssets(): Promise<{ js: PlayerAsset; css: PlayerAsset }> {
  cached ??= {
    js: { body: await Bun.file(playerJsPath).text(), type: "text/javascript; charset=utf-8" },
    css: { body: await Bun.file(playerCssPath).text(), type: "text/css; charset=utf-8" },
  };
  return cached;
}
