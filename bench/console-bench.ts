// Page loads of the console's audit and session pages over a large audit log (default 1 GiB):
// the newest page, an older page by cursor, filtered searches (a rare identity, a text found
// nowhere, a time range deep in the log), the session list and a session's page. Each page is
// served by the real sub-apps (hono, in process) with a fixed viewer; wall time and CPU time of
// the process per load, median of N runs, interleaved. The log is written once (lines in the
// log's own canonical form; the chain's hashes are not what a search reads) and kept in --dir.
//   bun bench/console-bench.ts [--size-mib 1024] [--runs 5] [--dir /tmp/gatehouse-console-bench]
import { Hono } from "hono";
import { existsSync, mkdirSync, openSync, statSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createAuditPages } from "../src/console/audit/audit-pages.ts";
import { VerifyRunner } from "../src/console/audit/verify-runner.ts";
import type { ConsoleEnv } from "../src/console/console-env.ts";
import { createSessionPages } from "../src/console/sessions/session-pages.ts";
import { LiveSessionRegistry } from "../src/gate/live-sessions.ts";

const { values } = parseArgs({ options: { "size-mib": { type: "string", default: "1024" }, runs: { type: "string", default: "5" }, dir: { type: "string", default: "/tmp/gatehouse-console-bench" } } });
const sizeMiB = Number(values["size-mib"]);
const runs = Number(values.runs);
const dir = values.dir!;
const path = join(dir, "audit.log");
const START = Date.parse("2026-11-01T00:00:00.000Z");

/** One line per record; a PostgreSQL session: session.start, 20 statements, session.end; one identity in 5,000 is "rare-user". */
function generate(): { records: number; middleTime: string; sessionAt: string } {
  mkdirSync(dir, { recursive: true });
  const target = sizeMiB * 1024 * 1024;
  if (existsSync(path) && Math.abs(statSync(path).size - target) < 8 * 1024 * 1024) {
    console.error(`reusing ${path} (${(statSync(path).size / 1048576).toFixed(0)} MiB)`);
  } else {
    const fd = openSync(path, "w");
    let seq = 0;
    let bytes = 0;
    let chunk: string[] = [];
    const hash = "ab".repeat(32);
    for (let s = 0; bytes < target; s++) {
      const subject = s % 5000 === 4999 ? "rare-user" : `user${s % 300}`;
      const identity = `{"groups":["analysts"],"issuer":"https://idp.example.com","method":"oidc","subject":"${subject}"}`;
      const session = `pg_${s.toString(16).padStart(16, "0")}`;
      for (let i = -1; i <= 20; i++) {
        seq++;
        const time = new Date(START + seq * 10).toISOString();
        const line =
          i < 0
            ? `{"details":{"client":"psql","remote":"10.0.0.7:51234","user":"app"},"identity":${identity},"prev":"${hash}","seq":${seq},"session":"${session}","target":"sales-db","time":"${time}","type":"session.start","hash":"${hash}"}\n`
            : i < 20
            ? `{"action":{"classes":["read"],"functions":[],"kind":"postgres","relations":["sales.orders"],"sql":"SELECT id, total, email FROM sales.orders WHERE customer_id = ${seq % 100000} ORDER BY id LIMIT 50"},"decision":{"effect":"${seq % 97 === 0 ? "deny" : "allow"}","rule":"analysts-read"},"details":{"duration_ms":1.2,"masked_cells":50,"outcome":"complete","rows":50,"tag":"SELECT 50"},"identity":${identity},"policy":"${hash}","prev":"${hash}","seq":${seq},"session":"${session}","target":"sales-db","time":"${time}","type":"statement","hash":"${hash}"}\n`
            : `{"details":{"bytes_in":4096,"bytes_out":65536,"duration_ms":200,"statements":20},"identity":${identity},"prev":"${hash}","seq":${seq},"session":"${session}","target":"sales-db","time":"${time}","type":"session.end","hash":"${hash}"}\n`;
        chunk.push(line);
        bytes += line.length;
      }
      if (chunk.length >= 20_000) {
        writeSync(fd, chunk.join(""));
        chunk = [];
      }
    }
    writeSync(fd, chunk.join(""));
    closeSync(fd);
  }
  const size = statSync(path).size;
  // Records are ~the same size: the middle record's time is about the middle of the time range.
  const approxRecords = Math.round(size / 560);
  return { records: approxRecords, middleTime: new Date(START + (approxRecords / 2) * 10).toISOString().slice(0, 19), sessionAt: "" };
}

