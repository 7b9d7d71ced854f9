// `gatehouse test PATH`: runs policy test files and reports each case.
import { isGatewayError } from "../core/errors.ts";
import type { McpSqlFacts } from "../core/types.ts";
import { runPolicyTests, type PolicyTestOptions } from "../policy/test-runner.ts";
import { paint, parseOnePath, wantsHelp, type Command } from "./command.ts";

const usage = `Usage: gatehouse test PATH [--json]

Runs policy tests. PATH is a test file (*.test.yaml) or a folder searched recursively for
them. Each test file is checked against the configuration in its own folder (the other YAML
files there; secret references are not resolved).

  --json   print the whole report as JSON

Exit status: 0 all cases pass, 1 a case fails, 2 bad usage or a file that cannot be run.`;

/** The command, with an optional SQL analyzer for cases written as \`postgres: { sql: … }\`. */
export function createTestCommand(opts: PolicyTestOptions = {}): Command {
  return {
    name: "test",
    summary: "run policy tests",
    usage,
    async run(args, io) {
      if (wantsHelp(args)) {
        io.stdout(`${usage}\n`);
        return 0;
      }
      const parsed = parseOnePath({ name: "test", usage }, args, { json: "boolean" }, "a test file or folder is required", io);
      if (parsed === 2) return 2;
      const { path } = parsed;
      const json = parsed.flags.json === true;
      let report;
      try {
        report = await runPolicyTests(path, opts);
      } catch (e) {
        if (!isGatewayError(e, "E_USAGE")) throw e;
        io.stderr(`gatehouse test: ${e.message}\n`);
        return 2;
      }
      if (report.files.length === 0) {
        io.stderr(`gatehouse test: no *.test.yaml files under "${path}"\n`);
        return 2;
      }
      const exit = report.invalid > 0 ? 2 : report.failed > 0 ? 1 : 0;
      if (json) {
        io.stdout(`${JSON.stringify(report)}\n`);
        return exit;
      }
      const p = paint(io);
      for (const f of report.files) {
        io.stdout(`${p.bold(f.file)}\n`);
        if (f.error) {
          io.stdout(`  ${p.red("cannot run")} (${f.error.code}):\n${f.error.message.replace(/^/gm, "    ")}\n`);
          continue;
        }
        for (const c of f.cases) {
          if (c.passed) io.stdout(`  ${p.green("✓")} ${c.name}\n`);
          else io.stdout(`  ${p.red("✗")} ${c.name} ${p.dim(`(${c.where})`)}\n      ${c.failure}\n`);
        }
      }
      const parts = [`${report.passed} passed`, `${report.failed} failed`];
      if (report.invalid > 0) parts.push(`${report.invalid} file${report.invalid === 1 ? "" : "s"} could not run`);
      const summary = parts.join(", ");
      io.stdout(`\n${exit === 0 ? p.green(summary) : p.red(summary)}\n`);
      return exit;
    },
  };
}

// Cases written as SQL are read by the gateway's own analysis, loaded only when a case has SQL.
export const testCommand: Command = createTestCommand(testOptions());

function testOptions(): PolicyTestOptions {
  // MCP cases with SQL text go through the MCP target's own classifier (sql-argument.ts), loaded once when a case needs it.
  let mcpSql: Promise<(sql: string) => McpSqlFacts> | null = null;
  return {
    analyzeSql: async (sql) => (await import("./explain-postgres.ts")).analyzeSqlFacts(sql),
    classifyMcpSql: async (sql) => (await (mcpSql ??= import("../targets/mcp/sql-argument.ts").then((m) => m.loadSqlClassifier())))(sql),
  };
}
