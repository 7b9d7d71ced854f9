// The stand-in API server's bytes checked directly (a fetch or a WebSocket, no kubectl): the
// exact Status bodies, discovery content types, a watch's headers arriving before any event, the
// Table shape, patches and conflicts, the exec channel protocol and the v4 port-forward channels.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import tls from "node:tls";
import { signal, waitFor, within } from "../wait.ts";
import { startKubeApiServer } from "./index.ts";
import type { KubeApiServer, KubeObject } from "./index.ts";

setDefaultTimeout(60_000);

let api: KubeApiServer;

function call(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${init.token ?? api.token}`);
  return fetch(`${api.url}${path}`, { ...init, headers, tls: { ca: api.caPem } } as RequestInit);
}

async function body(r: Response): Promise<KubeObject> {
  return (await r.json()) as KubeObject;
}

beforeAll(async () => {
  api = await startKubeApiServer();
  api.addPod("default", "web");
});

afterAll(async () => {
  await api?.stop();
});

describe("stand-in API server wire formats", () => {
  test("401 and 404 answer the exact metav1.Status JSON", async () => {
    const unauth = await call("/api/v1/namespaces/default/pods", { token: "wrong" });
    expect(unauth.status).toBe(401);
    expect(await unauth.text()).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}');
    const missing = await call("/api/v1/namespaces/default/pods/nope");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/json");
    expect(await missing.text()).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"pods"},"code":404}');
    const dep = await call("/apis/apps/v1/namespaces/default/deployments/nope");
    expect((await body(dep)).details).toEqual({ name: "nope", group: "apps", kind: "deployments" });
  });

  test("aggregated discovery when asked for it, legacy documents otherwise", async () => {
    const agg = await call("/api", { headers: { Accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json" } });
    expect(agg.headers.get("content-type")).toBe("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    const doc = await body(agg);
    expect(doc.kind).toBe("APIGroupDiscoveryList");
    const pods = doc.items[0].versions[0].resources.find((r: { resource: string }) => r.resource === "pods");
    expect(pods).toMatchObject({ scope: "Namespaced", singularResource: "pod", shortNames: ["po"], responseKind: { group: "", version: "v1", kind: "Pod" } });
    expect(pods.subresources.map((s: { subresource: string }) => s.subresource)).toContain("exec");
    const legacy = await body(await call("/api", { headers: { Accept: "application/json" } }));
    expect(legacy).toMatchObject({ kind: "APIVersions", versions: ["v1"] });
    const apps = await body(await call("/apis/apps/v1"));
    expect(apps.groupVersion).toBe("apps/v1");
    expect(apps.resources.find((r: { name: string }) => r.name === "deployments/scale")).toMatchObject({ group: "autoscaling", version: "v1", kind: "Scale" });
  });

  test("a watch answers its headers before any event, then one JSON WatchEvent per line", async () => {
    const rv = api.store.resourceVersion;
    const abort = new AbortController();
    // Fails with a server that holds the headers until the first event (as Bun.serve did).
    const res = await within("the watch's response headers", call(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`, { signal: abort.signal }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "watched", namespace: "default" }, data: { a: "1" } });
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await within("the watch event", reader.read());
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const ev = JSON.parse(text.split("\n")[0]!);
    expect(ev.type).toBe("ADDED");
    expect(ev.object).toMatchObject({ kind: "ConfigMap", apiVersion: "v1", metadata: { name: "watched" }, data: { a: "1" } });
    expect(Number(ev.object.metadata.resourceVersion)).toBeGreaterThan(rv);
    abort.abort();
  });

  test("a watch from a resourceVersion older than the history gets a 410 Expired ERROR event", async () => {
    const small = await startKubeApiServer({ watchHistory: 2 });
    try {
      const rv = small.store.resourceVersion;
      for (const n of ["a", "b", "c", "d"]) small.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: n, namespace: "default" } });
      const res = await fetch(`${small.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`, { headers: { Authorization: `Bearer ${small.token}` }, tls: { ca: small.caPem } } as RequestInit);
      const lines = (await within("the expired watch to end", res.text())).trim().split("\n");
      expect(lines.length).toBe(1);
      const ev = JSON.parse(lines[0]!);
      expect(ev.type).toBe("ERROR");
      expect(ev.object).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410 });
      expect(ev.object.message).toStartWith(`too old resource version: ${rv} (`);
    } finally {
      await small.stop();
    }
  });

  test("timeoutSeconds ends a watch; a Table watch has column definitions in its first event only", async () => {
    const rv = api.store.resourceVersion;
    const res = await call(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}&timeoutSeconds=1`, { headers: { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io" } });
    expect(res.headers.get("content-type")).toBe("application/json;as=Table;v=v1;g=meta.k8s.io");
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "t1", namespace: "default" } });
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "t2", namespace: "default" } });
    const events = (await within("the watch to end after timeoutSeconds", res.text())).trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => [e.type, e.object.kind, e.object.rows[0].cells[0]])).toEqual([["ADDED", "Table", "t1"], ["ADDED", "Table", "t2"]]);
    expect(events[0].object.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(["Name", "Data", "Age"]);
    expect(events[1].object.columnDefinitions).toBeNull();
  });

  test("deletecollection deletes what the selector picks and answers the list of it", async () => {
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "keep", namespace: "default", labels: { tier: "a" } } });
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "drop", namespace: "default", labels: { tier: "b" } } });
    const res = await call("/api/v1/namespaces/default/configmaps?labelSelector=tier%3Db", { method: "DELETE" });
    expect(res.status).toBe(200);
    const list = await body(res);
    expect(list.kind).toBe("ConfigMapList");
    expect(list.items.map((i: KubeObject) => i.metadata.name)).toEqual(["drop"]);
    expect(api.get("v1", "ConfigMap", "default", "drop")).toBeUndefined();
    expect(api.get("v1", "ConfigMap", "default", "keep")).toBeDefined();
  });

  test("Table: column definitions and PartialObjectMetadata rows", async () => {
    const res = await call("/api/v1/namespaces/default/configmaps", { headers: { Accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" } });
    expect(res.headers.get("content-type")).toBe("application/json;as=Table;v=v1;g=meta.k8s.io");
    const t = await body(res);
    expect(t.kind).toBe("Table");
    expect(t.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(["Name", "Data", "Age"]);
    const row = t.rows.find((r: { cells: unknown[] }) => r.cells[0] === "watched");
    expect(row.cells[1]).toBe(1);
    expect(row.object.kind).toBe("PartialObjectMetadata");
  });

  test("patch types and a stale resourceVersion's 409 Conflict", async () => {
    const json = await call("/api/v1/namespaces/default/configmaps/watched", { method: "PATCH", headers: { "Content-Type": "application/json-patch+json" }, body: JSON.stringify([{ op: "add", path: "/data/b", value: "2" }]) });
    expect((await body(json)).data).toEqual({ a: "1", b: "2" });
    const merge = await call("/api/v1/namespaces/default/configmaps/watched", { method: "PATCH", headers: { "Content-Type": "application/merge-patch+json" }, body: JSON.stringify({ data: { a: null } }) });
    expect((await body(merge)).data).toEqual({ b: "2" });
    const stale = await call("/api/v1/namespaces/default/configmaps/watched", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "watched", resourceVersion: "1" }, data: {} }) });
    expect(stale.status).toBe(409);
    expect((await body(stale)).message).toBe('Operation cannot be fulfilled on configmaps "watched": the object has been modified; please apply your changes to the latest version and try again');
  });

  test("exec over v5.channel.k8s.io: stdin, close of stdin (255), stdout, and the status channel", async () => {
    const url = `${api.url.replace("https", "wss")}/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=cat%3B%20exit%205&stdin=true&stdout=true&stderr=true`;
    const ws = new WebSocket(url, { protocols: ["v5.channel.k8s.io"], headers: { Authorization: `Bearer ${api.token}` }, tls: { ca: api.caPem } } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const frames: Uint8Array[] = [];
    const closed = signal();
    ws.onmessage = (e) => frames.push(new Uint8Array(e.data as ArrayBuffer));
    ws.onclose = () => closed.resolve();
    await within("the exec WebSocket to open", new Promise((r) => (ws.onopen = r)));
    expect(ws.protocol).toBe("v5.channel.k8s.io");
    ws.send(new Uint8Array([0, ...new TextEncoder().encode("ping\n")]));
    ws.send(new Uint8Array([255, 0]));
    await within("the exec WebSocket to close", closed.promise);
    const stdout = frames.filter((f) => f[0] === 1).map((f) => new TextDecoder().decode(f.subarray(1))).join("");
    expect(stdout).toBe("ping\n");
    const status = JSON.parse(new TextDecoder().decode(frames.find((f) => f[0] === 3)!.subarray(1)));
    expect(status).toEqual({
      metadata: {},
      status: "Failure",
      message: "command terminated with non-zero exit code: error executing command [sh -c cat; exit 5], exit code 5",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "5" }] },
    });
  });

  test("exec output to a client that does not read is held back: the process blocks, memory stays flat", async () => {
    const total = 64 * 1024 * 1024;
    const port = Number(new URL(api.url).port);
    const sock = tls.connect({ host: "127.0.0.1", port, ca: api.caPem, servername: "localhost" });
    await within("the TLS connection", new Promise((r) => sock.once("secureConnect", r)));
    const path = `/api/v1/namespaces/default/pods/web/exec?command=head&command=-c&command=${total}&command=%2Fdev%2Fzero&stdout=true`;
    sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${api.token}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64")}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`);
    let buf: Buffer = await within("the 101 answer", new Promise<Buffer>((r) => sock.once("data", (d: Buffer) => r(d))));
    expect(buf.toString("latin1")).toStartWith("HTTP/1.1 101 Switching Protocols");
    sock.pause(); // the client stops reading
    await waitFor("the exec process's output to be held back for the slow client", () => api.processStats().paused > 0);
    expect(api.processStats().bytesOut).toBeLessThan(total);
    // Now read it all: every byte arrives, then the Success status.
    buf = buf.subarray(buf.indexOf("\r\n\r\n") + 4);
    let stdout = 0;
    let status = "";
    const done = signal();
    const parse = () => {
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        const opcode = buf[0]! & 0x0f;
        buf = buf.subarray(off + len);
        if (opcode === 8) return done.resolve();
        if (payload[0] === 1) stdout += payload.length - 1;
        if (payload[0] === 3) status = payload.subarray(1).toString();
      }
    };
    sock.on("data", (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      parse();
    });
    sock.resume();
    parse();
    await within("all of the output and the close", done.promise, { timeoutMs: 60_000 });
    sock.destroy();
    expect(stdout).toBe(total);
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: "Success" });
  });

  test("port-forward over v4.channel.k8s.io: the port prefix on both channels, then the bytes", async () => {
    const app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("from the pod") });
    api.mapPort("default", "web", 8080, app.port!);
    const url = `${api.url.replace("https", "wss")}/api/v1/namespaces/default/pods/web/portforward?ports=8080`;
    const ws = new WebSocket(url, { protocols: ["v4.channel.k8s.io"], headers: { Authorization: `Bearer ${api.token}` }, tls: { ca: api.caPem } } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const frames: Uint8Array[] = [];
    const closed = signal();
    ws.onmessage = (e) => frames.push(new Uint8Array(e.data as ArrayBuffer));
    ws.onclose = () => closed.resolve();
    await within("the port-forward WebSocket to open", new Promise((r) => (ws.onopen = r)));
    ws.send(new Uint8Array([0, ...new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]));
    await within("the port-forward WebSocket to close when the pod's server does", closed.promise);
    expect([...frames[0]!]).toEqual([0, 8080 & 0xff, 8080 >> 8]);
    expect([...frames[1]!]).toEqual([1, 8080 & 0xff, 8080 >> 8]);
    const bytes = frames.slice(2).filter((f) => f[0] === 0).map((f) => new TextDecoder().decode(f.subarray(1))).join("");
    expect(bytes).toStartWith("HTTP/1.1 200 OK");
    expect(bytes).toEndWith("from the pod");
    void app.stop(true);
  });
});
