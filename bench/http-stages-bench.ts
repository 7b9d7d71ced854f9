// The HTTP target's per-request stages, each timed on its own with the gateway's own modules and
// the http-bench policy: what one request costs in each step of http-target.ts, in µs of CPU on
// the main thread (no network: the upstream's answer is a prepared Response). Use it to see
// where a request's time goes and what a change saved; the end-to-end figure is http-bench's.
// Stages run interleaved in rounds (the machine's speed drifts); the table gives the median of
// the rounds and their range.
// Run: bun bench/http-stages-bench.ts [--rounds 5] [--n 20000] [--only maskBody] [--gc] [--live 100]
// (--only runs just the stages whose name holds that text: the masker's, old against one-pass;
// --gc collects fully before each stage's timing, so no stage pays for the garbage of the one before;
// --live keeps that many MB of small objects alive, as a running gateway's heap. The "lane:" stages are
// the masked answer's steps on the fast lane, apart and together: --only "lane: ".)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Approvals } from "../src/approvals/approvals.ts";
import { createMetrics } from "../src/admin/metrics.ts";
import { openAuditLog } from "../src/audit/log.ts";
import { loadPolicy } from "../src/config/load.ts";
import { createLogger } from "../src/core/logger.ts";
import { systemClock, type Action, type Identity } from "../src/core/types.ts";
import { Gate, auditIdentity } from "../src/gate/gate.ts";
import { RecordsByIdentity } from "../src/gate/session-records.ts";
import { collectBody, compileJsonMasker } from "../src/masking/json-masker.ts";
import { createCachedAuthenticate } from "../src/identity/auth-cache.ts";
import { canonicalHttpPath } from "../src/policy/http-path.ts";
import { bearerToken, downstreamResponseHeaders, upstreamRequestFields, upstreamRequestHeaders } from "../src/targets/http/headers.ts";
import { KnownRoutes } from "../src/targets/http/known-routes.ts";
import { ObjectTemplate } from "../src/audit/record-template.ts";
import { compileQueryRedactor } from "../src/targets/http/redact-query.ts";
import { headTooLarge } from "../src/targets/http/request-head.ts";
import type { Http1Answer } from "../src/gate/http1-client.ts";
import { Http1ResponseParser, type Http1Head } from "../src/gate/http1-response-parser.ts";
import { type ResponseSink, writeWhole } from "../src/gate/http1-response.ts";
import { fieldOf, wholeAnswer } from "../src/targets/http/whole-answer.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const rounds = Number(flag("rounds", "5"));
const N = Number(flag("n", "20000"));
const only = flag("only", "");
const gcBetween = args.includes("--gc");
// --live MB: keep that much in small live objects, as a running gateway holds, so that what a
// stage leaves behind costs the collections it would cost there.
const live: unknown[] = [];
for (let mb = Number(flag("live", "0")), i = 0; i < mb * 1024 * 16; i++) live.push({ i, s: `live ${i}`, a: [i, i + 1] });

const dir = mkdtempSync(join(tmpdir(), "gatehouse-stages-"));
writeFileSync(
  join(dir, "gatehouse.yaml"),
  `
gateway: { state_dir: ./state }
audit: { path: ${join(dir, "audit.log")}, durability: batch }
identity: { dev_issuer: true }
targets:
  - { name: fast, kind: http, listen: 127.0.0.1:1, upstream: "http://127.0.0.1:2", headers: { Authorization: "Bearer upstream" } }
rules:
  - { name: deny-admin, http: { paths: ["/admin/**"] }, effect: deny }
  - { name: read, groups: [bench], http: { methods: [GET], paths: ["/api/**", "/fast/**"] }, effect: allow }
  - { name: users-masked, groups: [bench], http: { methods: [GET], paths: ["/fast/users"] }, effect: allow, mask: { detectors: [email] } }
`,
);
const { policy } = await loadPolicy(join(dir, "gatehouse.yaml"));
const metrics = createMetrics();
const log = createLogger("warn", () => {});
const audit = await openAuditLog({ path: join(dir, "audit.log"), durability: "batch" });
const approvals = new Approvals({ clock: systemClock, onExpire: () => {} });
const gate = new Gate({ policy: () => policy, audit, approvals, clock: systemClock, metrics, log });

