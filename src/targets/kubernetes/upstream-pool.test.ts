// The fast lane on its own connections must send the API server what fetch sends and hand the
// caller what fetch brings back: checked against the stand-in API server (TLS, its CA, a bearer
// token or a client certificate), each request once through the pool and once through fetch.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { startKubeApiServer, type KubeApiServer } from "../../../test/helpers/kube-apiserver/index.ts";
import { forwardPlain, type Completion, type WholeAnswer } from "./response-forward.ts";
import { upstreamFields, upstreamOf, type Upstream } from "./upstream.ts";
import { upstreamFieldBlock } from "../../gate/http1-client.ts";
import { LaneHeaders, upstreamAddress, upstreamPool, type UpstreamPool } from "./upstream-pool.ts";
import { wholeBody } from "./whole-response.ts";

let api: KubeApiServer;
beforeAll(async () => {
  api = await startKubeApiServer({ namespaces: ["ns"] });
  for (let i = 0; i < 30; i++) api.addPod("ns", `pod-${i}`, { containers: ["app"], labels: { big: "x".repeat(i === 7 ? 2000 : 10) } });
});
afterAll(() => api?.stop());

test("upstreamAddress: the base URLs the pool addresses as fetch(base + target) does, and the others left to fetch", () => {
  expect(upstreamAddress("https://127.0.0.1:6443")).toEqual({ host: "127.0.0.1", port: 6443, secure: true, prefix: "" });
  expect(upstreamAddress("https://api.example")).toEqual({ host: "api.example", port: 443, secure: true, prefix: "" });
  expect(upstreamAddress("http://api.example:8080/k8s/cluster-a")).toEqual({ host: "api.example", port: 8080, secure: false, prefix: "/k8s/cluster-a" });
  expect(upstreamAddress("https://[::1]:6443")).toEqual({ host: "::1", port: 6443, secure: true, prefix: "" });
  // A URL parser would rewrite these (or they carry what a request line cannot): fetch keeps them.
  for (const base of ["https://API.example", "https://api.example:443", "https://u:p@api.example", "https://api.example/a/../b", "https://api.example/a%2fb/", "https://api.example?x=1", "unix:///run/k8s.sock", "not a url"]) {
    expect({ base, address: upstreamAddress(base) }).toEqual({ base, address: null });
  }
});

test("upstreamFieldBlock: the fields as lines, with fetch's Accept and User-Agent when absent; a value outside printable ASCII is left to fetch", () => {
  expect(upstreamFieldBlock({ accept: "application/json", authorization: "Bearer t", "user-agent": "kubectl/v1.32" })).toBe("accept: application/json\r\nauthorization: Bearer t\r\nuser-agent: kubectl/v1.32\r\n");
  expect(upstreamFieldBlock({ authorization: "Bearer t" })).toBe(`authorization: Bearer t\r\naccept: */*\r\nuser-agent: Bun/${Bun.version}\r\n`);
  expect(upstreamFieldBlock({ "x-note": "caf\u00e9" })).toBeNull();
});

test("LaneHeaders: what upstreamFields and upstreamFieldBlock make for the same lines and credential, whether kept or made anew", () => {
  let token = "gw-1";
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443" }, { token: () => token });
  const lane = new LaneHeaders();
  const names = ["Accept", "accept", "User-Agent", "Authorization", "Connection", "X-Custom", "Keep-Alive", "X-Remote-User", "Host", "Cookie", "Accept-Encoding", "Kubectl-Command"];
  const values = ["application/json", "a, b", "keep-alive, x-custom", "close", "Bearer caller", "", "x", "caf\u00e9", "a\u0100b"];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 16) % n;
  };
  // Few distinct line sets, each asked for many times (kept), the credential rotating meanwhile.
  const sets = Array.from({ length: 40 }, () => Array.from({ length: rand(6) }, () => [names[rand(names.length)]!, values[rand(values.length)]!] as [string, string]));
  for (let i = 0; i < 3000; i++) {
    if (i % 500 === 0) token = `gw-${i}`;
    const lines = sets[rand(sets.length)]!;
    const fields = upstreamFields(lines, upstream);
    expect({ lines, got: lane.of(lines, upstream) }).toEqual({ lines, got: fields === null ? null : { fields, block: upstreamFieldBlock(fields) } });
  }
  // Line sets whose joined text is alike are told apart.
  expect(lane.of([["X-A", "1, X-B: 2"]], upstream)!.fields).toEqual({ authorization: `Bearer ${token}`, "x-a": "1, X-B: 2" });
  expect(lane.of([["X-A", "1"], ["X-B", "2"]], upstream)!.fields).toEqual({ authorization: `Bearer ${token}`, "x-a": "1", "x-b": "2" });
});

interface Sent {
  readonly answer: string;
  readonly completion: Completion[];
  readonly request: unknown;
}

async function send(upstream: Upstream, pool: UpstreamPool | null, target: string, lines: [string, string][]): Promise<Sent> {
  const fields = upstreamFields(lines, upstream)!;
  const completion: Completion[] = [];
  const before = api.requests.length;
  const out = await forwardPlain({ target, fields, block: upstreamFieldBlock(fields), pool, facts: { verb: "get" } as unknown as KubernetesRequestFacts, upstream, masker: () => null, maskMax: 1 << 20, timeoutMs: 0, signal: new AbortController().signal, complete: (c) => completion.push(c) });
  let answer: string;
  if (out instanceof Response) {
    const headers: string[] = [];
    out.headers.forEach((v, k) => void (k !== "date" && headers.push(`${k}: ${v}`)));
    answer = `Response ${out.status} ${wholeBody(out) !== undefined ? "whole" : "streamed"} ${headers.sort().join("|")} ${await out.text()}`;
  } else {
    const w = out as WholeAnswer;
    const headers: string[] = [];
    for (let i = 0; i < w.headers.length; i += 2) if (w.headers[i] !== "date") headers.push(`${w.headers[i]}: ${w.headers[i + 1]}`);
    answer = `Whole ${w.status} whole ${headers.sort().join("|")} ${Buffer.from(w.body).toString()}`;
  }
  return { answer: answer.replace(/^(Response|Whole) /, ""), completion, request: api.requests.slice(before) };
}

