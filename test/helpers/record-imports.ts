// Preloaded into a gateway run from source (bun --preload), it prints "IMPORT <specifier>" on
// stderr for each import of a heavy optional module, so a test can see what a command loaded.
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
