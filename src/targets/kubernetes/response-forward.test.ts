import { afterAll, expect, test } from "bun:test";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { type Completion, forwardRequest } from "./response-forward.ts";
import { upstreamOf } from "./upstream.ts";
import { wholeBody } from "./whole-response.ts";

// A plain-HTTP stand-in: /small answers at once, /big answers 3 MiB in 64 KiB chunks, /held sends
// one line and then nothing until `release` is called.
let release = () => {};
const released = new Promise<void>((r) => (release = r));
const big = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = i % 251;
const server = Bun.serve({
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/small") return Response.json({ kind: "Pod", metadata: { name: "p" } });
    if (path === "/big")
      return new Response(
        new ReadableStream({
          async pull(ctl) {
            for (let o = 0; o < big.length; o += 65536) ctl.enqueue(big.subarray(o, o + 65536));
            ctl.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      );
    return new Response(
      new ReadableStream({
        async start(ctl) {
          ctl.enqueue(new TextEncoder().encode('{"type":"ADDED"}\n'));
          await released;
          ctl.close();
        },
      }),
      { headers: { "content-type": "application/json" } },
    );
  },
});
afterAll(() => {
  release();
  server.stop(true);
});

function forward(target: string, verb: string, streaming: boolean, complete: (c: Completion) => void) {
  return forwardRequest({
    method: "GET",
    target,
    headers: new Headers(),
    body: null,
    facts: { verb } as unknown as KubernetesRequestFacts,
    impersonate: [],
    upstream: upstreamOf({ url: `http://127.0.0.1:${server.port}` }),
    masks: { json: [], columns: [], detectors: [] },
    secrets: false,
    masker: () => null,
    maskMax: 1 << 20,
    timeoutMs: 0,
    streaming,
    signal: new AbortController().signal,
    complete,
  });
}

test("a get is read whole and handed over as bytes with a Content-Length, its record counting them", async () => {
  const done: Completion[] = [];
  const res = await forward("/small", "get", false, (c) => done.push(c));
  const whole = wholeBody(res);
  expect(whole).toBeDefined();
  expect(JSON.parse(Buffer.from(whole!).toString())).toEqual({ kind: "Pod", metadata: { name: "p" } });
  expect(res.headers.get("content-length")).toBe(String(whole!.byteLength));
  expect(done).toEqual([{ status: 200, bytesOut: whole!.byteLength, outcome: "ok" }]);
});

test("an answer past the whole-read limit streams on, byte for byte, what was read first included", async () => {
  const done: Completion[] = [];
  const res = await forward("/big", "list", false, (c) => done.push(c));
  expect(wholeBody(res)).toBeUndefined();
  const got = Buffer.from(await res.arrayBuffer());
  expect(got.equals(big)).toBe(true);
  expect(done).toEqual([{ status: 200, bytesOut: big.length, outcome: "ok" }]);
});

test("a streaming request (a watch) is handed over before the API server's answer ends", async () => {
  const done: Completion[] = [];
  const res = await forward("/held", "watch", true, (c) => done.push(c));
  expect(wholeBody(res)).toBeUndefined();
  const reader = res.body!.getReader();
  const first = await reader.read();
  expect(Buffer.from(first.value!).toString()).toBe('{"type":"ADDED"}\n');
  expect(done).toEqual([]);
  release();
  while (!(await reader.read()).done);
  expect(done).toEqual([{ status: 200, bytesOut: 17, outcome: "ok" }]);
});
