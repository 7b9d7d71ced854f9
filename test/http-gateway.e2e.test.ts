// End to end: the compiled gateway in front of a real HTTP upstream, driven by real HTTP
// clients with dev-issuer tokens and a machine key: allow, deny, mask, review with approval
// through the CLI, streaming, WebSocket, hot reload, audit tail and verify, metrics.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { type GatewayProcess, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { requestsOf } from "./helpers/audit-completions.ts";

// Response bodies in these tests are JSON objects; read them as loosely typed records.
const json = async (r: Response): Promise<Record<string, any>> => (await r.json()) as Record<string, any>;

const MACHINE_KEY = "ghk_e2e-test-machine-key-0123456789abcdefghijklmnop";
const seen: { authorization: string | null; xff: string | null; path: string }[] = [];

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let gwPort: number;

function config(upPort: number, extraRules = ""): string {
  return httpGatewayYaml({
    adminPort: 0,
    listen: "127.0.0.1:0",
    upstream: `http://127.0.0.1:${upPort}`,
    identity: `machine_keys: [{ name: ci-bot, sha256: ${createHash("sha256").update(MACHINE_KEY).digest("hex")}, groups: [ci] }]`,
    target: ['headers: { Authorization: "Bearer upstream-secret" }', "mask_max_size: 1MB"],
    rules: `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET], paths: ["/api/**", "/big", "/ws", "/huge", "/huge-gzip"] }
    effect: allow
  - name: developers-upload
    groups: [developers]
    http: { methods: [POST], paths: ["/upload"] }
    effect: allow
  - name: customers-masked
    groups: [developers]
    http: { methods: [GET], paths: ["/api/customers", "/huge", "/huge-gzip"] }
    effect: allow
    mask: { json: ["$.customers[*].name"], detectors: [email, card] }
  - name: no-deletes
    http: { methods: [DELETE] }
    effect: deny
    message: Deletes go through the change process.
  - name: order-writes
    http: { methods: [POST], paths: ["/api/orders/**"] }
    effect: review
    approvers: [approvers]
    grant_max: 1h
    timeout: 10m
  # A short timeout of its own, so that the approvals above never race it on a slow machine.
  - name: quick-order-writes
    http: { methods: [POST], paths: ["/api/quick-orders/**"] }
    effect: review
    approvers: [approvers]
    timeout: 2s
  - name: ci-status
    groups: [ci]
    http: { methods: [GET], paths: ["/api/status"] }
    effect: allow
  - name: column-masks-everywhere
    groups: [colmask]
    effect: allow
    mask: { columns: [email] }
${extraRules}`,
  });
}

async function token(sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", sub, "--groups", groups, "--ttl", "15m"]);
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

const get = (path: string, tok: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${tok}`, ...(init.headers as Record<string, string>) } });

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req, server) {
      const url = new URL(req.url);
      seen.push({ authorization: req.headers.get("authorization"), xff: req.headers.get("x-forwarded-for"), path: url.pathname });
      if (url.pathname === "/ws") return server.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 });
      if (url.pathname === "/api/customers")
        return Response.json({ customers: [{ name: "Ada", email: "ada@example.com", card: "4242 4242 4242 4242", note: "call ada@example.com" }] });
      if (url.pathname === "/huge") return Response.json({ customers: [], pad: "x".repeat(2_000_000) });
      // ~2 KB on the wire that inflate past mask_max_size: the limit is on what is masked.
      if (url.pathname === "/huge-gzip")
        return new Response(Bun.gzipSync(JSON.stringify({ customers: [], pad: "x".repeat(2_000_000) })), { headers: { "content-type": "application/json", "content-encoding": "gzip" } });
      if (url.pathname === "/big") {
        const n = Number(url.searchParams.get("mb") ?? "1");
        const chunk = new Uint8Array(1024 * 1024).fill(97);
        let sent = 0;
        return new Response(
          new ReadableStream({
            pull(c) {
              if (sent++ >= n) c.close();
              else c.enqueue(chunk);
            },
          }),
        );
      }
      if (url.pathname === "/upload") {
        let bytes = 0;
        for await (const c of req.body!) bytes += (c as Uint8Array).byteLength;
        return Response.json({ bytes });
      }
      return Response.json({ method: req.method, path: url.pathname, body: await req.text() });
    },
    websocket: {
      message(ws, msg) {
        ws.send(`echo:${String(msg)}`);
      },
    },
  });
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": config(upstream.port!) } });
  gwPort = gw.port("api");
  base = `http://127.0.0.1:${gwPort}`;
});

afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

