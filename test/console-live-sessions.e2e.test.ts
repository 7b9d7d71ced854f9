// End to end through the compiled binary: the two other kinds of live session the console lists
// and ends. A `kubectl exec` (real kubectl 1.32, the stand-in API server running a real process)
// and an HTTP WebSocket through the gateway are listed on /sessions for a logged-in session
// ender; ending one from the console closes it (kubectl exits, the WebSocket gets 1008 "ended by
// an operator"), and its record says ended_by_operator and by whom.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditRecord } from "../src/audit/record.ts";
import { readRecords } from "../src/audit/reader.ts";
import { type GatewayProcess, makeTempDir, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { type KubeApiServer, startKubeApiServer } from "./helpers/kube-apiserver/index.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let api: KubeApiServer;
let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let dir: string;

beforeAll(async () => {
  api = await startKubeApiServer({ namespaces: ["staging"] });
  // An echo WebSocket upstream for the HTTP target.
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => (server.upgrade(req, { data: {} }) ? undefined : new Response("no")),
    websocket: { message: (ws, m) => void ws.send(m) },
  });
  dir = makeTempDir("gatehouse-console-live-");
  writeFileSync(join(dir, "upstream-ca.pem"), api.caPem);
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
console:
  issuer: dev
  session_enders: [oncall]
targets:
  - name: k8s
    kind: kubernetes
    listen: "127.0.0.1:0"
    upstream:
      url: ${api.url}
      ca: ./upstream-ca.pem
      token: \${env:KUBE_UPSTREAM_TOKEN}
  - name: api
    kind: http
    listen: "127.0.0.1:0"
    upstream: http://127.0.0.1:${upstream.port}
rules:
  - name: dev-staging
    groups: [developers]
    targets: [k8s]
    kubernetes: { verbs: [read, write], namespaces: [staging] }
    effect: allow
  - name: dev-ws
    groups: [developers]
    targets: [api]
    http: { methods: [GET], paths: ["/ws"] }
    effect: allow
`;
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml }, dir, env: { KUBE_UPSTREAM_TOKEN: api.token } });
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  upstream?.stop(true);
  await api?.stop();
});

async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

async function login(): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${gw.adminUrl}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject: "olivia", groups: "oncall", return_to: "/sessions" }), redirect: "manual" });
  const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
  const page = await (await fetch(`${gw.adminUrl}/approvals`, { headers: { cookie, accept: "text/html" } })).text();
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page)![1]! };
}

/** The id of the live session whose row on /sessions holds `text`. */
async function liveRow(cookie: string, text: string): Promise<string> {
  return await waitFor(`a live session showing ${JSON.stringify(text)} on /sessions`, async () => {
    const page = await (await fetch(`${gw.adminUrl}/sessions`, { headers: { cookie, accept: "text/html" } })).text();
    const live = page.split("<h2>Past")[0]!;
    const row = live.split("<tr data-session=").find((r) => r.includes(text.replace(/'/g, "&#39;")));
    return row === undefined ? undefined : /^"([^"]+)"/.exec(row)?.[1];
  });
}

async function devToken(sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--config", gw.configPath, "--sub", sub, "--groups", groups], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

test("a kubectl exec is listed and ended from the console: kubectl exits, the request record says by whom", async () => {
  const kc = await runCli(["kubeconfig", "--target", "k8s", "--config", gw.configPath, "--server", `https://127.0.0.1:${gw.port("k8s")}`, "--sub", "kim", "--groups", "developers"], { cwd: dir });
  expect(kc.code).toBe(0);
  writeFileSync(join(dir, "kubeconfig"), kc.stdout);
  api.addPod("staging", "web", { containers: ["app"] });
  const kubectl = Bun.spawn(["kubectl", "--kubeconfig", join(dir, "kubeconfig"), "--cache-dir", join(dir, "kube-cache"), "exec", "web", "-n", "staging", "--", "sleep", "600"], {
    cwd: dir,
    env: { ...process.env, HOME: dir },
    stdout: "pipe",
    stderr: "pipe",
  });
  const { cookie, csrf } = await login();
  const id = await liveRow(cookie, "kubectl exec staging/web -- sleep 600");
  const res = await fetch(`${gw.adminUrl}/sessions/${id}/end`, { method: "POST", headers: { cookie, "x-csrf-token": csrf }, redirect: "manual" });
  expect(res.status).toBe(303);
  const code = await within("kubectl to exit once its exec is ended", kubectl.exited);
  expect(code).not.toBe(0);
  const rec = await waitFor("the exec's request record", async () => (await records()).find((r) => r.type === "request" && r.session === id));
  expect(rec.details).toMatchObject({ ended: "ended_by_operator", ended_by: { subject: "olivia" } });
  expect((await records()).find((r) => r.type === "console.session_end" && r.session === id)?.identity?.subject).toBe("olivia");
});

test("an HTTP WebSocket is listed and ended from the console: the client gets 1008, session.end says by whom", async () => {
  const token = await devToken("wes", "developers");
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port("api")}/ws`, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  await within("the WebSocket to open", new Promise<void>((resolve, reject) => ((ws.onopen = () => resolve()), (ws.onerror = () => reject(new Error("websocket failed"))))));
  const { cookie, csrf } = await login();
  const id = await liveRow(cookie, "WebSocket /ws");
  const res = await fetch(`${gw.adminUrl}/sessions/${id}/end`, { method: "POST", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: `_csrf=${csrf}`, redirect: "manual" });
  expect(res.status).toBe(303);
  expect(await within("the WebSocket to close", closed)).toEqual({ code: 1008, reason: "ended by an operator" });
  const end = await waitFor("the WebSocket's session.end", async () => (await records()).find((r) => r.type === "session.end" && r.session === id));
  expect(end.details).toMatchObject({ ended: "ended_by_operator", ended_by: { subject: "olivia" } });
});
