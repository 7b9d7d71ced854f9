// The MCP bypass corpus (./mcp-requests.ts) run end to end: the compiled gateway with one MCP
// target in front of four SDK adversaries over Streamable HTTP (adv, wide, other, rug: each keeps
// every message it receives) and the real server-filesystem over stdio (files, through the
// recording wrapper, which logs every message it relays). Each attempt runs on a fresh session
// whose liveness is proven first (an allowed tools/list answers), and then:
//   - "refused": the agent gets an HTTP error or only JSON-RPC errors, never a result, and no
//     upstream received anything but lists and lifecycle messages while it ran;
//   - "no-secret": whatever happened, the secret outside the files root never came back;
//   - "server-request-refused": the server's sampling/elicitation/roots request never reached
//     the agent (on the call's stream or the session's GET stream) and the server got an error.
// Known bypasses run as test.failing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startAdversaryHttp, type AdversaryHttp } from "../helpers/mcp-adversary.ts";
import { startMcpGateway, type McpGateway } from "../helpers/mcp-gateway.ts";
import { openLegacyRawSession, openRawSession, rawPost, type RawAnswer, type RawSession, sseMessages } from "../helpers/mcp-raw.ts";
import { filesystemFixture, readJsonLines, recordingCommand, type FilesystemFixture } from "../helpers/mcp-servers.ts";
import { waitFor } from "../helpers/wait.ts";
import { KNOWN_MCP_BYPASSES, MCP_CONTROLS, MCP_CORPUS, mcpBypassRules, type McpAttempt } from "./mcp-requests.ts";

const ADVERSARIES = ["adv", "wide", "other", "rug"] as const;
type AdvName = (typeof ADVERSARIES)[number];

