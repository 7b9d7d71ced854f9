// kubectl port-forward through the gateway: kubectl 1.32 tunnels SPDY/3 in a WebSocket
// (subprotocol SPDY/3.1+portforward.k8s.io, with no ports= query); the gateway reads each
// stream's port header, audits the ports used, and, when the request names ports= (what was
// decided), lets through only those. Real kubectl
// carries HTTP requests to a Bun server behind the stand-in's pod port; a hand-made SPDY client
// (Bun's WebSocket, node's zlib) asks for a port it was not allowed and gets that stream reset.
import { afterAll, beforeAll, expect, test } from "bun:test";
import zlib from "node:zlib";
import type { AuditRecord } from "../src/audit/record.ts";
import { SPDY3_DICTIONARY } from "../src/targets/kubernetes/spdy-dictionary.ts";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { openRawWebSocket } from "./kubernetes-exec-wsclient.ts";
import { waitFor } from "./helpers/wait.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;
let app: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  k = await startKubeSetup();
  k.api.addPod("staging", "web", { containers: ["app"] });
  app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => new Response(`pod app saw ${req.method} ${new URL(req.url).pathname} ${(await req.text()).length}\n`) });
  k.api.mapPort("staging", "web", 8080, app.port!);
}, 60_000);

afterAll(async () => {
  void app?.stop(true);
  await k?.stop();
});

const requestRecords = (all: AuditRecord[]) => all.filter((r) => r.type === "request" && (r.action as { subresource?: string }).subresource === "portforward");

test("kubectl port-forward carries HTTP requests to the pod's port through the gateway; the record has the port and bytes", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "port-forward", "-n", "staging", "pod/web", ":8080"], { env: { ...process.env, HOME: k.dir }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { stdout: "", stderr: "" };
  const pump = async (s: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const d = new TextDecoder();
    for await (const c of s) out[key] += d.decode(c, { stream: true });
  };
  void pump(p.stdout, "stdout");
  void pump(p.stderr, "stderr");
  try {
    const m = await waitFor("kubectl port-forward to say where it listens", () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out.stdout));
    const local = Number(m[1]);
    const res = await fetch(`http://127.0.0.1:${local}/hello/there`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("pod app saw GET /hello/there 0\n");
    const big = await fetch(`http://127.0.0.1:${local}/upload`, { method: "POST", body: "x".repeat(300_000) });
    expect(await big.text()).toBe("pod app saw POST /upload 300000\n");
    expect(out.stderr).toBe("");
  } finally {
    p.kill("SIGINT");
    await p.exited;
  }
  const up = k.api.requests.filter((q) => q.path === "/api/v1/namespaces/staging/pods/web/portforward").at(-1)!;
  expect(up.websocketProtocol).toContain("SPDY/3.1+portforward.k8s.io");
  expect(up.authorization).toBe(`Bearer ${k.api.token}`);
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => requestRecords(rs).length > 0, "the port-forward's request record");
  const d = requestRecords(all).at(-1)!.details as { status: number; websocket: string; ports: Record<string, { streams: number; bytes_in: number; bytes_out: number }> };
  expect(d.status).toBe(101);
  expect(d.websocket).toBe("SPDY/3.1+portforward.k8s.io");
  // Each connection is an error and a data stream (fetch may reuse one); the upload's bytes went in.
  expect(d.ports["8080"]!.streams).toBeGreaterThanOrEqual(2);
  expect(d.ports["8080"]!.streams % 2).toBe(0);
  expect(d.ports["8080"]!.bytes_in).toBeGreaterThan(300_000);
  expect(d.ports["8080"]!.bytes_out).toBeGreaterThan(0);
}, 90_000);

// ---- a hand-made SPDY client ----

function deflateBlock(stream: zlib.Deflate, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    stream.on("data", onData);
    stream.write(data);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off("data", onData);
      resolve(Buffer.concat(out));
    });
  });
}

