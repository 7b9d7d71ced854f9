// `gatehouse check CONFIG`: loads, validates and compiles a configuration without serving it.
import { GatewayError, errorMessage, isGatewayError } from "../core/errors.ts";
import { issuesOf } from "../config/issue.ts";
import { loadConfig } from "../config/load.ts";
import { compilePolicy } from "../policy/compile.ts";
import { paint, parseArgs, wantsHelp, type Command } from "./command.ts";

const usage = `Usage: gatehouse check CONFIG [--json] [--skip-secrets]

Loads CONFIG (a YAML file, or a folder whose *.yaml files are merged), validates it against
the schema, resolves its secret references and compiles the policy. Prints
  ok: N targets, M rules, policy <hash>
and any warnings, or every problem found as file:line:column: key: what is wrong.

  --json           print {"ok":true,"targets":N,"rules":M,"policy":HASH,"warnings":[…]}
                   or {"ok":false,"code":…,"message":…,"issues":[…]}
  --skip-secrets   do not resolve \${env:…} and \${file:…} references (e.g. in CI)

Exit status: 0 valid, 1 invalid, 2 bad usage.`;

export const checkCommand: Command = {
  name: "check",
  summary: "validate and compile a configuration",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    let json = false;
    let skipSecrets = false;
    let path: string;
    try {
      const { flags, positional } = parseArgs(args, { json: "boolean", "skip-secrets": "boolean" });
      json = flags.json === true;
      skipSecrets = flags["skip-secrets"] === true;
      if (positional.length !== 1) {
        throw new GatewayError("E_USAGE", positional.length === 0 ? "the configuration path is required" : `unexpected argument "${positional[1]}"`);
      }
      path = positional[0]!;
    } catch (e) {
      if (!isGatewayError(e, "E_USAGE")) throw e;
      io.stderr(`gatehouse check: ${e.message}\n\n${usage}\n`);
      return 2;
    }
    const p = paint(io);
    try {
      const config = await loadConfig(path, { env: io.env, resolveSecrets: !skipSecrets });
      const policy = compilePolicy(config);
      if (json) {
        io.stdout(`${JSON.stringify({ ok: true, targets: config.targets.length, rules: config.rules.length, policy: policy.hash, warnings: config.warnings })}\n`);
      } else {
        io.stdout(`${p.green("ok")}: ${config.targets.length} targets, ${config.rules.length} rules, policy ${policy.hash.slice(0, 12)}\n`);
        for (const w of config.warnings) io.stdout(`${p.yellow("warning")}: ${w}\n`);
      }
      return 0;
    } catch (e) {
      const code = e instanceof GatewayError ? e.code : "E_INTERNAL";
      if (json) {
        io.stdout(`${JSON.stringify({ ok: false, code, message: errorMessage(e), issues: issuesOf(e) })}\n`);
      } else {
        io.stderr(`${p.red("invalid configuration")} (${code}):\n${errorMessage(e)}\n`);
      }
      return 1;
    }
  },
};