/** Upstream messages that any session causes, whatever it asked: the lifecycle and the lists. */
const BENIGN = new Set(["initialize", "notifications/initialized", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list", "notifications/cancelled"]);
const SERVER_REQUESTS = new Set(["sampling/createMessage", "elicitation/create", "roots/list"]);

let fx: FilesystemFixture;
let filesLog: string;
const adv = {} as Record<AdvName, AdversaryHttp>;
let g: McpGateway;
let token: string;

beforeAll(async () => {
  fx = filesystemFixture();
  for (const name of ADVERSARIES) adv[name] = startAdversaryHttp();
  filesLog = join(fx.root, "..", "files-upstream.jsonl");
  const servers = [
    { name: "adv", url: adv.adv.url, sql: { tool: "query", argument: "sql" } },
    { name: "wide", url: adv.wide.url },
    { name: "other", url: adv.other.url },
    { name: "rug", url: adv.rug.url },
    { name: "files", command: recordingCommand(filesLog, fx.command) },
  ];
  // poisoned_notes is never pinned on wide and rug; once serving, rug's echo changes and exfiltrate appears.
  g = await startMcpGateway({
    servers,
    rules: mcpBypassRules(fx.root),
    pins: "mcp-pins.json",
    limits: { body_bytes: "64KiB" },
    pinFirst: true,
    editPins: (pins) => {
      for (const s of ["wide", "rug"]) delete pins.servers[s]!.tools["poisoned_notes"];
    },
  });
  await adv.rug.adversary.rugPull();
  token = await g.token("agent-7", ["agents"]);
}, 120_000);

afterAll(async () => {
  await g?.stop();
  for (const name of ADVERSARIES) await adv[name]?.stop();
  fx?.cleanup();
});

/** Where each upstream's record stands now. */
function marks(): Record<string, number> {
  const m: Record<string, number> = { files: readJsonLines(filesLog).length };
  for (const name of ADVERSARIES) m[name] = adv[name].adversary.received.length;
  return m;
}

/** The messages upstreams received since `from`, as "server: method name". */
function upstreamSince(from: Record<string, number>): { server: string; message: Record<string, unknown> }[] {
  const out: { server: string; message: Record<string, unknown> }[] = [];
  for (const name of ADVERSARIES) for (const r of adv[name].adversary.received.slice(from[name])) out.push({ server: name, message: r.message as Record<string, unknown> });
  for (const line of readJsonLines<{ in?: Record<string, unknown> }>(filesLog).slice(from["files"])) if (line.in) out.push({ server: "files", message: line.in });
  return out;
}

const describeMessage = (m: Record<string, unknown>) => `${String(m["method"] ?? "(response)")} ${JSON.stringify(m["params"] ?? m["result"] ?? m["error"] ?? "").slice(0, 160)}`;

function substitute(text: string): string {
  return text.replaceAll("$ROOT", fx.root);
}

function bodyOf(a: McpAttempt): Uint8Array {
  if (typeof a.body === "string") return new TextEncoder().encode(substitute(a.body));
  return new Uint8Array(Buffer.from(substitute(Buffer.from(a.body).toString("latin1")), "latin1"));
}

/** The ids of the requests in the body, where it parses (a refused body may not). */
function requestIds(a: McpAttempt): unknown[] {
  try {
    const v = JSON.parse(typeof a.body === "string" ? a.body : Buffer.from(a.body).toString("utf8")) as unknown;
    const items = Array.isArray(v) ? v : [v];
    return items.filter((m) => m && typeof m === "object" && "method" in m && "id" in m).map((m) => (m as { id: unknown }).id);
  } catch {
    return [];
  }
}

async function liveSession(server: string): Promise<RawSession> {
  const s = await openRawSession(g.url(server), token);
  const list = await rawPost({ url: g.url(server), headers: s.headers, body: JSON.stringify({ jsonrpc: "2.0", id: "live", method: "tools/list" }), expectIds: ["live"] });
  if (!list.messages.some((m) => m["id"] === "live" && "result" in m)) throw new Error(`the session on ${server} is not live: ${list.status} ${list.text.slice(0, 300)}`);
  return s;
}

async function run(a: McpAttempt, mode: "attempt" | "control" = "attempt"): Promise<void> {
  const session = await liveSession(a.server);
  // The session's GET stream: a server request the gateway let through could come this way.
  const getAbort = new AbortController();
  const onGet: Record<string, unknown>[] = [];
  const getStream = rawPost({ url: g.url(a.server), method: "GET", headers: { ...session.headers, accept: "text/event-stream" }, signal: getAbort.signal, until: (m) => (onGet.push(...m.slice(onGet.length)), false), timeoutMs: 120_000 }).catch(() => null);
  const flight = new AbortController();
  try {
    if (a.inFlight) {
      const before = adv.adv.adversary.toolCalls("stall").length;
      void rawPost({ url: g.url(a.server), headers: session.headers, body: a.inFlight, signal: flight.signal, timeoutMs: 120_000 }).catch(() => {});
      await waitFor("the in-flight stall call to reach adv", () => adv.adv.adversary.toolCalls("stall").length > before);
    }
    const from = marks();
    const outcomesFrom = Object.fromEntries(ADVERSARIES.map((n) => [n, adv[n].adversary.serverRequestOutcomes.length]));
    const headers: Record<string, string> = { ...session.headers };
    if (a.session === "none") delete headers["mcp-session-id"];
    if (a.session === "bogus") headers["mcp-session-id"] = "00000000-0000-4000-8000-000000000000";
    for (const [k, v] of Object.entries(a.headers ?? {})) if (k !== "x-chunked") headers[k] = substitute(v);
    const ids = requestIds(a);
    const answer: RawAnswer = await rawPost({
      url: g.url(a.server),
      ...(a.path ? { path: a.path } : {}),
      headers,
      body: bodyOf(a),
      chunked: a.headers?.["x-chunked"] === "1",
      expectIds: ids,
      until: (m) => m.some((x) => typeof x["method"] === "string" && SERVER_REQUESTS.has(x["method"] as string)) || (ids.length > 0 && ids.every((id) => m.some((x) => JSON.stringify(x["id"]) === JSON.stringify(id) && ("result" in x || "error" in x)))),
    });
    const leakedRequests = [...answer.messages, ...onGet].filter((m) => typeof m["method"] === "string" && SERVER_REQUESTS.has(m["method"] as string));
    const upstream = upstreamSince(from);
    const context = `${a.id} (${a.note}): answer ${answer.status} ${answer.text.slice(0, 400)}\nupstream: ${upstream.map((u) => `${u.server}: ${describeMessage(u.message)}`).join("; ") || "(nothing)"}`;

    if (process.env["MCP_BYPASS_VERBOSE"]) console.log(context);
    if (mode === "control") {
      expect(answer.messages.filter((m) => "result" in m && JSON.stringify(m["id"]) === JSON.stringify(ids[0])).length, `no result: ${context}`).toBe(1);
      expect(answer.messages.some((m) => "error" in m), context).toBe(false);
      const method = JSON.parse(substitute(a.body as string)).method as string;
      expect(upstream.some((u) => u.message["method"] === method), `the upstream did not get the ${method}: ${context}`).toBe(true);
    } else if ((a.expect ?? "refused") === "refused") {
      const results = answer.messages.filter((m) => "result" in m && m["id"] !== undefined);
      expect(results, `a result came back: ${context}`).toEqual([]);
      if (answer.status < 400) for (const id of ids) expect(answer.messages.some((m) => JSON.stringify(m["id"]) === JSON.stringify(id) && "error" in m), `no error for id ${JSON.stringify(id)}: ${context}`).toBe(true);
      // The gateway's own error answers to the server's requests (server-filesystem asks for
      // roots/list when a session starts) are not the agent's doing; anything else is.
      const reached = upstream.filter((u) => (typeof u.message["method"] === "string" ? !BENIGN.has(u.message["method"] as string) : !("error" in u.message)));
      expect(reached.map((u) => `${u.server}: ${describeMessage(u.message)}`), context).toEqual([]);
    } else if (a.expect === "no-secret") {
      expect(answer.text, context).not.toContain(fx.secretText);
    } else {
      expect(leakedRequests.map((m) => describeMessage(m)), `a server request reached the agent: ${context}`).toEqual([]);
      const outcomes = ADVERSARIES.flatMap((n) => adv[n].adversary.serverRequestOutcomes.slice(outcomesFrom[n]));
      expect(outcomes.length, `the server's request got no answer: ${context}`).toBeGreaterThan(0);
      for (const o of outcomes) expect(JSON.stringify(o.outcome), context).toContain("error");
    }
    expect(leakedRequests.map((m) => describeMessage(m)), context).toEqual([]);
  } finally {
    flight.abort();
    getAbort.abort();
    await getStream;
    await session.close();
  }
}

/**
 * The same attempt over the legacy HTTP+SSE transport (GET /sse/<server>, POST /messages/…):
 * its own endpoint and session handling in front of the same checks. Answers come on the stream;
 * an attempt without a request id is followed by a ping whose answer marks that the gateway
 * has dealt with it.
 */
async function runLegacy(a: McpAttempt): Promise<void> {
  const s = await openLegacyRawSession(g.base, a.server, token);
  try {
    const from = marks();
    const seen = s.messages.length;
    const headers: Record<string, string> = { "content-type": "application/json" };
    for (const [k, v] of Object.entries(a.headers ?? {})) if (k !== "x-chunked") headers[k] = substitute(v);
    const ids = requestIds(a);
    const answer = await s.post(bodyOf(a), headers);
    const after = () => s.messages.slice(seen);
    const leaked = () => after().filter((m) => typeof m["method"] === "string" && SERVER_REQUESTS.has(m["method"] as string));
    if (answer.status < 400) {
      if (ids.length > 0) await waitFor(`answers to ${JSON.stringify(ids)} on the SSE stream`, () => leaked().length > 0 || ids.every((id) => after().some((m) => JSON.stringify(m["id"]) === JSON.stringify(id) && ("result" in m || "error" in m))));
      const barrier = `barrier-${a.id}`;
      await s.post(JSON.stringify({ jsonrpc: "2.0", id: barrier, method: "ping" }), {});
      await waitFor("the barrier ping's answer", () => after().some((m) => m["id"] === barrier));
    }
    const upstream = upstreamSince(from);
    const context = `${a.id} over legacy SSE (${a.note}): POST ${answer.status} ${answer.text.slice(0, 200)}; stream: ${JSON.stringify(after()).slice(0, 400)}\nupstream: ${upstream.map((u) => `${u.server}: ${describeMessage(u.message)}`).join("; ") || "(nothing)"}`;
    if (process.env["MCP_BYPASS_VERBOSE"]) console.log(context);
    expect(leaked().map((m) => describeMessage(m)), context).toEqual([]);
    if ((a.expect ?? "refused") === "refused") {
      expect(after().filter((m) => "result" in m && m["id"] !== `barrier-${a.id}`), `a result came back: ${context}`).toEqual([]);
      const reached = upstream.filter((u) => (typeof u.message["method"] === "string" ? !BENIGN.has(u.message["method"] as string) : !("error" in u.message)));
      expect(reached.map((u) => `${u.server}: ${describeMessage(u.message)}`), context).toEqual([]);
    } else if (a.expect === "no-secret") {
      expect(JSON.stringify(after()), context).not.toContain(fx.secretText);
    }
  } finally {
    s.close();
  }
}

/** Attempts about the Streamable HTTP endpoint itself (its path, its session header, chunking, in-flight ids). */
const streamableOnly = (a: McpAttempt) => a.path !== undefined || a.session !== undefined || a.inFlight !== undefined || a.headers?.["x-chunked"] !== undefined || a.expect === "server-request-refused";

describe("MCP bypass corpus over the legacy HTTP+SSE transport", () => {
  for (const a of MCP_CORPUS.filter((x) => !streamableOnly(x))) {
    const t = KNOWN_MCP_BYPASSES[a.id] ? test.failing : test;
    t(`${a.theme}: ${a.id}`, async () => await runLegacy(a), 60_000);
  }
  test("the legacy runner fails an attempt that reached its upstream", async () => {
    await expect(runLegacy({ ...MCP_CONTROLS[0]!, id: "self-check-legacy" })).rejects.toThrow(/a result came back|adv: tools\/call/);
    await expect(runLegacy({ ...MCP_CONTROLS[2]!, id: "self-check-legacy-files" })).rejects.toThrow(/a result came back|files: tools\/call/);
  }, 60_000);
});

describe("MCP bypass corpus", () => {
  test("has at least 60 attempts with unique ids", () => {
    expect(MCP_CORPUS.length).toBeGreaterThanOrEqual(60);
    expect(new Set(MCP_CORPUS.map((a) => a.id)).size).toBe(MCP_CORPUS.length);
  });

  for (const a of MCP_CORPUS) {
    const t = KNOWN_MCP_BYPASSES[a.id] ? test.failing : test;
    t(`${a.theme}: ${a.id}: ${a.note}`, async () => await run(a), 60_000);
  }

  for (const a of MCP_CONTROLS) test(`control (allowed): ${a.id}: ${a.note}`, async () => await run(a, "control"), 60_000);

  // The runner itself: an allowed call presented as an attempt must fail it, or the corpus proves nothing.
  test("the runner fails an attempt that reached its upstream", async () => {
    await expect(run({ ...MCP_CONTROLS[0]!, id: "self-check" })).rejects.toThrow(/adv: tools\/call/);
    await expect(run({ ...MCP_CONTROLS[2]!, id: "self-check-files" })).rejects.toThrow(/files: tools\/call/);
  }, 60_000);

  test("after the corpus, the gateway and a session still work: echo on adv is answered", async () => {
    expect(g.gw.proc.exitCode).toBeNull();
    const s = await liveSession("adv");
    try {
      const r = await rawPost({ url: g.url("adv"), headers: s.headers, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text: "still here" } } }), expectIds: [1] });
      expect(JSON.stringify(r.messages)).toContain("still here");
    } finally {
      await s.close();
    }
  });
});

// Keep the parser honest: sseMessages reads what the adversary sends.
test("sseMessages reads data lines", () => {
  expect(sseMessages('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n')).toEqual([{ jsonrpc: "2.0", id: 1, result: {} }]);
});