function headerBlock(h: Record<string, string>): Uint8Array {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(Object.keys(h).length);
  parts.push(n);
  for (const [k, v] of Object.entries(h)) {
    for (const s of [k, v]) {
      const b = Buffer.from(s);
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

function control(type: number, payload: Uint8Array): Uint8Array {
  const h = Buffer.from([0x80, 3, 0, type, 0, (payload.length >> 16) & 0xff, (payload.length >> 8) & 0xff, payload.length & 0xff]);
  return Buffer.concat([h, payload]);
}

async function synStream(z: zlib.Deflate, id: number, headers: Record<string, string>): Promise<Uint8Array> {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(id, 0);
  return control(1, Buffer.concat([p, await deflateBlock(z, headerBlock(headers))]));
}

function dataFrame(id: number, data: Uint8Array): Uint8Array {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h[5] = (data.length >> 16) & 0xff;
  h[6] = (data.length >> 8) & 0xff;
  h[7] = data.length & 0xff;
  return Buffer.concat([h, data]);
}

interface Frame {
  control: boolean;
  type: number;
  stream: number;
  payload: Buffer;
}

test("a stream whose port the request did not name is reset (REFUSED_STREAM) and never reaches the cluster; the decided port still works after it", async () => {
  const token = await k.token("alice", ["developers"]);
  const path = "/api/v1/namespaces/staging/pods/web/portforward?ports=8080";
  const ws = await openRawWebSocket({ port: k.gw.port("prod-k8s"), path, token, protocols: ["SPDY/3.1+portforward.k8s.io"] });
  expect(ws.status).toBe(101);
  let buf = Buffer.alloc(0);
  const frames: Frame[] = [];
  let seen = 0;
  const read = () => {
    for (; seen < ws.messages.length; seen++) buf = Buffer.concat([buf, ws.messages[seen]!.data]);
    while (buf.length >= 8) {
      const len = (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!;
      if (buf.length < 8 + len) break;
      const f = buf.subarray(0, 8 + len);
      const isControl = (f[0]! & 0x80) !== 0;
      frames.push({ control: isControl, type: isControl ? f.readUInt16BE(2) : 0, stream: isControl ? (len >= 4 ? f.readUInt32BE(8) & 0x7fffffff : 0) : f.readUInt32BE(0) & 0x7fffffff, payload: Buffer.from(f.subarray(8)) });
      buf = buf.subarray(8 + len);
    }
    return frames;
  };
  const send = (b: Uint8Array) => ws.send(2, b);
  expect(ws.protocol).toBe("SPDY/3.1+portforward.k8s.io");
  const frameWhere = (f: (x: Frame) => boolean) => () => read().find(f);
  const before = k.api.requests.length;
  const z = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  send(await synStream(z, 1, { streamtype: "error", port: "22", requestid: "0" }));
  const rst = await waitFor("RST_STREAM for the stream to port 22", frameWhere((f) => f.control && f.type === 3 && f.stream === 1));
  expect(rst.payload.readUInt32BE(4)).toBe(3); // REFUSED_STREAM
  // The same compression context goes on: the gateway re-encodes what it passes upstream.
  send(await synStream(z, 3, { streamtype: "error", port: "8080", requestid: "1" }));
  send(await synStream(z, 5, { streamtype: "data", port: "8080", requestid: "1" }));
  await waitFor("SYN_REPLY for the data stream to port 8080", frameWhere((f) => f.control && f.type === 2 && f.stream === 5));
  send(dataFrame(5, Buffer.from("GET /through-spdy HTTP/1.0\r\nHost: pod\r\n\r\n")));
  await waitFor("the pod app's answer on the data stream", () =>
    read()
      .filter((f) => !f.control && f.stream === 5)
      .map((f) => f.payload.toString())
      .join("")
      .includes("pod app saw GET /through-spdy 0"),
  );
  expect(frames.some((f) => f.control && f.type === 3 && f.stream !== 1)).toBe(false);
  ws.close(1000);
  await ws.ended;
  z.close();
  expect(k.api.requests.length - before).toBe(0); // one upgrade, made before `before`
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => requestRecords(rs).some((r) => (r.details as { refused_ports?: unknown }).refused_ports !== undefined), "the record of the port-forward with a refused port");
  const d = requestRecords(all).find((r) => (r.details as { refused_ports?: unknown }).refused_ports !== undefined)!.details as { refused_ports: Record<string, number>; ports: Record<string, { streams: number }> };
  expect(d.refused_ports).toEqual({ "22": 1 });
  expect(d.ports["8080"]!.streams).toBe(2);
}, 60_000);
