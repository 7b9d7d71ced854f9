// `gatehouse serve --demo`: writes the demo configuration (with its JSON Schema and policy
// tests beside it) to ./gatehouse-demo/, and starts the two upstreams it points at: a small
// HTTP API and PGlite, an embedded PostgreSQL. Loaded only for --demo.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { schemaText } from "../config/json-schema.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import demoConfig from "./demo-gatehouse.yaml" with { type: "text" };
import demoTests from "./demo-gatehouse.test.yaml" with { type: "text" };
import { startDemoUpstream } from "./demo-upstream.ts";

export const DEMO_DIR = "gatehouse-demo";

interface Address {
  readonly host: string;
  readonly port: number;
}

/** Where the demo's pieces listen: read from the configuration, so an edited port is honoured. */
export interface DemoAddresses {
  /** The demo API (demo-api's upstream) and the demo database (demo-db's upstream). */
  readonly api: Address;
  readonly database: Address;
  /** The gateway's listeners for them, for the hints. */
  readonly apiListen: string;
  readonly databaseListen: Address;
}

const DEFAULTS: DemoAddresses = {
  api: { host: "127.0.0.1", port: 9000 },
  database: { host: "127.0.0.1", port: 55432 },
  apiListen: "127.0.0.1:8080",
  databaseListen: { host: "127.0.0.1", port: 6432 },
};

/** The demo-api and demo-db targets' addresses in a demo configuration; defaults where it names none. */
export function demoAddresses(configText: string): DemoAddresses {
  let targets: unknown[] = [];
  try {
    const doc = Bun.YAML.parse(configText) as { targets?: unknown } | null;
    if (Array.isArray(doc?.targets)) targets = doc.targets;
  } catch {
    // An invalid file: the gateway refuses it with a position; the demo starts on its defaults.
  }
  const target = (name: string) => targets.find((t): t is Record<string, unknown> => typeof t === "object" && t !== null && (t as { name?: unknown }).name === name);
  const split = (listen: unknown, fallback: Address): Address => {
    const m = typeof listen === "string" ? /^(.*):(\d+)$/.exec(listen) : null;
    return m ? { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) } : fallback;
  };
  const api = target("demo-api");
  const db = target("demo-db");
  let apiUpstream = DEFAULTS.api;
  if (typeof api?.upstream === "string") {
    try {
      const u = new URL(api.upstream);
      apiUpstream = { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 80) };
    } catch {}
  }
  const up = db?.upstream as { host?: unknown; port?: unknown } | undefined;
  return {
    api: apiUpstream,
    database:
      typeof up?.host === "string" ? { host: up.host, port: typeof up.port === "number" ? up.port : 5432 } : DEFAULTS.database,
    apiListen: typeof api?.listen === "string" ? api.listen : DEFAULTS.apiListen,
    databaseListen: split(db?.listen, DEFAULTS.databaseListen),
  };
}

export interface Demo {
  readonly configPath: string;
  readonly addresses: DemoAddresses;
  /** Settles when the demo database accepts connections (or failed to start, which is logged). */
  readonly database: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Writes the demo's files into `dir`: the configuration and its policy tests when missing (the
 * user's edits are kept), and the JSON Schema the configuration's first line points at.
 */
export function writeDemoFiles(dir: string, log: Logger): string {
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, "gatehouse.yaml");
  if (!existsSync(configPath)) {
    writeFileSync(configPath, demoConfig);
    log.info(`wrote the demo configuration to ${configPath}; edit it and watch the gateway reload`);
  }
  const testsPath = join(dir, "demo.test.yaml");
  if (!existsSync(testsPath)) writeFileSync(testsPath, demoTests);
  // The schema is this binary's: rewritten when it differs, so the editor checks what this gateway reads.
  const schemaPath = join(dir, "gatehouse.schema.json");
  const schema = schemaText();
  if (!existsSync(schemaPath) || readFileSync(schemaPath, "utf8") !== schema) writeFileSync(schemaPath, schema);
  return configPath;
}

/** Writes the demo's files, then starts the upstreams its configuration points at. */
export function startDemo(log: Logger, dir = DEMO_DIR): Demo {
  const configPath = writeDemoFiles(dir, log);
  const addresses = demoAddresses(readFileSync(configPath, "utf8"));
  const api = startDemoUpstream(addresses.api.host, addresses.api.port);
  log.info(`demo API listening on ${addresses.api.host}:${api.port}`);
  let stopDatabase: (() => Promise<void>) | null = null;
  const database = (async () => {
    try {
      // Lazy: PGlite (a WASM PostgreSQL) is loaded only here, never by a normal serve.
      const { startDemoDatabase } = await import("./demo-database.ts");
      const db = await startDemoDatabase({ dataDir: join(dir, "state", "demo-db"), ...addresses.database });
      stopDatabase = () => db.stop();
      log.info(`demo database (PGlite) listening on ${addresses.database.host}:${db.port}`);
    } catch (e) {
      const data = join(dir, "state", "demo-db");
      log.error(`demo database did not start; the demo-db target will refuse sessions (to start it afresh, stop the gateway and delete ${data}): ${errorMessage(e)}`);
    }
  })();
  return {
    configPath,
    addresses,
    database,
    async stop() {
      api.stop();
      await database;
      await stopDatabase?.();
    },
  };
}

/** What to try next, printed once the demo is up. */
export function demoHints(configPath: string, binary: string, a: DemoAddresses): string {
  const token = `${binary} token --config ${configPath} --sub alice --groups developers`;
  return [
    "",
    "Try it, from another terminal:",
    `  TOKEN=$(${token})`,
    `  curl -s -H "Authorization: Bearer $TOKEN" http://${a.apiListen}/api/customers    # e-mails masked`,
    `  PGPASSWORD=$TOKEN psql "host=${a.databaseListen.host} port=${a.databaseListen.port} dbname=demo-db user=alice sslmode=disable"`,
    "      SELECT * FROM sales.customers;   -- email masked",
    "      DROP TABLE sales.orders;         -- ERROR 42501: DROP is blocked by the gateway",
    `  ${binary} tail --config ${configPath} -f    # every decision, as it is made`,
    "  open http://127.0.0.1:9090/    # the console: log in with one click as an approver (dev issuer)",
    "",
  ].join("\n");
}