const users = Array.from({ length: 16 }, (_, i) => ({ id: 1000 + i, name: `User Number ${i}`, email: `user${i}.name@example${i % 3}.com`, team: ["sales", "ops", "eng", "finance"][i % 4], active: i % 5 !== 0, score: Math.round(((i * 7919) % 1000) * 1.25) / 10 }));
const usersBody = new TextEncoder().encode(JSON.stringify({ page: 1, total: users.length, users }));
const identity: Identity = { method: "dev", subject: "bench", issuer: "gatehouse-dev", groups: ["bench"], expiresAt: Date.now() + 3600_000 };
const url = "http://127.0.0.1:8080/fast/users";
const req = new Request(url, { headers: { authorization: "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2ln", "user-agent": "wrk", accept: "*/*" } });
const upstreamHeaders = new Headers({ "content-type": "application/json", "content-length": String(usersBody.byteLength), date: new Date().toUTCString(), connection: "keep-alive", "keep-alive": "timeout=5" });
const redact = compileQueryRedactor(undefined);
const masks = policy.decide({ identity, target: "fast", request: { kind: "http", method: "GET", path: "/fast/users" }, time: Date.now() }).masks;
const masker = compileJsonMasker(masks)!;
// The parse-walk-serialise masker the one-pass replaced, for the same masks, and a larger body.
const parsedMasker = compileJsonMasker(masks, { onePass: false })!;
// E-mail alone takes the one-pass masker's shortcut (json-at-strings.ts); with card too, its scanner.
const cardMasks = { ...masks, detectors: ["email", "card"] };
const scanMasker = compileJsonMasker(cardMasks)!;
const parsedCardMasker = compileJsonMasker(cardMasks, { onePass: false })!;
const manyUsers = Array.from({ length: 560 }, (_, i) => ({ id: 1000 + i, name: `User Number ${i}`, email: `user${i}.name@example${i % 3}.com`, team: ["sales", "ops", "eng", "finance"][i % 4], active: i % 5 !== 0, score: Math.round(((i * 7919) % 1000) * 1.25) / 10 }));
const largeBody = new TextEncoder().encode(JSON.stringify({ page: 1, total: manyUsers.length, users: manyUsers }));
const largeKb = (largeBody.byteLength / 1024).toFixed(0);
/** Calls of a stage per round, divided by this (a 64 KB body costs ~30 times a 2 KB one). */
const divisor = new Map<string, number>();
let seq = 0;

const auth = createCachedAuthenticate(async () => identity, systemClock);
await auth("tok");
// A cached credential without an await where the cache offers that (peek), else an awaited call.
const authenticated = (auth as { peek?: (t: string) => Identity | undefined }).peek;