const CASES: [string, [string, string][]][] = [
  ["/api/v1/namespaces/ns/pods/pod-1", [["Accept", "application/json"], ["User-Agent", "kubectl/v1.32.0"]]],
  ["/api/v1/namespaces/ns/pods/pod-7", []],
  ["/api/v1/namespaces/ns/pods", [["Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"], ["Accept-Encoding", "gzip"]]],
  ["/api/v1/namespaces/ns/pods?limit=3", [["accept", "application/json"], ["X-Trace", "a"], ["x-trace", "b"]]],
  ["/api/v1/namespaces/ns/pods/missing", [["Accept", "application/json"]]],
  ["/api/v1/namespaces/ns/secrets/none", [["Accept", "application/yaml"]]],
  ["/version", [["Accept", "*/*"]]],
  ["/apis", [["Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"]]],
];

test("forwardPlain on the pool (bearer token over TLS with the upstream's CA): the API server sees the request fetch sends, the caller gets the answer fetch brings back", async () => {
  const upstream = upstreamOf({ url: api.url, ca: api.caPem, token: api.token });
  const pool = upstreamPool(upstream, { maxWhole: 1 << 20 })!;
  try {
    for (const [target, lines] of CASES) {
      const viaFetch = await send(upstream, null, target, lines);
      const viaPool = await send(upstream, pool, target, lines);
      expect({ target, ...viaPool }).toEqual({ target, ...viaFetch });
    }
  } finally {
    pool.close();
  }
});

test("forwardPlain on the pool with the gateway's client certificate (no token): the API server sees that certificate, as with fetch", async () => {
  const upstream = upstreamOf({ url: api.url, ca: api.caPem, client_cert: api.clientCertPem, client_key: api.clientKeyPem });
  const pool = upstreamPool(upstream, { maxWhole: 1 << 20 })!;
  try {
    const viaFetch = await send(upstream, null, "/api/v1/namespaces/ns/pods/pod-1", [["Accept", "application/json"]]);
    const viaPool = await send(upstream, pool, "/api/v1/namespaces/ns/pods/pod-1", [["Accept", "application/json"]]);
    expect(viaPool).toEqual(viaFetch);
    expect(viaPool.answer).toStartWith("200 ");
    expect((viaPool.request as { clientCertificate: string }[])[0]!.clientCertificate).not.toBe("");
  } finally {
    pool.close();
  }
});

test("an answer past maxWhole streams on as forwardRequest's answer, byte for byte as fetch's", async () => {
  const upstream = upstreamOf({ url: api.url, ca: api.caPem, token: api.token });
  const pool = upstreamPool(upstream, { maxWhole: 1024 })!;
  try {
    const lines: [string, string][] = [["Accept", "application/json"]];
    const viaFetch = await send(upstream, null, "/api/v1/namespaces/ns/pods", lines);
    const viaPool = await send(upstream, pool, "/api/v1/namespaces/ns/pods", lines);
    expect(viaFetch.answer).toStartWith("200 whole ");
    expect(viaPool.answer).toStartWith("200 whole "); // read whole by answerOf, as fetch's past WHOLE_MAX
    expect(viaPool).toEqual(viaFetch);
  } finally {
    pool.close();
  }
});

test("an API server the gateway cannot trust (another CA), or one that is down: 502 and an upstream_error record, as with fetch", async () => {
  const other = await startKubeApiServer({});
  const wrongCa = upstreamOf({ url: api.url, ca: other.caPem, token: api.token });
  await other.stop();
  const down = upstreamOf({ url: other.url, ca: other.caPem, token: other.token });
  for (const upstream of [wrongCa, down]) {
    const pool = upstreamPool(upstream, { maxWhole: 1 << 20 })!;
    try {
      const viaPool = await send(upstream, pool, "/api/v1/namespaces/ns/pods/pod-1", []);
      const viaFetch = await send(upstream, null, "/api/v1/namespaces/ns/pods/pod-1", []);
      expect(viaPool.answer).toStartWith("502 ");
      expect(viaPool.request).toEqual([]);
      expect(viaPool.completion.map((c) => c.outcome)).toEqual(["upstream_error"]);
      expect(viaFetch.completion.map((c) => c.outcome)).toEqual(["upstream_error"]);
    } finally {
      pool.close();
    }
  }
});

test("replaced certificate files start a new pool: the next request uses the new CA", async () => {
  let tls = { ca: "not a certificate" };
  const upstream: Upstream = {
    base: api.url,
    get tls() {
      return tls;
    },
    authorization: `Bearer ${api.token}`,
  };
  const pool = upstreamPool(upstream, { maxWhole: 1 << 20 })!;
  try {
    expect((await send(upstream, pool, "/version", [])).answer).toStartWith("502 ");
    tls = { ca: api.caPem };
    expect((await send(upstream, pool, "/version", [])).answer).toStartWith("200 ");
  } finally {
    pool.close();
  }
});
