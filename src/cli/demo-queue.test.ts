import { expect, test } from "bun:test";
import { CATALOG_APPLICATION_NAME, DemoQueue, ReadyTracker, startupParameter } from "./demo-queue.ts";

const enc = new TextEncoder();

function startup(params: Record<string, string>): Uint8Array {
  const body = enc.encode(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join("") + "\0");
  const m = new Uint8Array(8 + body.length);
  new DataView(m.buffer).setInt32(0, m.length);
  new DataView(m.buffer).setInt32(4, 196608);
  m.set(body, 8);
  return m;
}
function message(type: string, text = ""): Uint8Array {
  const body = enc.encode(text);
  const m = new Uint8Array(5 + body.length);
  m[0] = type.charCodeAt(0);
  new DataView(m.buffer).setInt32(1, 4 + body.length);
  m.set(body, 5);
  return m;
}
const ready = (status: "I" | "T" | "E") => message("Z", status);
const query = (sql: string) => message("Q", `${sql}\0`);

/** One backend, like PGlite's: BEGIN opens a transaction for everyone until COMMIT; Parse leaves a batch open until Sync. */
function fakeBackend() {
  let status: "I" | "T" = "I";
  const ran: string[] = [];
  return {
    ran,
    runExclusive: <T>(fn: () => Promise<T>) => fn(),
    exec: async (sql: string) => {
      ran.push(sql);
      status = "I";
      return [];
    },
    execProtocolRawStream: async (m: Uint8Array, opts: { onRawData: (d: Uint8Array) => void }) => {
      const type = String.fromCharCode(m[0]!);
      const text = new TextDecoder().decode(m.subarray(5)).replace(/\0+$/, "");
      ran.push(m[0] === 0 ? "startup" : type === "Q" ? text : type);
      if (type === "Q" && text === "BEGIN") status = "T";
      if (type === "Q" && text === "COMMIT") status = "I";
      if (type === "P") return opts.onRawData(message("1"));
      const z = ready(status);
      // Split the answer across two chunks, as a stream may.
      opts.onRawData(z.subarray(0, 3));
      opts.onRawData(z.subarray(3));
    },
  };
}

test("the catalog connection's queries run inside another session's transaction instead of waiting for its COMMIT", async () => {
  const db = fakeBackend();
  const q = new DemoQueue(db as never);
  const none = () => {};
  await q.enqueue(1, startup({ user: "postgres", application_name: "psql" }), none);
  await q.enqueue(2, startup({ user: "postgres", application_name: CATALOG_APPLICATION_NAME }), none);
  await q.enqueue(1, query("BEGIN"), none);
  // The gateway decides the session's next statement only after this catalog query answers:
  // before DemoQueue, it waited for the session's COMMIT, which waited for it.
  const catalog = q.enqueue(2, query("SELECT relname FROM pg_class"), none);
  const commit = q.enqueue(1, query("COMMIT"), none);
  await Promise.all([catalog, commit]);
  expect(db.ran).toEqual(["startup", "startup", "BEGIN", "SELECT relname FROM pg_class", "COMMIT"]);
});

test("another session waits while one holds a transaction open, and runs at its COMMIT", async () => {
  const db = fakeBackend();
  const q = new DemoQueue(db as never);
  const none = () => {};
  await q.enqueue(1, startup({ user: "a" }), none);
  await q.enqueue(3, startup({ user: "b" }), none);
  await q.enqueue(1, query("BEGIN"), none);
  const other = q.enqueue(3, query("SELECT 3"), none);
  await q.enqueue(1, query("SELECT 1"), none);
  expect(db.ran).not.toContain("SELECT 3");
  await q.enqueue(1, query("COMMIT"), none);
  await other;
  expect(db.ran.slice(-3)).toEqual(["SELECT 1", "COMMIT", "SELECT 3"]);
});

test("the catalog never runs in the middle of an extended-protocol batch, whose unnamed statement a Query would drop", async () => {
  const db = fakeBackend();
  const q = new DemoQueue(db as never);
  const none = () => {};
  await q.enqueue(1, startup({ user: "a" }), none);
  await q.enqueue(2, startup({ user: "g", application_name: CATALOG_APPLICATION_NAME }), none);
  await q.enqueue(1, message("P", "\0SELECT 1\0\0\0"), none);
  const catalog = q.enqueue(2, query("SELECT 2"), none);
  await q.enqueue(1, message("S"), none);
  await catalog;
  expect(db.ran.slice(-3)).toEqual(["P", "S", "SELECT 2"]);
});

test("a session that closes inside its transaction is rolled back and the others go on", async () => {
  const db = fakeBackend();
  const q = new DemoQueue(db as never);
  const none = () => {};
  await q.enqueue(1, startup({ user: "a" }), none);
  await q.enqueue(3, startup({ user: "b" }), none);
  await q.enqueue(1, query("BEGIN"), none);
  const other = q.enqueue(3, query("SELECT 3"), none);
  q.clearQueueForHandler(1);
  await q.clearTransactionIfNeeded(1);
  await other;
  expect(db.ran.slice(-2)).toEqual(["ROLLBACK", "SELECT 3"]);
});

test("a session that sends Terminate inside its transaction keeps the backend until its close rolls back", async () => {
  const db = fakeBackend();
  const q = new DemoQueue(db as never);
  const none = () => {};
  await q.enqueue(1, startup({ user: "a" }), none);
  await q.enqueue(3, startup({ user: "b" }), none);
  await q.enqueue(1, query("BEGIN"), none);
  await q.enqueue(1, message("X"), none);
  const other = q.enqueue(3, query("SELECT 3"), none);
  expect(db.ran).not.toContain("SELECT 3");
  q.clearQueueForHandler(1);
  await q.clearTransactionIfNeeded(1);
  await other;
  expect(db.ran.slice(-3)).toEqual(["X", "ROLLBACK", "SELECT 3"]);
});

test("ReadyTracker reads the status of a ReadyForQuery that ends the output, across chunk boundaries", () => {
  const t = new ReadyTracker();
  const out = new Uint8Array([...message("C", "SELECT 1\0"), ...ready("T")]);
  for (const b of out) t.push(new Uint8Array([b]));
  expect(t.status).toBe("T".charCodeAt(0));
  t.push(message("1"));
  expect(t.status).toBeNull();
  // A DataRow whose last bytes look like ReadyForQuery is not one.
  const fake = new ReadyTracker();
  fake.push(message("D", "\0\x01\0\0\0\x06Z\0\0\0\x05I".slice(0, 12)));
  expect(fake.status).toBeNull();
});

test("startupParameter reads application_name from a StartupMessage and nothing from other messages", () => {
  expect(startupParameter(startup({ user: "x", application_name: CATALOG_APPLICATION_NAME }), "application_name")).toBe(CATALOG_APPLICATION_NAME);
  expect(startupParameter(startup({ user: "x" }), "application_name")).toBeNull();
  expect(startupParameter(query("SELECT 1"), "application_name")).toBeNull();
});
