// Builds dist/gatehouse: one standalone executable with every dependency (and the SQL
// parser's WASM, and PGlite's for serve --demo) embedded, stamped with the package version and
// the git commit. Compiled to bytecode: parsing the 1.2 MB bundle at every start cost more than
// everything else a start does (bench/README.md, start-up). And split into chunks at the
// dynamic imports (ESM, which splitting needs): each command and each target kind is a chunk
// of its own inside the executable, loaded only when imported, so a start no longer loads the
// bytecode of code it does not run (`version` about 14 -> 10 ms of CPU). The chunks' source maps
// are written beside dist/gatehouse as chunk-*.js.map.
import { $ } from "bun";
import pkg from "./package.json" with { type: "json" };

const commit = (await $`git rev-parse --short=12 HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = (await $`git status --porcelain --untracked-files=no`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const outfile = process.argv[2] ?? "dist/gatehouse";

const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  // A request head over the runtime's limit gets a bare 431 the gateway never sees: the runtime
  // allows 64 KiB so the HTTP target's own lower limit answers (src/targets/http/request-head.ts).
  compile: { outfile, execArgv: ["--max-http-header-size=65536"] },
  bytecode: true,
  // Split at the dynamic imports, so that a command loads only its own code (serve with an
  // HTTP target: not the SQL parser, ssh2, the MCP SDK or the console).
  format: "esm",
  splitting: true,
  // ssh2's optional native add-ons (CPU feature detection, its C crypto binding): each is
  // required inside a try, and the pure JavaScript path (node:crypto) is used without them, so
  // they stay out of the single binary.
  external: ["cpu-features", "./crypto/build/Release/sshcrypto.node"],
  minify: true,
  sourcemap: "linked",
  define: {
    GATEHOUSE_VERSION: JSON.stringify(pkg.version),
    GATEHOUSE_COMMIT: JSON.stringify(commit + dirty),
  },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} (gatehouse ${pkg.version}, commit ${commit}${dirty})`);
