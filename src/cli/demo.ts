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
export const DEMO_API = { host: "127.0.0.1", port: 9000 } as const;
/** Where the demo configuration's demo-db target expects PostgreSQL. */
export const DEMO_DATABASE = { host: "127.0.0.1", port: 55432 } as const;

export interface Demo {
  readonly configPath: string;
  /** Settles when the demo database accepts connections (or failed to start, which is logged). */
  readonly database: Promise<void>;
  stop(): Promise<void>;
}

/** Writes the files that are missing (the user's edits are kept), then starts the upstreams. */
export function startDemo(log: Logger, dir = DEMO_DIR): Demo {
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

  const api = startDemoUpstream(DEMO_API.host, DEMO_API.port);
  log.info(`demo API listening on ${DEMO_API.host}:${api.port}`);
  let stopDatabase: (() => Promise<void>) | null = null;
  const database = (async () => {
    try {
      // Lazy: PGlite (a WASM PostgreSQL) is loaded only here, never by a normal serve.
      const { startDemoDatabase } = await import("./demo-database.ts");
      const db = await startDemoDatabase({ dataDir: join(dir, "state", "demo-db"), ...DEMO_DATABASE });
      stopDatabase = () => db.stop();
      log.info(`demo database (PGlite) listening on ${DEMO_DATABASE.host}:${db.port}`);
    } catch (e) {
      log.error(`demo database did not start; the demo-db target will refuse sessions: ${errorMessage(e)}`);
    }
  })();
  return {
    configPath,
    database,
    async stop() {
      api.stop();
      await database;
      await stopDatabase?.();
    },
  };
}

/** What to try next, printed once the demo is up. */
export function demoHints(configPath: string, binary: string): string {
  const token = `${binary} token --config ${configPath} --sub alice --groups developers`;
  return [
    "",
    "Try it, from another terminal:",
    `  TOKEN=$(${token})`,
    `  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/customers    # e-mails masked`,
    `  PGPASSWORD=$TOKEN psql "host=127.0.0.1 port=6432 dbname=demo-db user=alice sslmode=disable"`,
    "      SELECT * FROM sales.customers;   -- email masked",
    "      DROP TABLE sales.orders;         -- ERROR 42501: DROP is blocked by the gateway",
    `  ${binary} tail --config ${configPath} -f    # every decision, as it is made`,
    "",
  ].join("\n");
}
