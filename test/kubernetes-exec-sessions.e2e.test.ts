// The exec relay's sessions under stress and policy: garbage WebSocket frames from a caller, a
// caller that never reads 200 MB (the gateway's memory stays flat), exec output masked by a
// rule's detectors, a held exec that runs once approved, a token that expires during an exec
// and during a watch, and a second client (Debian's python3-kubernetes) for get, list and exec.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { execPath, openRawWebSocket } from "./kubernetes-exec-wsclient.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;

const RULES = `  - name: staging-exec-masked
    groups: [developers]
    targets: [prod-*]
    kubernetes: { verbs: [exec], namespaces: [staging], names: [mailer] }
    effect: allow
    mask: { detectors: [email] }
`;

beforeAll(async () => {
  k = await startKubeSetup({ target: ["review: hold"], rules: RULES });
  k.api.addPod("staging", "web", { containers: ["app"] });
  k.api.addPod("staging", "mailer", { containers: ["app"] });
  k.api.addPod("production", "web", { containers: ["app"] });
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

const requests = (all: AuditRecord[]) => all.filter((r) => r.type === "request");
const details = (r: AuditRecord) => (r.details ?? {}) as Record<string, unknown>;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

test("garbage frames from a caller: close 1002 naming the error, the record says so, and other requests go on", async () => {
  const token = await k.token("alice", ["developers"]);
  const port = k.gw.port("prod-k8s");
  for (const [what, bytes] of [
    ["reserved bits", Buffer.from([0xf2, 0x83, 1, 2, 3, 4, 5, 6, 7])],
    ["an unmasked client frame", Buffer.from([0x82, 0x03, 0, 0x68, 0x69])],
    ["an unknown opcode", Buffer.from([0x83, 0x80, 1, 2, 3, 4])],
  ] as const) {
    const ws = await openRawWebSocket({ port, path: execPath("staging", "web", ["cat"], "stdin=true&stdout=true"), token, protocols: ["v5.channel.k8s.io"] });
    expect(ws.status).toBe(101);
    ws.socket.write(bytes);
    await ws.ended;
    expect(ws.closes).toHaveLength(1);
    expect(ws.closes[0]!.code).toBe(1002);
    expect(ws.closes[0]!.reason).toStartWith("gatehouse: ");
    expect(what).toBeTruthy();
  }
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).filter((r) => details(r)["outcome"] === "client_error").length >= 3, "three request records of sessions ended by garbage");
  const bad = requests(all).filter((r) => details(r)["outcome"] === "client_error");
  expect(bad.map((r) => details(r)["close_code"])).toEqual([1002, 1002, 1002]);
  expect(String(details(bad[0]!)["error"])).toContain("reserved bits");
  const r = await k.kubectl(["get", "pods", "-n", "staging"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("web");
  const again = await k.kubectl(["exec", "-i", "web", "-n", "staging", "--", "cat"], { stdin: "still fine\n" });
  expect(again.stdout).toBe("still fine\n");
}, 60_000);

test("ping and pong pass through; a close from the caller ends the exec upstream and comes back", async () => {
  const token = await k.token("alice", ["developers"]);
  const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path: execPath("staging", "web", ["cat"], "stdin=true&stdout=true"), token, protocols: ["v4.channel.k8s.io"] });
  expect(ws.status).toBe(101);
  expect(ws.protocol).toBe("v4.channel.k8s.io");
  const pongs: Uint8Array[] = [];
  ws.socket.on("data", (c: Buffer) => {
    // A pong frame from the server: opcode 0xA, unmasked, short payload.
    for (let i = 0; i + 1 < c.length; i++) if (c[i] === 0x8a && c[i + 1] === 4) pongs.push(c.subarray(i + 2, i + 6));
  });
  ws.send(0x9, new TextEncoder().encode("ping"));
  await waitFor("the API server's pong, relayed", () => pongs.some((p) => new TextDecoder().decode(p) === "ping"));
  ws.send(2, new Uint8Array([0, ...new TextEncoder().encode("echo me\n")]));
  await waitFor("cat's echo on stdout", () => ws.messages.some((m) => m.data[0] === 1 && new TextDecoder().decode(m.data.subarray(1)) === "echo me\n"));
  ws.close(1000);
  await ws.ended;
  expect(ws.closes[0]?.code).toBe(1000);
  await waitFor("the stand-in's exec stream to close", () => k.api.openStreams() === 0);
}, 60_000);

test("the API server's own refusal of an upgrade (no such pod) reaches the caller whole, and the record has its status", async () => {
  const token = await k.token("alice", ["developers"]);
  const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path: execPath("staging", "ghost", ["id"]), token, protocols: ["v5.channel.k8s.io"] });
  await ws.ended;
  expect(ws.status).toBe(404);
  const body = JSON.parse(new TextDecoder().decode(ws.messages[0]!.data)) as { kind: string; reason: string; message: string };
  expect(body).toMatchObject({ kind: "Status", reason: "NotFound", message: 'pods "ghost" not found' });
  await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).some((r) => (r.action as { name?: string }).name === "ghost" && details(r)["status"] === 404), "the refused upgrade's record with status 404");
}, 60_000);