// The fast lane's masked answer, step by step (http-target.ts lane → forward → answerFromOwnClient
// → maskWhole, then http1-server.ts writeWhole), on the answer as http-bench's Node.js upstream
// sends it (one chunk: head and body), read by the own client's parser as http1-client.ts does.
const itemsBody = new TextEncoder().encode(JSON.stringify({ ok: true, items: [1, 2, 3] }));
const nodeWire = (body: Uint8Array): Uint8Array =>
  Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.byteLength}\r\nDate: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`, "latin1"), body]);
const usersWire = nodeWire(usersBody);
const itemsWire = nodeWire(itemsBody);
/** What http1-client.ts's Exchange hands over for an answer of known length that came in one piece. */
let answerHead: Http1Head | null = null;
let answerBody: Uint8Array | null = null;
let answer: Http1Answer | null = null;
const answerParser = new Http1ResponseParser(
  {
    head: (h) => void (answerHead = h),
    body: (b) => void (answerBody = b),
    end: () => void (answer = { status: answerHead!.status, statusText: answerHead!.statusText, headers: answerHead!.headers, body: answerBody, stream: null }),
  },
  64 * 1024,
);
const readAnswer = (wire: Uint8Array): Http1Answer => {
  answerParser.begin("GET");
  answerParser.push(wire);
  return answer!;
};
/** A socket that takes every write at once. */
const nullSink: ResponseSink = { closed: false, write: () => undefined };
const laneReq = { method: "GET", version: "1.1" as const, keepAlive: true };
const usersAnswer = readAnswer(usersWire);
const itemsAnswer = readAnswer(itemsWire);
const maskedUsers = masker.maskBody(usersBody, "application/json").body;
/** maskWhole and writeWhole: what the lane does with a masked answer read whole. */
const laneMasked = (a: Http1Answer) => {
  const { body } = masker.maskBody(a.body!, fieldOf(a.headers, "content-type"));
  if (fieldOf(a.headers, "content-encoding") !== null) throw new Error("unexpected");
  return writeWhole(nullSink, wholeAnswer(a, body, true, "GET")!, laneReq);
};
const laneUnmasked = (a: Http1Answer) => writeWhole(nullSink, wholeAnswer(a, a.body, false, "GET")!, laneReq);

type Stage = [name: string, run: () => unknown];
const stages: Stage[] = [
  ["new URL(req.url)", () => new URL(req.url)],
  ["redact query", () => redact("")],
  ["headTooLarge", () => headTooLarge(req.method, req.url, req.headers)],
  ["bearerToken", () => bearerToken(req.headers)],
  ...(authenticated ? [["authenticate, credential cached", () => authenticated("tok")] as Stage] : []),
  ["canonicalHttpPath", () => canonicalHttpPath("/fast/users")],
  ["policy.decide (/fast/items)", () => policy.decide({ identity, target: "fast", request: { kind: "http", method: "GET", path: "/fast/items" }, time: Date.now() })],
  ["policy.decide (/fast/users, masked)", () => policy.decide({ identity, target: "fast", request: { kind: "http", method: "GET", path: "/fast/users" }, time: Date.now() })],
  ["masker key JSON.stringify(masks)", () => JSON.stringify(masks)],
  ["upstreamRequestFields (the target's, a plain object)", () => upstreamRequestFields(req.headers, { Authorization: "Bearer upstream" }, { ip: "127.0.0.1", host: req.headers.get("host"), proto: "http" })],
  ["upstreamRequestHeaders (a Headers, as before)", () => upstreamRequestHeaders(req.headers, { Authorization: "Bearer upstream" }, { ip: "127.0.0.1", host: req.headers.get("host"), proto: "http" })],
  ["downstreamResponseHeaders", () => downstreamResponseHeaders(upstreamHeaders)],
  ["maskBody (1.8 KB users, email)", () => masker.maskBody(usersBody, "application/json")],
  ["maskBody parse-walk-serialise (1.8 KB users, email)", () => parsedMasker.maskBody(usersBody, "application/json")],
  [`maskBody (${largeKb} KB users, email)`, () => masker.maskBody(largeBody, "application/json")],
  [`maskBody parse-walk-serialise (${largeKb} KB users, email)`, () => parsedMasker.maskBody(largeBody, "application/json")],
  ["maskBody scanner (1.8 KB users, email + card)", () => scanMasker.maskBody(usersBody, "application/json")],
  ["maskBody parse-walk-serialise (1.8 KB users, email + card)", () => parsedCardMasker.maskBody(usersBody, "application/json")],
  [`maskBody scanner (${largeKb} KB users, email + card)`, () => scanMasker.maskBody(largeBody, "application/json")],
  [`maskBody parse-walk-serialise (${largeKb} KB users, email + card)`, () => parsedCardMasker.maskBody(largeBody, "application/json")],
  ["lane: own client reads the answer (1.8 KB users)", () => readAnswer(usersWire)],
  ["lane: own client reads the answer (tiny items)", () => readAnswer(itemsWire)],
  ["lane: fieldOf content-type + content-encoding", () => [fieldOf(usersAnswer.headers, "content-type"), fieldOf(usersAnswer.headers, "content-encoding")]],
  ["lane: wholeAnswer (masked)", () => wholeAnswer(usersAnswer, maskedUsers, true, "GET")],
  ["lane: wholeAnswer (unmasked, tiny)", () => wholeAnswer(itemsAnswer, itemsAnswer.body, false, "GET")],
  ["lane: writeWhole (1.8 KB masked body)", () => writeWhole(nullSink, { status: 200, statusText: "OK", fields: usersAnswer.headers.slice(0, 2), length: null, body: maskedUsers }, laneReq)],
  ["lane: writeWhole (tiny body)", () => writeWhole(nullSink, { status: 200, statusText: "OK", fields: itemsAnswer.headers.slice(0, 2), length: null, body: itemsBody }, laneReq)],
  ["lane: maskBody of the answer's body (a view of the socket's Buffer)", () => masker.maskBody(usersAnswer.body!, "application/json")],
  ["lane: read + maskBody (1.8 KB users)", () => masker.maskBody(readAnswer(usersWire).body!, "application/json")],
  ["lane: maskBody + wholeAnswer + writeWhole (1.8 KB users)", () => laneMasked(usersAnswer)],
  ["lane: masked answer, read + maskBody + wholeAnswer + writeWhole (1.8 KB users)", () => laneMasked(readAnswer(usersWire))],
  ["lane: unmasked answer, read + wholeAnswer + writeWhole (1.8 KB users)", () => laneUnmasked(readAnswer(usersWire))],
  ["lane: unmasked answer, read + wholeAnswer + writeWhole (tiny items)", () => laneUnmasked(readAnswer(itemsWire))],
  ["new Response(body, headers)", () => new Response(usersBody, { status: 200, headers: upstreamHeaders })],
  ["known route lookup (peek, identity's records, route, policy hash)", () => {
    const identity = authenticated ? authenticated("tok") : undefined;
    return identity && knownRoutes.get(recordsByIdentity.for(identity), "GET", "http://127.0.0.1:8080/fast/items", gate.policyNow().hash);
  }],
  ["request record details (ObjectTemplate.fill)", () => REQUEST_DETAILS.fill({ status: 200, bytes_out: 1813, duration_ms: 1.234, outcome: "ok", error: undefined, masked: undefined })],
  ["request record object (complete)", () => ({ type: "request", session: `req_${seq++}`, identity: auditIdentity(identity), target: "fast", action: { kind: "http", method: "GET", path: "/fast/users" }, details: { status: 200, bytes_out: 1813, duration_ms: 1.234, outcome: "ok" } })],
];

// Async stages: whole awaited operations, N sequential per measurement (the write per tick included).
type AsyncStage = [name: string, run: () => Promise<unknown>];
const action = (): Action => ({ identity, target: "fast", request: { kind: "http", method: "GET", path: "/fast/items" }, time: Date.now() });
const asyncStages: AsyncStage[] = [
  // Where there is no peek, the awaited call; with one, see the stage of that name above.
  ...(authenticated ? [] : [["authenticate, credential cached", () => auth("tok")] as AsyncStage]),
  ["read a 1.8 KB body whole: res.bytes()", () => new Response(usersBody).bytes()],
  ["read a 1.8 KB body: collectBody (stream reader)", () => collectBody(new Response(usersBody).body!, 1 << 20)],
  ["gate.check (decide + decision record, awaited)", () => gate.check(action(), { session: `req_${seq++}` })],
  ["gate.recordLater (request record)", () => gate.recordLater({ type: "request", session: `req_${seq++}`, identity: auditIdentity(identity), target: "fast", action: { kind: "http", method: "GET", path: "/fast/items" }, details: { status: 200, bytes_out: 30, duration_ms: 1.2, outcome: "ok" } })],
  // As http-target.ts does now: the identity's templates (RecordsByIdentity), the request id per record.
  ["gate.check with records (decide + decision record from templates)", () => gate.check(action(), { session: `req_${seq++}`, records: recordsByIdentity.for(identity) })],
  // The fast path as http-target.ts takes it now: the known route's decision record, written
  // with the turn's other records (here each awaited call is a turn of its own: one write each).
  ["gate.recordKnownSoon (known route: decision record, turn's write)", () => gate.recordKnownSoon("fast", known.verdict, known.decision, { action: known.action, session: `req_${seq++}` })],
  ["32 × gate.recordKnownSoon in one turn, per call (one write)", async () => {
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 32; i++) all.push(gate.recordKnownSoon("fast", known.verdict, known.decision, { action: known.action, session: `req_${seq++}` }));
    await Promise.all(all);
  }],
  ["gate.recordLaterFrom (request record from templates)", () => gate.recordLaterFrom(recordsByIdentity.for(identity).template("request"), { session: `req_${seq++}`, action: { kind: "http", method: "GET", path: "/fast/items" }, details: { status: 200, bytes_out: 30, duration_ms: 1.2, outcome: "ok" } }, "request")],
];
const recordsByIdentity = new RecordsByIdentity("fast");
const knownRoutes = new KnownRoutes();
const REQUEST_DETAILS = new ObjectTemplate({}, ["status", "bytes_out", "duration_ms", "outcome", "error", "masked"]);
{
  const facts = { kind: "http" as const, method: "GET", path: "/fast/items" };
  const verdict = await gate.check({ identity, target: "fast", request: facts, time: Date.now() }, { session: "warm", records: recordsByIdentity.for(identity) });
  knownRoutes.remember(recordsByIdentity.for(identity), "GET", "http://127.0.0.1:8080/fast/items", verdict, gate.policyNow(), facts, "http://127.0.0.1:2/fast/items", "http");
}
const known = knownRoutes.get(recordsByIdentity.for(identity), "GET", "http://127.0.0.1:8080/fast/items", gate.policyNow().hash)!;

divisor.set(`maskBody (${largeKb} KB users, email)`, 32);
divisor.set(`maskBody parse-walk-serialise (${largeKb} KB users, email)`, 32);
divisor.set(`maskBody scanner (${largeKb} KB users, email + card)`, 32);
divisor.set(`maskBody parse-walk-serialise (${largeKb} KB users, email + card)`, 32);
const chosen = <T extends [string, unknown]>(list: T[]): T[] => (only === "" ? list : list.filter(([name]) => name.includes(only)));

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const results = new Map<string, number[]>();
const add = (name: string, v: number) => {
  let l = results.get(name);
  if (!l) results.set(name, (l = []));
  l.push(v);
};
for (let r = 0; r < rounds + 1; r++) {
  for (const [name, run] of chosen(stages)) {
    const n = Math.max(1, Math.floor(N / (divisor.get(name) ?? 1)));
    if (gcBetween) Bun.gc(true);
    const t0 = cpuUs();
    for (let i = 0; i < n; i++) run();
    if (r > 0) add(name, (cpuUs() - t0) / n); // round 0 warms up
  }
  for (const [name, run] of chosen(asyncStages)) {
    const n = Math.floor(N / 4);
    const t0 = cpuUs();
    const per = name.startsWith("32 ×") ? 32 : 1;
    if (gcBetween) Bun.gc(true);
    for (let i = 0; i < n / per; i++) await run();
    if (r > 0) add(name, (cpuUs() - t0) / n);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\nHTTP target stages, CPU µs per call (process CPU, ${rounds} rounds of ${N} calls, the ${largeKb} KB body's ${Math.floor(N / 32)}; async stages ${Math.floor(N / 4)} awaited calls), median (range)\n`);
console.log("| stage | µs | range |");
console.log("|---|---:|---|");
for (const [name, xs] of results) console.log(`| ${name} | ${median(xs).toFixed(2)} | ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)} |`);
await audit.close();
approvals.close();
rmSync(dir, { recursive: true, force: true });
