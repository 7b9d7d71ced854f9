// The Kubernetes bypass corpus (test/bypass/kubernetes-requests.ts) sent byte for byte through
// the compiled gateway to the stand-in API server, under the seed policy and the strict one:
// every attempt is answered with a 4xx Status and not one of them reaches the cluster. The
// legitimate requests kubectl sends still reach it. Then bad input: a malformed JSON body, a
// body over max_body_size (413), and the gateway goes on serving.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { KUBE_BYPASS_ATTEMPTS, KUBE_BYPASS_CALLER, LEGITIMATE_KUBE_REQUESTS, STRICT_RULES } from "./bypass/kubernetes-requests.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

/** One request written as given (no URL normalisation by a client library), over TLS. */
function rawRequest(k: KubeSetup, token: string, r: { method: string; target: string; contentType?: string; headers?: readonly (readonly [string, string])[]; body?: string | Uint8Array }, headOnly = false): Promise<RawAnswer> {
  const ca = readFileSync(join(k.dir, "state/kubernetes/prod-k8s/tls.crt"), "utf8");
  const body = typeof r.body === "string" ? Buffer.from(r.body) : r.body !== undefined ? Buffer.from(r.body) : Buffer.alloc(0);
  const head = [
    `${r.method} ${r.target} HTTP/1.1`,
    "Host: 127.0.0.1",
    `Authorization: Bearer ${token}`,
    ...(r.contentType !== undefined ? [`Content-Type: ${r.contentType}`] : []),
    ...(r.headers ?? []).map(([n, v]) => `${n}: ${v}`),
    ...(body.length > 0 || ["POST", "PUT", "PATCH"].includes(r.method) ? [`Content-Length: ${body.length}`] : []),
    "Connection: close",
    "",
    "",
  ].join("\r\n");
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: k.gw.port("prod-k8s"), ca, servername: "localhost" }, () => {
      s.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
    });
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      // A watch or a log follow never ends by itself: its status line is enough.
      if (headOnly && Buffer.concat(chunks).includes("\r\n\r\n")) s.destroy();
    });
    // The gateway may answer (413) and close before the whole body is written: what it
    // answered is read all the same; a request that got no answer has status 0.
    s.on("error", () => {});
    void reject;
    s.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "0");
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}

const setups: Record<"seed" | "strict", KubeSetup | undefined> = { seed: undefined, strict: undefined };

beforeAll(async () => {
  const [seed, strict] = await Promise.all([startKubeSetup(), startKubeSetup({ rules: STRICT_RULES.replace(/^\s*rules:\n/, "") })]);
  setups.seed = seed;
  setups.strict = strict;
  for (const k of [seed, strict]) {
    k.api.addPod("production", "web", { containers: ["app"] });
    k.api.addPod("staging", "web", { containers: ["app"] });
    // A log follow's answer starts with its first line (the stand-in sends its head with it).
    k.api.appendLog("production", "web", "app", "started");
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(Object.values(setups).map((k) => k?.stop()));
});

const tokens = new Map<string, string>();
async function tokenFor(k: KubeSetup, groups: readonly string[]): Promise<string> {
  const key = `${k.dir}:${groups.join(",")}`;
  let t = tokens.get(key);
  if (t === undefined) {
    t = await k.token(KUBE_BYPASS_CALLER.subject, [...groups]);
    tokens.set(key, t);
  }
  return t;
}

describe("every bypass attempt, through the gateway", () => {
  test(`${KUBE_BYPASS_ATTEMPTS.length} attempts: each a 4xx Status, none reaches the API server`, async () => {
    const leaks: string[] = [];
    for (const a of KUBE_BYPASS_ATTEMPTS) {
      const k = setups[a.policy]!;
      const token = await tokenFor(k, a.groups ?? KUBE_BYPASS_CALLER.groups);
      const before = k.api.requests.length;
      const answer = await rawRequest(k, token, a);
      const reached = k.api.requests.slice(before);
      // A method Bun's HTTP parser does not know (lower case "delete") closes the connection unanswered.
      const closedByParser = answer.status === 0 && a.id === "case-method";
      if ((!closedByParser && (answer.status < 400 || answer.status >= 500)) || reached.length > 0) {
        leaks.push(`${a.id} (${a.policy}, expected ${a.expect}): status ${answer.status}, ${reached.length} request(s) reached the server: ${reached.map((x) => `${x.method} ${x.path}?${x.query}`).join("; ")}; ${answer.body.slice(0, 200)}`);
      }
    }
    expect(leaks).toEqual([]);
  }, 180_000);

  test("the legitimate requests kubectl sends reach the API server", async () => {
    const refused: string[] = [];
    for (const r of LEGITIMATE_KUBE_REQUESTS) {
      const k = setups[r.policy]!;
      const token = await tokenFor(k, r.groups ?? KUBE_BYPASS_CALLER.groups);
      const before = k.api.requests.length;
      const answer = await rawRequest(k, token, r, true);
      if (k.api.requests.length === before) refused.push(`${r.method} ${r.target}: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
    expect(refused).toEqual([]);
  }, 120_000);
});

describe("streams", () => {
  test("a watch with nothing to report yet gets its 200 at once (Bun.serve held the head until a first event)", async () => {
    const k = setups.seed!;
    const token = await tokenFor(k, ["developers"]);
    const answer = await rawRequest(k, token, { method: "GET", target: "/api/v1/namespaces/staging/configmaps?watch=true" }, true);
    expect(answer.status).toBe(200);
  }, 60_000);
});

describe("bad input", () => {
  test("a malformed JSON body is a 400 Status, and the next request is served", async () => {
    const k = setups.seed!;
    const token = await tokenFor(k, ["developers"]);
    const before = k.api.requests.length;
    const bad = await rawRequest(k, token, { method: "POST", target: "/api/v1/namespaces/staging/configmaps", contentType: "application/json", body: '{"metadata": {"name": "x"' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ kind: "Status", status: "Failure", reason: "BadRequest", code: 400 });
    expect(k.api.requests.length).toBe(before);
    const ok = await k.kubectl(["get", "pods", "-n", "staging"]);
    expect(ok.code).toBe(0);
  }, 60_000);

  test("a body over max_body_size is a 413 Status, and the gateway goes on", async () => {
    const k = setups.seed!;
    const token = await tokenFor(k, ["developers"]);
    const huge = JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "big" }, data: { blob: "x".repeat(4 * 1024 * 1024) } });
    const r = await rawRequest(k, token, { method: "POST", target: "/api/v1/namespaces/staging/configmaps", contentType: "application/json", body: huge });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ kind: "Status", reason: "RequestEntityTooLarge", code: 413 });
    expect(k.api.get("v1", "ConfigMap", "staging", "big")).toBeUndefined();
    const ok = await k.kubectl(["get", "pods", "-n", "staging"]);
    expect(ok.code).toBe(0);
  }, 60_000);

  test("no token: 401 Status; a token the gateway does not trust: 401", async () => {
    const k = setups.seed!;
    const none = await rawRequest(k, "", { method: "GET", target: "/api/v1/namespaces/staging/pods" });
    expect(none.status).toBe(401);
    const forged = await rawRequest(k, "eyJhbGciOiJub25lIn0.e30.", { method: "GET", target: "/api/v1/namespaces/staging/pods" });
    expect(forged.status).toBe(401);
    expect(JSON.parse(forged.body)).toMatchObject({ kind: "Status", reason: "Unauthorized", code: 401 });
  }, 60_000);
});