const { middleTime } = generate();
const size = statSync(path).size;

const app = new Hono<ConsoleEnv>();
app.use("*", async (c, next) => {
  c.set("viewer", { identity: { method: "dev", subject: "bench", issuer: "dev", groups: [] }, roles: new Set(["view"] as const), csrf: "x" });
  await next();
});
const render = (_v: unknown, title: string, body: string) => `<!doctype html><title>${title}</title>${body}`;
app.route("/audit", createAuditPages({ render, auditPath: () => path, checkpoint: () => null, verify: new VerifyRunner(() => path, () => [], { now: () => Date.now() }) }));
app.route("/sessions", createSessionPages({ render, auditPath: () => path, live: new LiveSessionRegistry(), record: async () => {}, recordingsDir: () => dir, clock: { now: () => Date.now() } }));

async function load(url: string): Promise<{ wallMs: number; cpuMs: number; status: number; body: string }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await app.request(url);
  const body = await res.text();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, status: res.status, body };
}

// An older page: the cursor of the 20th page of the unfiltered list (followed page by page once).
let older = "/audit";
for (let i = 0; i < 20; i++) {
  const m = /href="(\/audit\?[^"]*before=[^"]+)"/.exec((await load(older)).body);
  if (!m) break;
  older = m[1]!.replace(/&amp;/g, "&");
}
// A session page reached from the session list's link (with its position hint).
const list = (await load("/sessions")).body;
const sessionLink = /href="(\/sessions\/pg_[^"]+)"/.exec(list)![1]!.replace(/&amp;/g, "&");

// A session page reached from an audit search row deep in the log (a statement in the middle of its session).
const deep = (await load(`/audit?until=${middleTime}&type=statement&limit=25`)).body;
const auditSessionLink = /href="(\/sessions\/pg_[^"]+)"/.exec(deep)![1]!.replace(/&amp;/g, "&");

const cases: [string, string][] = [
  ["audit: newest page (50)", "/audit"],
  ["audit: 21st page by cursor", older],
  ["audit: identity=rare-user (1 session in 5,000)", "/audit?identity=rare-user"],
  ["audit: effect=deny + target", "/audit?effect=deny&target=sales-db"],
  ["audit: text found nowhere (stops at its 256 MiB budget)", "/audit?text=no-such-text-anywhere"],
  [`audit: until ${middleTime} (bisection to mid-log)`, `/audit?until=${middleTime}`],
  ["sessions: list (live + newest 50 past)", "/sessions"],
  ["sessions: identity=rare-user", "/sessions?identity=rare-user"],
  ["session page (from the list's link)", sessionLink],
  ["session page (from an audit row's link, mid-log)", auditSessionLink],
];

const results = new Map<string, { wall: number[]; cpu: number[]; status: number; rows: number }>();
for (let r = 0; r < runs; r++) {
  for (const [name, url] of cases) {
    const x = await load(url);
    const e = results.get(name) ?? { wall: [], cpu: [], status: x.status, rows: 0 };
    e.wall.push(x.wallMs);
    e.cpu.push(x.cpuMs);
    // Data rows: those in a table body.
    e.rows = x.body.split("<tbody>").slice(1).reduce((n, part) => n + (part.split("</tbody>")[0]!.match(/<tr/g) ?? []).length, 0);
    results.set(name, e);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\n### Console pages over a ${(size / 1048576).toFixed(0)} MiB audit log (${new Date().toISOString().slice(0, 16)} UTC), median of ${runs} interleaved runs\n`);
console.log("| page | rows | wall ms | CPU ms |");
console.log("|---|---:|---:|---:|");
for (const [name] of cases) {
  const e = results.get(name)!;
  console.log(`| ${name} | ${e.rows} | ${median(e.wall).toFixed(1)} | ${median(e.cpu).toFixed(1)} |`);
}