test("an offered subprotocol the gateway cannot read is refused with a Status naming what it relays; nothing reaches the cluster", async () => {
  const token = await k.token("alice", ["developers"]);
  const before = k.api.requests.length;
  const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path: execPath("staging", "web", ["id"]), token, protocols: ["base64.channel.k8s.io", "channel.k8s.io"] });
  await ws.ended;
  expect(ws.status).toBe(400);
  const body = JSON.parse(new TextDecoder().decode(ws.messages[0]!.data)) as { kind: string; message: string; reason: string };
  expect(body).toMatchObject({ kind: "Status", reason: "BadRequest" });
  expect(body.message).toContain("v5.channel.k8s.io, v4.channel.k8s.io");
  expect(k.api.requests.slice(before).some((q) => q.path.endsWith("/exec"))).toBe(false);
}, 60_000);

test("a caller that never reads 200 MB of exec output: the gateway's memory stays flat (the process blocks), then everything arrives", async () => {
  const token = await k.token("alice", ["developers"]);
  const pid = k.gw.proc.pid;
  const TOTAL = 200 * 1024 * 1024;
  const before = rssKiB(pid);
  const ws = await openRawWebSocket({
    port: k.gw.port("prod-k8s"),
    path: execPath("staging", "web", ["sh", "-c", `head -c ${TOTAL} /dev/zero`]),
    token,
    protocols: ["v5.channel.k8s.io"],
    keepMessages: (ch) => ch !== 1,
  });
  expect(ws.status).toBe(101);
  ws.socket.pause();
  // Backpressure reaches the process: the stand-in stops reading its pipe, and its output
  // stays where it is (a steady state: paused, and no byte more over 20 polls a second long).
  let last = -1;
  let steady = 0;
  await waitFor(
    "the exec's output to stall under backpressure (paused, no byte more for 20 polls)",
    () => {
      const s = k.api.processStats();
      steady = s.paused > 0 && s.bytesOut === last ? steady + 1 : 0;
      last = s.bytesOut;
      return steady >= 20;
    },
    { timeoutMs: 90_000, intervalMs: 50 },
  );
  const stalled = k.api.processStats().bytesOut;
  const during = rssKiB(pid);
  expect(stalled).toBeLessThan(TOTAL / 4);
  expect(during - before).toBeLessThan(64 * 1024);
  ws.socket.resume();
  await waitFor("all 200 MB and the status", () => ws.messages.some((m) => m.data[0] === 3), { timeoutMs: 180_000 });
  expect(ws.channelBytes.get(1)).toBe(TOTAL);
  const after = rssKiB(pid);
  console.log(`gateway RSS: ${before} KiB before, ${during} KiB with ${stalled} bytes produced and the caller not reading, ${after} KiB after 200 MB`);
  expect(after - before).toBeLessThan(96 * 1024);
  ws.close();
  await ws.ended;
}, 240_000);

test("a rule's detectors mask exec output on its way to the caller and in what is captured", async () => {
  const r = await k.kubectl(["exec", "mailer", "-n", "staging", "--", "sh", "-c", "echo write to alice@example.com now; echo bob@example.org >&2"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("write to [masked:email] now\n");
  expect(r.stderr).toContain("[masked:email]");
  expect(r.stdout + r.stderr).not.toContain("@example");
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).some((x) => (x.action as { name?: string }).name === "mailer" && details(x)["masked"] !== undefined), "the masked exec's record");
  const rec = requests(all).find((x) => (x.action as { name?: string }).name === "mailer" && details(x)["masked"] !== undefined)!;
  expect(details(rec)["masked"]).toBe(2);
  const out = (details(rec)["output"] as { stdout: { file: string } }).stdout;
  expect(readFileSync(out.file, "utf8")).toBe("write to [masked:email] now\n");
}, 60_000);

test("hold mode: kubectl exec in production waits, silent, until sre approves, then runs", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", join(k.dir, "kube-cache"), "exec", "web", "-n", "production", "--", "echo", "ran after approval"], { env: { ...process.env, HOME: k.dir }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const sre = await k.token("sam", ["sre"]);
  const id = await waitFor("the held exec to show in gatehouse requests", async () => {
    const r = await runCli(["requests", "--admin", k.gw.adminUrl, "--token", sre, "--ids"], { cwd: k.dir });
    return r.stdout.trim().split("\n").find((l) => l.startsWith("apr_"));
  });
  expect(k.api.requests.some((q) => q.path === "/api/v1/namespaces/production/pods/web/exec")).toBe(false);
  const ok = await runCli(["approve", id, "--admin", k.gw.adminUrl, "--token", sre], { cwd: k.dir });
  expect(ok.code).toBe(0);
  const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(stdout).toBe("ran after approval\n");
  expect(code).toBe(0);
}, 90_000);

/** A token of `ttl` seconds for alice, and when it expires. */
async function shortToken(ttl: number): Promise<{ token: string; expiresAt: number }> {
  const r = await runCli(["token", "--config", k.gw.configPath, "--sub", "alice", "--groups", "developers", "--ttl", `${ttl}s`], { cwd: k.dir });
  const token = r.stdout.trim();
  const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { exp: number };
  return { token, expiresAt: payload.exp * 1000 };
}

