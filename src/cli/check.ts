// `gatehouse check CONFIG`: loads, validates and compiles a configuration without serving it.
import { GatewayError, errorMessage } from "../core/errors.ts";
import { issuesOf } from "../config/issue.ts";
import { loadPolicy } from "../config/load.ts";
import { paint, parseOnePath, wantsHelp, type Command } from "./command.ts";

const usage = `Usage: gatehouse check CONFIG [--json] [--skip-secrets]

Loads CONFIG (a YAML file, or a folder whose *.yaml files are merged), validates it against
the schema, resolves its secret references, checks the files it names and compiles the
policy: the same checks \`gatehouse serve\` and a reload make. Prints
  ok: N targets, M rules, policy <hash>
and how many secret references it resolved, and any warnings, or every problem found as
file:line:column: key: what is wrong (every reference that cannot be read is one, named by its
file or variable, never its value).

  --json           print {"ok":true,"targets":N,"rules":M,"policy":HASH,"warnings":[…]}
                   or {"ok":false,"code":…,"message":…,"issues":[…]}
  --skip-secrets   do not resolve \${env:…} and \${file:…} references, nor read the
                   TLS files the configuration names (e.g. in CI)

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
    const parsed = parseOnePath({ name: "check", usage }, args, { json: "boolean", "skip-secrets": "boolean" }, "the configuration path is required", io);
    if (parsed === 2) return 2;
    const { path } = parsed;
    const json = parsed.flags.json === true;
    const skipSecrets = parsed.flags["skip-secrets"] === true;
    const p = paint(io);
    try {
      // The same load as serve's and a reload's: what passes here, they accept.
      const { config, policy } = await loadPolicy(path, { env: io.env, resolveSecrets: !skipSecrets });
      if (json) {
        io.stdout(`${JSON.stringify({ ok: true, targets: config.targets.length, rules: config.rules.length, policy: policy.hash, warnings: config.warnings })}\n`);
      } else {
        io.stdout(`${p.green("ok")}: ${config.targets.length} targets, ${config.rules.length} rules, policy ${policy.hash.slice(0, 12)}\n`);
        const refs = config.secretRefs?.length ?? 0;
        if (refs > 0) io.stdout(`secret references: ${refs} ${skipSecrets ? "not resolved (--skip-secrets)" : "resolved"}\n`);
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
