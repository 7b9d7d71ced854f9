// `gatehouse serve`: run the gateway until SIGINT/SIGTERM; SIGHUP reloads the policy.
import { basename, isAbsolute, join, relative } from "node:path";
import { GatewayError, errorMessage } from "../core/errors.ts";
import { createLogger, type LogLevel } from "../core/logger.ts";
import { systemClock, type Clock } from "../core/types.ts";
import type { Command } from "./command.ts";
import { parseArgs } from "./command.ts";
import { VERSION, COMMIT } from "./version.ts";
import type { Demo } from "./demo.ts";

const DEMO_DIR = "gatehouse-demo";
/** The configuration `serve --demo` writes and serves; `gatehouse token` finds it there too. */
export const DEMO_CONFIG = join(DEMO_DIR, "gatehouse.yaml");

export const serveCommand: Command = {
  name: "serve",
  summary: "run the gateway",
  usage: `Usage: gatehouse serve --config PATH [--log-level info]
       gatehouse serve --demo

Runs the gateway: every target in the configuration, the admin API, and hot reload of the
policy (on file change and on SIGHUP). An invalid edit is rejected and the old policy keeps
serving.

  --config PATH      a YAML file or a folder of YAML files
  --demo             write the demo configuration, its policy tests and the JSON Schema to
                     ./${DEMO_DIR}/ (an edited configuration is kept), start a small demo
                     API on 127.0.0.1:9000 and an embedded PostgreSQL (PGlite) on
                     127.0.0.1:55432, and serve them (HTTP on 127.0.0.1:8080, PostgreSQL on
                     127.0.0.1:6432). For trying the gateway; its dev token issuer is for
                     development only.
  --log-level LEVEL  debug, info, warn or error (default info)`,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, { config: "string", demo: "boolean", "log-level": "string" });
    if (positional.length) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
    const level = (flags["log-level"] ?? "info") as LogLevel;
    if (!["debug", "info", "warn", "error"].includes(level)) throw new GatewayError("E_USAGE", `invalid --log-level "${level}"`);
    const log = createLogger(level, io.stderr);
    let configPath = flags.config as string | undefined;
    let demo: Demo | undefined;
    if (flags.demo) {
      if (configPath) throw new GatewayError("E_USAGE", "--demo and --config exclude each other");
      const { startDemo } = await import("./demo.ts");
      demo = startDemo(log, DEMO_DIR);
      configPath = demo.configPath;
    }
    if (!configPath) throw new GatewayError("E_USAGE", "--config PATH is required (or --demo)");

    const clock = testClock(io.env, log);
    const { startGateway } = await import("../gate/gateway.ts");
    let gw;
    try {
      gw = await startGateway({ configPath, clock, log });
    } catch (e) {
      await demo?.stop();
      io.stderr(`gatehouse serve: cannot start: ${errorMessage(e)}\n`);
      return 1;
    }
    log.info(`gatehouse ${VERSION} (${COMMIT}) serving`, {
      policy: gw.policy().hash.slice(0, 12),
      targets: Object.fromEntries([...gw.targets].map(([n, t]) => [n, t.port])),
      admin: gw.adminPort,
      audit: gw.config().audit.path,
    });
    if (demo) {
      await demo.database;
      const { demoHints } = await import("./demo.ts");
      io.stderr(demoHints(configPath, commandName(), demo.addresses));
    }
    const onHup = () => void gw.reload();
    process.on("SIGHUP", onHup);
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    process.off("SIGHUP", onHup);
    log.info("stopping");
    await gw.stop();
    await demo?.stop();
    return 0;
  },
};

/** How the user ran this binary, for the demo's hints: ./dist/gatehouse, or gatehouse under bun. */
function commandName(): string {
  const exe = process.execPath;
  if (basename(exe).startsWith("bun")) return "gatehouse";
  const rel = relative(process.cwd(), exe);
  return rel.startsWith("..") || isAbsolute(rel) ? exe : `./${rel}`;
}

/**
 * GATEHOUSE_FAKE_NOW=<ISO time> starts the gateway's clock at that time (it then runs at the
 * normal rate), so end-to-end tests can exercise time windows. For tests only: it is printed
 * loudly, and the audit log's times follow it.
 */
function testClock(env: Readonly<Record<string, string | undefined>>, log: { warn(msg: string): void }): Clock {
  const fake = env["GATEHOUSE_FAKE_NOW"];
  if (fake === undefined || fake === "") return systemClock;
  const at = Date.parse(fake);
  if (Number.isNaN(at)) throw new GatewayError("E_USAGE", `GATEHOUSE_FAKE_NOW="${fake}" is not an ISO time`);
  const offset = at - Date.now();
  log.warn(`TEST-ONLY SETTING: GATEHOUSE_FAKE_NOW is set; the gateway's clock starts at ${new Date(at).toISOString()}, not the real time. Never use this in production.`);
  return { now: () => Date.now() + offset };
}
