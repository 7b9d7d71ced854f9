// The quick start's PostgreSQL (`gatehouse serve --demo`): PGlite, PostgreSQL compiled to WASM,
// embedded in the binary and served on a loopback port, so that psql through the gateway works
// with nothing installed. Only serve --demo imports this file: a normal serve never loads PGlite.
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket";
import { GatewayError, errorMessage } from "../core/errors.ts";
import { DemoQueue } from "./demo-queue.ts";
import { DEMO_SEED_SQL } from "./demo-seed.ts";
// The package's own loader reads these next to its JS file, which a compiled binary does not
// have; embedding them and passing them in keeps the binary self-contained. The paths are
// relative because the package's exports map does not list these files.
import pgliteWasmPath from "../../node_modules/@electric-sql/pglite/dist/pglite.wasm" with { type: "file" };
import initdbWasmPath from "../../node_modules/@electric-sql/pglite/dist/initdb.wasm" with { type: "file" };
import pgliteDataPath from "../../node_modules/@electric-sql/pglite/dist/pglite.data" with { type: "file" };

export interface DemoDatabase {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Opens (or creates, then seeds) the database in `dataDir` and serves it on host:port, trust
 * authentication, user and database "postgres". Connections share PGlite's one backend through
 * DemoQueue: an open transaction keeps the other sessions waiting, except the gateway's catalog
 * connection, whose read-only queries run in between (else a session's first statement after
 * BEGIN would wait for itself).
 */
export async function startDemoDatabase(opts: { dataDir: string; host: string; port: number }): Promise<DemoDatabase> {
  let db: PGlite;
  try {
    const { PGlite } = await import("@electric-sql/pglite");
    const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
      WebAssembly.compile(await Bun.file(pgliteWasmPath).arrayBuffer()),
      WebAssembly.compile(await Bun.file(initdbWasmPath).arrayBuffer()),
    ]);
    const fsBundle = new Blob([await Bun.file(pgliteDataPath).arrayBuffer()]);
    db = await PGlite.create({ dataDir: join(opts.dataDir), pgliteWasmModule, initdbWasmModule, fsBundle });
    await db.exec(DEMO_SEED_SQL);
  } catch (e) {
    throw new GatewayError("E_INTERNAL", `demo database: cannot start PGlite in ${opts.dataDir}: ${errorMessage(e)}`, { cause: e });
  }
  const queue = new DemoQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server: Server = createServer((socket) => {
    // The handler frames messages and answers SSLRequest with "N"; the queue decides who runs.
    const handler = new PGLiteSocketHandler({ queryQueue: queue as never, closeOnDetach: true });
    handlers.add(handler);
    handler.addEventListener("close", () => handlers.delete(handler));
    handler.addEventListener("error", () => handlers.delete(handler));
    socket.on("error", () => {});
    void handler.attach(socket);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", (e) => reject(new GatewayError("E_INTERNAL", `demo database: cannot listen on ${opts.host}:${opts.port}: ${e.message}`, { cause: e })));
    server.listen(opts.port, opts.host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a !== null ? a.port : opts.port);
    });
  });
  return {
    port,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const h of handlers) void h.detach(true);
      });
      await db.close();
    },
  };
}
