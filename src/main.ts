// Entry point: argv → the command in src/cli/. Commands load lazily so that `gatehouse tail`
// never pays for the code of targets it does not use.
import { usageError, type Command, type Io } from "./cli/command.ts";
import { nearest } from "./cli/suggest.ts";
import { stderrWriter } from "./cli/stderr-writer.ts";
import { GatewayError, errorMessage, isGatewayError } from "./core/errors.ts";

type Loader = () => Promise<Command>;

const COMMANDS: Record<string, { summary: string; load: Loader }> = {
  serve: { summary: "run the gateway", load: async () => (await import("./cli/serve.ts")).serveCommand },
  check: { summary: "validate and compile a configuration", load: async () => (await import("./cli/check.ts")).checkCommand },
  test: { summary: "run policy tests", load: async () => (await import("./cli/test.ts")).testCommand },
  schema: { summary: "print the JSON Schema of configuration files", load: async () => (await import("./cli/schema.ts")).schemaCommand },
  token: { summary: "mint a development token or a machine key", load: async () => (await import("./cli/token.ts")).tokenCommand },
  kubeconfig: { summary: "print a kubeconfig for a Kubernetes target", load: async () => (await import("./cli/kubeconfig.ts")).kubeconfigCommand },
  tail: { summary: "print audit events, optionally following", load: async () => (await import("./cli/tail.ts")).tailCommand },
  verify: { summary: "check the audit log's hash chain", load: async () => (await import("./cli/verify.ts")).verifyCommand },
  explain: { summary: "show how the policy decides a request (SQL, HTTP, SSH, Kubernetes, MCP), and why", load: async () => (await import("./cli/explain.ts")).explainCommand },
  "audit-key": { summary: "print the public key that checks the audit log's checkpoints", load: async () => (await import("./cli/audit-key.ts")).auditKeyCommand },
  replay: { summary: "print a session from the audit log as a transcript, or play its terminal recording", load: async () => (await import("./cli/replay.ts")).replayCommand },
  requests: { summary: "list requests waiting for approval", load: async () => (await import("./cli/approvals.ts")).requestsCommand },
  approve: { summary: "approve a held request", load: async () => (await import("./cli/approvals.ts")).approveCommand },
  deny: { summary: "deny a held request", load: async () => (await import("./cli/approvals.ts")).denyCommand },
  mcp: { summary: "pin the tool definitions of an MCP target's servers (mcp pin TARGET)", load: async () => (await import("./cli/mcp.ts")).mcpCommand },
  "ssh-keyscan": { summary: "print an SSH server's host key, to pin in a kind: ssh target", load: async () => (await import("./cli/ssh-keyscan.ts")).sshKeyscanCommand },
  version: { summary: "print version and commit", load: async () => (await import("./cli/version.ts")).versionCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `gatehouse: least-privilege access gateway\n\nUsage: gatehouse <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun gatehouse <command> --help for a command's options.\n`;
}

/**
 * A reader that stops early (`gatehouse tail | head -1`) closes the pipe: stop quietly, as
 * Unix tools do, instead of printing EPIPE's stack trace.
 */
function writeStdout(text: string): void {
  try {
    stdout().write(text);
  } catch (e) {
    if ((e as { code?: string }).code === "EPIPE") process.exit(0);
    throw e;
  }
}

/**
 * process.stdout, set up at first use: making it loads Node's stream machinery (~3 ms of CPU),
 * which `serve` never needs (its log goes to stderr, see cli/stderr-writer.ts).
 */
let stdoutReady = false;
function stdout(): NodeJS.WriteStream {
  if (!stdoutReady) {
    stdoutReady = true;
    process.stdout.on("error", (e: Error & { code?: string }) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
  return process.stdout;
}

function processIo(): Io {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let color: boolean | undefined;
  return {
    stdout: writeStdout,
    stderr: stderrWriter(),
    get color() {
      return (color ??= Boolean(stdout().isTTY) && !process.env.NO_COLOR);
    },
    env: process.env,
    signal: controller.signal,
  };
}

/** Runs one command; `io` is given by tests, else the process's own streams and signals. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") return main(["version"], io);
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const guess = nearest(name, Object.keys(COMMANDS));
    io.stderr(`gatehouse: unknown command "${name}"${guess ? `; did you mean "${guess}"?` : ""}\nRun 'gatehouse --help' for the list of commands.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(command.usage.endsWith("\n") ? command.usage : `${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isGatewayError(e, "E_USAGE")) {
      io.stderr(usageError(name, e.message));
      return 2;
    }
    io.stderr(`gatehouse ${name}: ${errorMessage(e)}\n`);
    return e instanceof GatewayError ? 1 : 1;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`gatehouse: ${errorMessage(e)}\n`);
      process.exit(1);
    },
  );
}
