// writeWhole (the fast lane's writer) must put on the wire what writeResponse writes for a
// Response of the same answer: status line, fields, Date, framing, keep-alive, body. Compared
// byte for byte over statuses, methods, versions, keep-alive, bodies and announced lengths
// (fields given lower-cased and sorted, the order a Headers gives writeResponse).
import { describe, expect, test } from "bun:test";
import { type ResponseFor, type ResponseSink, type WholeAnswer, writeResponse, writeWhole } from "./http1-response.ts";

function sink(): ResponseSink & { text(): string } {
  const parts: Uint8Array[] = [];
  return {
    closed: false,
    write(bytes) {
      parts.push(bytes.slice());
      return undefined;
    },
    text: () => Buffer.concat(parts).toString("latin1"),
  };
}

/** Both writers' bytes and keep-alive answers for one answer; the Date field made equal. */
async function both(a: WholeAnswer, req: ResponseFor): Promise<{ whole: string; response: string }> {
  const headers = new Headers();
  for (const [n, v] of a.fields) headers.append(n, v);
  if (a.length !== null) headers.set("content-length", a.length);
  const w = sink();
  const r = sink();
  const keptWhole = await writeWhole(w, a, req);
  const keptResponse = await writeResponse(r, new Response(a.body, { status: a.status, statusText: a.statusText, headers }), req);
  const undated = (s: string) => s.replace(/date: [^\r]*\r\n/, "date: -\r\n");
  return { whole: `${keptWhole} ${undated(w.text())}`, response: `${keptResponse} ${undated(r.text())}` };
}

describe("writeWhole", () => {
  const body = new TextEncoder().encode('{"users":[{"email":"x@example.com"}]}');
  const cases: { name: string; a: WholeAnswer }[] = [];
  for (const status of [200, 201, 204, 301, 304, 404, 500]) {
    for (const withBody of [true, false]) {
      for (const length of [null, "0", String(body.byteLength)]) {
        // As the target makes them: an answer with a body announces that body's length (or none).
        if (withBody && length === "0") continue;
        if (!withBody && length === String(body.byteLength) && status !== 304) continue;
        for (const statusText of ["", "Custom Reason"]) {
          cases.push({
            name: `${status} body=${withBody} length=${length} reason=${JSON.stringify(statusText)}`,
            a: {
              status,
              statusText,
              fields: [
                ["cache-control", "no-store"],
                ["content-type", "application/json"],
                ["x-upstream", "a"],
              ],
              length,
              body: withBody && status !== 204 && status !== 304 ? body : null,
            },
          });
        }
      }
    }
  }
  cases.push({ name: "the upstream's Date kept", a: { status: 200, statusText: "OK", fields: [["date", "Mon, 07 Dec 2026 05:00:00 GMT"], ["etag", '"1"']], length: null, body } });
  cases.push({ name: "an empty body", a: { status: 200, statusText: "OK", fields: [], length: null, body: new Uint8Array(0) } });

  const requests: ResponseFor[] = [];
  for (const method of ["GET", "HEAD"]) for (const version of ["1.0", "1.1"] as const) for (const keepAlive of [true, false]) requests.push({ method, version, keepAlive });

  test(`the same bytes and keep-alive as writeResponse of the same Response (${cases.length} answers x ${requests.length} requests)`, async () => {
    let compared = 0;
    for (const c of cases) {
      for (const req of requests) {
        const { whole, response } = await both(c.a, req);
        if (whole !== response) expect({ case: c.name, req, bytes: whole }).toEqual({ case: c.name, req, bytes: response });
        compared++;
      }
    }
    expect(compared).toBe(cases.length * requests.length);
  });

  test("framing and connection fields among the answer's are not written (the writer's own are)", async () => {
    const w = sink();
    const a: WholeAnswer = { status: 200, statusText: "OK", fields: [["Transfer-Encoding", "chunked"], ["Connection", "close"], ["Keep-Alive", "timeout=5"], ["Content-Length", "999"], ["X-A", "1"]], length: null, body };
    expect(await writeWhole(w, a, { method: "GET", version: "1.1", keepAlive: true })).toBe(true);
    const text = w.text();
    expect(text).toStartWith("HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: ");
    expect(text).toEndWith(`\r\ncontent-length: ${body.byteLength}\r\n\r\n${new TextDecoder().decode(body)}`);
    expect(text.toLowerCase()).not.toContain("chunked");
    expect(text.toLowerCase()).not.toContain("keep-alive");
    expect(text).not.toContain("999");
  });
});
