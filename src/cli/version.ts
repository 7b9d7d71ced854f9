// `gatehouse version`: the version and git commit stamped in by build.ts.
import type { Command } from "./command.ts";
import { parseArgs } from "./command.ts";

declare const GATEHOUSE_VERSION: string | undefined;
declare const GATEHOUSE_COMMIT: string | undefined;

export const VERSION = typeof GATEHOUSE_VERSION === "string" ? GATEHOUSE_VERSION : "dev";
export const COMMIT = typeof GATEHOUSE_COMMIT === "string" ? GATEHOUSE_COMMIT : "unknown";

export const versionCommand: Command = {
  name: "version",
  summary: "print version and commit",
  usage: "Usage: gatehouse version [--json]\n\nPrints the version and the git commit this binary was built from.",
  async run(args, io) {
    const { flags } = parseArgs(args, { json: "boolean" });
    if (flags.json) io.stdout(`${JSON.stringify({ version: VERSION, commit: COMMIT, bun: Bun.version })}\n`);
    else io.stdout(`gatehouse ${VERSION} (commit ${COMMIT}, bun ${Bun.version})\n`);
    return 0;
  },
};