test("a token that expires during an exec ends it: close 1008, the process's upstream socket closed, the record says token_expired", async () => {
  // Minting and opening take a while on a loaded machine: a token that is gone first is retried longer.
  for (let ttl = 3; ; ttl *= 2) {
    const { token, expiresAt } = await shortToken(ttl);
    const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path: execPath("staging", "web", ["sleep", "600"]), token, protocols: ["v5.channel.k8s.io"] });
    if (ws.status !== 101 || Date.now() >= expiresAt - 500) {
      ws.socket.destroy();
      if (ttl >= 48) throw new Error("could not open an exec before its token expired");
      continue;
    }
    await ws.ended;
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 1000);
    expect(ws.closes[0]).toEqual({ code: 1008, reason: "gatehouse: session ended: token expired" });
    break;
  }
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).some((r) => details(r)["ended"] === "token_expired" && (r.action as { subresource?: string }).subresource === "exec"), "the exec's record ended by expiry");
  const rec = requests(all).find((r) => details(r)["ended"] === "token_expired" && (r.action as { subresource?: string }).subresource === "exec")!;
  expect(details(rec)["closed_by"]).toBe("gateway");
  await waitFor("the stand-in's exec stream to close", () => k.api.openStreams() === 0);
}, 120_000);

test("a token that expires during a watch ends the watch; the record says token_expired", async () => {
  for (let ttl = 3; ; ttl *= 2) {
    const { token, expiresAt } = await shortToken(ttl);
    const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: k.gw.port("prod-k8s"), path: "/api/v1/namespaces/staging/configmaps?watch=true", headers: { Authorization: `Bearer ${token}` }, rejectUnauthorized: false }, resolve);
      req.on("error", reject);
      req.end();
    });
    if (res.statusCode !== 200 || Date.now() >= expiresAt - 500) {
      res.destroy();
      if (ttl >= 48) throw new Error("could not open a watch before its token expired");
      continue;
    }
    await new Promise<void>((resolve) => {
      res.on("data", () => undefined);
      res.on("end", resolve);
      res.on("error", () => resolve());
      res.on("close", resolve);
    });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt - 1000);
    break;
  }
  await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).some((r) => details(r)["ended"] === "token_expired" && (r.action as { verb?: string }).verb === "watch"), "the watch's record ended by expiry");
}, 120_000);

test("a second client: python3-kubernetes (v22) lists and gets pods and runs an exec through the gateway", async () => {
  const token = await k.token("alice", ["developers"]);
  const script = `
import sys, kubernetes
from kubernetes.stream import stream
c = kubernetes.client.Configuration()
c.host = sys.argv[1]
c.verify_ssl = False
c.api_key = {"authorization": "Bearer " + sys.argv[2]}
api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(c))
print("list:", ",".join(sorted(p.metadata.name for p in api.list_namespaced_pod("staging").items)))
print("get:", api.read_namespaced_pod("web", "staging").status.phase)
out = stream(api.connect_get_namespaced_pod_exec, "web", "staging", command=["sh", "-c", "echo from python exec"], stderr=True, stdin=False, stdout=True, tty=False)
print("exec:", out.strip())
`;
  const p = Bun.spawn(["/usr/bin/python3", "-W", "ignore", "-c", script, `https://127.0.0.1:${k.gw.port("prod-k8s")}`, token], { stdout: "pipe", stderr: "pipe", env: { ...process.env, PYTHONWARNINGS: "ignore" } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toContain("list: mailer,web\n");
  expect(stdout).toContain("get: Running\n");
  expect(stdout).toContain("exec: from python exec\n");
  const pyExec = k.api.requests.filter((q) => q.path === "/api/v1/namespaces/staging/pods/web/exec").at(-1)!;
  expect(pyExec.websocketProtocol).toBe("v4.channel.k8s.io"); // the python client offers v4 only
}, 60_000);

// Last: it turns the dev issuer off for this gateway.
test("a reload that stops trusting the caller's credential ends an open exec: close 1008 credential revoked, the record says so", async () => {
  const token = await k.token("alice", ["developers"]);
  const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path: execPath("staging", "web", ["sleep", "600"]), token, protocols: ["v5.channel.k8s.io"] });
  expect(ws.status).toBe(101);
  const text = await Bun.file(k.gw.configPath).text();
  await Bun.write(k.gw.configPath, text.replace("identity: { dev_issuer: true }", "identity: { dev_issuer: false }"));
  await k.gw.waitForLog("policy reloaded");
  await ws.ended;
  expect(ws.closes[0]).toEqual({ code: 1008, reason: "gatehouse: session ended: credential revoked" });
  await auditRecordsWhen(k.gw.auditPath, (rs) => requests(rs).some((r) => details(r)["ended"] === "credential_revoked" && (r.action as { subresource?: string }).subresource === "exec"), "the exec's record ended by revocation");
  await waitFor("the stand-in's exec stream to close", () => k.api.openStreams() === 0);
}, 60_000);