describe("HTTP target through the compiled gateway", () => {
  test("an allowed request reaches the upstream with the upstream credential, never the caller's token", async () => {
    const alice = await token("alice", "developers");
    seen.length = 0;
    const r = await get("/api/orders", alice);
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ method: "GET", path: "/api/orders" });
    expect(seen[0]!.authorization).toBe("Bearer upstream-secret");
    expect(seen[0]!.xff).toBe("127.0.0.1");
  });

  test("deny answers 403 JSON with the rule's message; default deny names no rule", async () => {
    const alice = await token("alice", "developers");
    const r = await get("/api/orders/1", alice, { method: "DELETE" });
    expect(r.status).toBe(403);
    expect(await json(r)).toMatchObject({ error: "forbidden", message: "Deletes go through the change process.", rule: "no-deletes" });
    const r2 = await get("/admin", alice);
    expect(r2.status).toBe(403);
    expect((await json(r2)).rule).toBeNull();
  });

  test("path tricks are normalised before the decision: /api/../admin is /admin", async () => {
    const alice = await token("alice", "developers");
    seen.length = 0;
    const r = await fetch(`${base}/api/%2e%2e/admin`, { headers: { authorization: `Bearer ${alice}` } });
    expect(r.status).toBe(403);
    expect(seen.length).toBe(0);
  });

  test("missing, malformed and foreign credentials get 401 with a reason", async () => {
    expect((await fetch(`${base}/api/orders`)).status).toBe(401);
    const bad = await get("/api/orders", "not-a-token");
    expect(bad.status).toBe(401);
    const body = await json(bad);
    expect(body.error).toBe("unauthenticated");
    expect(typeof body.message).toBe("string");
  });

  test("a machine key authenticates as its name and groups", async () => {
    const r = await get("/api/status", MACHINE_KEY);
    expect(r.status).toBe(200);
    const r2 = await get("/api/orders", MACHINE_KEY);
    expect(r2.status).toBe(403);
  });

  test("masks by JSON path and by detectors, in the body the client reads", async () => {
    const alice = await token("alice", "developers");
    const r = await get("/api/customers", alice);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain("ada@example.com");
    expect(text).not.toContain("4242 4242 4242 4242");
    expect(text).not.toContain('"Ada"');
    expect(Number(r.headers.get("content-length"))).toBe(new TextEncoder().encode(text).byteLength);
  });

  test("a masked response above mask_max_size is refused, not sent unmasked", async () => {
    const alice = await token("alice", "developers");
    const r = await get("/huge", alice);
    expect(r.status).toBe(502);
    expect((await json(r)).error).toBe("mask_refused");
  });

  test("a compressed masked response that inflates above mask_max_size is refused too", async () => {
    const r = await get("/huge-gzip", await token("alice", "developers"));
    expect(r.status).toBe(502);
    expect((await json(r)).error).toBe("mask_refused");
  });

  test("column masks, which an HTTP body cannot honour, refuse the response instead of sending it unmasked", async () => {
    const r = await get("/api/customers", await token("colin", "colmask"));
    expect(r.status).toBe(502);
    const body = await json(r);
    expect(body.error).toBe("mask_refused");
    expect(body.message).toContain("table columns");
  });

  test("bodies stream both ways", async () => {
    const alice = await token("alice", "developers");
    const down = await get("/big?mb=64", alice);
    let n = 0;
    for await (const c of down.body!) n += (c as Uint8Array).byteLength;
    expect(n).toBe(64 * 1024 * 1024);
    const payload = new Uint8Array(32 * 1024 * 1024).fill(7);
    const up = await get("/upload", alice, { method: "POST", body: payload });
    expect(await json(up)).toEqual({ bytes: payload.byteLength });
  });

  test("an allowed WebSocket upgrade is relayed; a denied one is refused", async () => {
    const alice = await token("alice", "developers");
    const ws = new WebSocket(`ws://127.0.0.1:${gwPort}/ws`, { headers: { authorization: `Bearer ${alice}` } } as unknown as string[]);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send("hi");
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    expect(reply).toBe("echo:hi");
    ws.close();
    const ci = new WebSocket(`ws://127.0.0.1:${gwPort}/ws`, { headers: { authorization: `Bearer ${MACHINE_KEY}` } } as unknown as string[]);
    const outcome = await new Promise<string>((resolve) => {
      ci.onopen = () => resolve("open");
      ci.onerror = () => resolve("refused");
      ci.onclose = () => resolve("refused");
    });
    expect(outcome).toBe("refused");
  });

  test("review holds the request until an approver approves with the CLI; --for grants later requests", async () => {
    const alice = await token("alice", "developers");
    const bob = await token("bob", "approvers");
    const held = get("/api/orders/new", alice, { method: "POST", body: "{}" });
    const id = await waitFor("alice's request to be listed as pending", async () => {
      const list = await runCli(["requests", "--admin", gw.adminUrl, "--token", bob, "--json"]);
      expect(list.code).toBe(0);
      return (JSON.parse(list.stdout).requests[0]?.id as string | undefined) ?? "";
    });
    expect(id).toMatch(/^apr_/);
    // The requester cannot approve their own request.
    const self = await runCli(["approve", id, "--admin", gw.adminUrl, "--token", alice]);
    expect(self.code).toBe(1);
    const ok = await runCli(["approve", id, "--for", "30m", "--admin", gw.adminUrl, "--token", bob]);
    expect(ok.code).toBe(0);
    const r = await held;
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ method: "POST", path: "/api/orders/new" });
    // The grant lets the same identity through the same rule without a new approval.
    const again = await get("/api/orders/other", alice, { method: "POST", body: "{}" });
    expect(again.status).toBe(200);
  });

  test("a denied approval and a timed-out one both answer 403 with why", async () => {
    const carol = await token("carol", "developers");
    const bob = await token("bob", "approvers");
    const held = get("/api/orders/x", carol, { method: "POST", body: "{}" });
    const id = await waitFor("carol's request to be listed as pending", async () => {
      const list = await runCli(["requests", "--admin", gw.adminUrl, "--token", bob, "--json"]);
      return (JSON.parse(list.stdout).requests.find((q: { requester: string }) => q.requester === "carol")?.id as string | undefined) ?? "";
    });
    expect((await runCli(["deny", id, "--reason", "not today", "--admin", gw.adminUrl, "--token", bob])).code).toBe(0);
    const r = await held;
    expect(r.status).toBe(403);
    expect((await json(r)).message).toContain("not today");

    const timedOut = await get("/api/quick-orders/y", carol, { method: "POST", body: "{}" });
    expect(timedOut.status).toBe(403);
    expect((await json(timedOut)).message).toContain("timed out");
  });

  test("hot reload: a valid edit applies, an invalid one is rejected and the old policy keeps serving", async () => {
    const dave = await token("dave", "auditors");
    expect((await get("/api/orders", dave)).status).toBe(403);
    const extra = `  - name: auditors-read
    groups: [auditors]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
`;
    writeFileSync(gw.configPath, config(upstream.port!, extra));
    await waitFor("the reloaded policy to let dave read /api/orders", async () => (await get("/api/orders", dave)).status === 200, { intervalMs: 100 });
    writeFileSync(gw.configPath, `${config(upstream.port!, extra)}  - name: broken\n    effect: alow\n`);
    await gw.waitForLog(/policy reload rejected[\s\S]*gatehouse\.yaml:\d+:\d+/);
    expect((await get("/api/orders", dave)).status).toBe(200);
  });

  test("admin API: health, readiness and Prometheus metrics", async () => {
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
    const m = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(m).toMatch(/gatehouse_decisions_total\{[^}]*effect="deny"[^}]*\} [1-9]/);
    expect(m).toMatch(/gatehouse_request_duration_seconds_bucket/);
    expect(m).toMatch(/gatehouse_policy_reloads_total\{result="rejected"\} [1-9]/);
    expect(m).toContain("gatehouse_audit_queue_depth");
  });

  test("every decision is in the audit log; tail filters it and verify checks the chain", async () => {
    const tail = await runCli(["tail", gw.auditPath, "--effect", "deny", "--json"]);
    expect(tail.code).toBe(0);
    const denies = tail.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(denies.length).toBeGreaterThan(0);
    expect(denies.every((d) => d.decision?.effect === "deny")).toBe(true);
    expect(denies.some((d) => d.decision.rule === "no-deletes" && d.action.method === "DELETE")).toBe(true);
    const lines = readFileSync(gw.auditPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const types = new Set(lines.map((l) => l.type));
    for (const t of ["gateway.start", "policy.loaded", "decision", "auth.rejected", "approval.requested", "approval.granted", "approval.denied", "approval.expired", "policy.rejected"])
      expect(types).toContain(t);
    // Request completions, in either form (request records, or entries of the connection's next decision record).
    expect(requestsOf(lines).length).toBeGreaterThan(0);
    // No record anywhere carries the caller's token or the upstream secret.
    expect(readFileSync(gw.auditPath, "utf8")).not.toContain("upstream-secret");
    const v = await runCli(["verify", gw.auditPath]);
    expect(v.code).toBe(0);
  });
});
