// Preloaded into a gateway run from source (bun --preload), it prints on stderr what heavy or
// optional modules the command loaded, so a test can see it: "IMPORT <specifier>" as PGlite, the
// SQL parser or the demo database is imported, and at exit "LOADED <file>" for each module of
// ssh2 and the SSH target, the MCP and Kubernetes targets, the MCP SDK and the web console that
// the process holds (from the module registry, which also lists ESM: a bare package such as ssh2
// is not seen by onResolve). The config checks' small SSH helpers (host-key-pin, env-allow)
// are not the SSH target and are not reported.
import { plugin } from "bun";

plugin({
  name: "record-heavy-imports",
  setup(build) {
    build.onResolve({ filter: /@electric-sql\/pglite|libpg-query|demo-database/ }, (args) => {
      process.stderr.write(`IMPORT ${args.path}\n`);
      return undefined as never; // resolve as usual
    });
  },
});

const HEAVY = /\/node_modules\/(ssh2|@modelcontextprotocol)\/|\/src\/targets\/(ssh\/ssh-target\.ts|mcp\/|kubernetes\/)|\/src\/console\//;
process.on("exit", () => {
  const loaded = Object.keys(require.cache).filter((file) => HEAVY.test(file));
  if (loaded.length > 0) process.stderr.write(loaded.map((file) => `LOADED ${file}\n`).join(""));
});
