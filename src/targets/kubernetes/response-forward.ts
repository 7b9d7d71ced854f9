// Forwards one decided request to the API server and brings its answer back: streamed as it
// comes (watch, logs -f: no buffering, the runtime's backpressure) when nothing must be masked;
// when a mask applies, read as JSON and masked (a watch event by event), and refused (502
// Status) if it is anything the gateway cannot mask. `complete` is called once, with what the
// caller got, for the request record.
import { errorMessage } from "../../core/errors.ts";
import type { Http1Answer } from "../../gate/http1-client.ts";
import { NO_MASKS, type KubernetesRequestFacts, type Masks } from "../../core/types.ts";
import { collectBody } from "../../masking/collect-body.ts";
import type { JsonMasker } from "../../masking/json-masker.ts";
import { createKubeMasker, needsMasking } from "./response-masker.ts";
import { statusResponse } from "./status.ts";
import { asksForTable, upstreamHeaders, withFullRowObjects, type Upstream } from "./upstream.ts";
import type { UpstreamPool } from "./upstream-pool.ts";
import { maskingWatchStream } from "./watch-stream.ts";
import { wholeResponse } from "./whole-response.ts";

export interface Completion {
  readonly status: number;
  readonly bytesOut: number;
  readonly outcome: "ok" | "masked" | "mask_refused" | "upstream_error" | "client_closed" | "client_error" | "not_supported";
  readonly error?: string;
  readonly masked?: number;
  /** What else the record says (an exec's exit status, bytes each way, its recording). */
  readonly details?: Record<string, unknown>;
}

export interface ForwardRequest {
  readonly method: string;
  /** Path and query, exactly as decided. */
  readonly target: string;
  readonly headers: Headers;
  readonly body: Uint8Array | null;
  readonly facts: KubernetesRequestFacts;
  /** Impersonation headers the policy allowed, passed on as received. */
  readonly impersonate: readonly (readonly [string, string])[];
  readonly upstream: Upstream;
  readonly masks: Masks;
  /** Secret data must be masked (a request on core secrets, mask_secret_data on). */
  readonly secrets: boolean;
  readonly masker: (masks: Masks) => JsonMasker | null;
  readonly maskMax: number;
  /** 0: none (watches and log follows last as long as they last). */
  readonly timeoutMs: number;
  /** A watch or a log follow: the answer streams as it comes, never read whole first. */
  readonly streaming?: boolean;
  readonly signal: AbortSignal;
  readonly complete: (c: Completion) => void;
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-authenticate", "transfer-encoding", "upgrade", "trailer"];
const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP);

/** The most of an answer that is not streamed (not a watch, not a log follow) read whole before it is written. */
export const WHOLE_MAX = 1024 * 1024;

function isJson(contentType: string | null): boolean {
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return media === "application/json";
}

/** complete() called once whatever calls it (an abort and the stream's end may both try). */
function once(f: (c: Completion) => void): (c: Completion) => void {
  let done = false;
  return (c) => {
    if (done) return;
    done = true;
    f(c);
  };
}

function upstreamSignal(f: Pick<ForwardRequest, "signal" | "timeoutMs">): AbortSignal {
  return f.timeoutMs > 0 ? AbortSignal.any([f.signal, AbortSignal.timeout(f.timeoutMs)]) : f.signal;
}

function unreachable(f: Pick<ForwardRequest, "signal">, complete: (c: Completion) => void, e: unknown): Response {
  const message = `the API server could not be reached: ${errorMessage(e)}`;
  complete({ status: f.signal.aborted ? 499 : 502, bytesOut: 0, outcome: f.signal.aborted ? "client_closed" : "upstream_error", error: errorMessage(e) });
  return statusResponse(502, message);
}

/** An answer read whole, to be written with one end(): its status, header lines as written (name, value, ...), body. */
export interface WholeAnswer {
  readonly status: number;
  readonly headers: string[];
  readonly body: Uint8Array;
}

/** What forwardPlain needs: a GET whose answer is not masked and does not stream. */
export type PlainForward = Pick<ForwardRequest, "target" | "facts" | "upstream" | "masker" | "maskMax" | "timeoutMs" | "signal" | "complete"> & {
  /** The upstream request's header fields (upstreamFields of the raw lines), for fetch. */
  readonly fields: Record<string, string>;
  /** The same as the pool's header block (fieldBlock), or null: fetch. */
  readonly block: string | null;
  /** The lane's own connections to the API server (upstream-pool.ts); null: fetch. */
  readonly pool: UpstreamPool | null;
};

/**
 * The Kubernetes fast lane's forward (kubernetes-target.ts): the same request upstream as
 * forwardRequest sends for a GET with no mask that does not stream, and the same answer, on the
 * lane's keep-alive connections (Http1Pool: no fetch, no client thread) when there are both a
 * pool and a header block (fieldBlock). One of known length up to WHOLE_MAX comes back as a WholeAnswer (no Response, no
 * Headers copy, no reader); anything else as forwardRequest's Response.
 */
export async function forwardPlain(f: PlainForward): Promise<WholeAnswer | Response> {
  const complete = once(f.complete);
  if (f.pool === null || f.block === null) return forwardPlainFetch(f, complete);
  let a: Http1Answer;
  try {
    a = await f.pool.get(f.target, f.block, upstreamSignal(f));
  } catch (e) {
    return unreachable(f, complete, e);
  }
  if (a.status < 200 || a.status > 599) {
    const error = `the API server answered with status ${a.status}`;
    await a.stream?.cancel().catch(() => undefined);
    complete({ status: 502, bytesOut: 0, outcome: "upstream_error", error });
    return statusResponse(502, error);
  }
  if (a.body === null) {
    // Past WHOLE_MAX, of unknown length, or none at all (204, 304): as forwardRequest answers it.
    const headers = new Headers();
    for (const [name, value] of a.headers) headers.append(name, value);
    return answerOf(new Response(a.stream, { status: a.status, statusText: a.statusText, headers }), { ...f, masks: NO_MASKS, secrets: false, streaming: false }, complete);
  }
  // As forwardRequest's whole answer: the upstream's fields without hop-by-hop ones, the length of what is sent.
  const headers: string[] = [];
  for (const [raw, value] of a.headers) {
    const name = raw.toLowerCase();
    if (!HOP_BY_HOP_SET.has(name) && name !== "content-length") headers.push(name, value);
  }
  headers.push("content-length", String(a.body.byteLength));
  complete({ status: a.status, bytesOut: a.body.byteLength, outcome: "ok" });
  return { status: a.status, headers, body: a.body };
}

/** forwardPlain through fetch: for fields the pool's header block cannot carry as fetch does, and a base URL it cannot address. */
async function forwardPlainFetch(f: PlainForward, complete: (c: Completion) => void): Promise<WholeAnswer | Response> {
  let res: Response;
  try {
    res = await fetch(f.upstream.base + f.target, { method: "GET", headers: f.fields, redirect: "manual", signal: upstreamSignal(f), decompress: false, tls: f.upstream.tls } as RequestInit);
  } catch (e) {
    return unreachable(f, complete, e);
  }
  const length = Number(res.headers.get("content-length") ?? Number.NaN);
  if (res.body === null || !(length >= 0 && length <= WHOLE_MAX)) return answerOf(res, { ...f, masks: NO_MASKS, secrets: false, streaming: false }, complete);
  let body: Uint8Array;
  try {
    body = await res.bytes();
  } catch (e) {
    complete({ status: f.signal.aborted ? 499 : 502, bytesOut: 0, outcome: f.signal.aborted ? "client_closed" : "upstream_error", error: errorMessage(e) });
    return statusResponse(502, `the API server's answer broke off: ${errorMessage(e)}`);
  }
  // As forwardRequest's whole answer: the upstream's fields without hop-by-hop ones, the length of what is sent.
  const headers: string[] = [];
  res.headers.forEach((value, name) => {
    if (!HOP_BY_HOP_SET.has(name)) headers.push(name, name === "content-length" ? String(body.byteLength) : value);
  });
  complete({ status: res.status, bytesOut: body.byteLength, outcome: "ok" });
  return { status: res.status, headers, body };
}

export async function forwardRequest(f: ForwardRequest): Promise<Response> {
  const complete = once(f.complete);
  const masking = needsMasking(f.secrets, f.masks);
  if (masking && f.masks.columns.length > 0) {
    const message = `the deciding rules mask table columns (${f.masks.columns.join(", ")}), which a Kubernetes response does not have: refused; scope those rules to database targets`;
    complete({ status: 502, bytesOut: 0, outcome: "mask_refused", error: message });
    return statusResponse(502, message);
  }
  const headers = upstreamHeaders(f.headers, f.upstream, { impersonate: f.impersonate, jsonOnly: masking });
  // JSON-path masks read a Table row's object: ask for the whole object in each row.
  const target = masking && f.masks.json.length > 0 && asksForTable(headers.get("accept")) ? withFullRowObjects(f.target) : f.target;
  const signal = upstreamSignal(f);
  let res: Response;
  try {
    res = await fetch(f.upstream.base + target, {
      method: f.method,
      headers,
      ...(f.body !== null && f.body.byteLength > 0 ? { body: f.body } : {}),
      redirect: "manual",
      signal,
      decompress: masking,
      tls: f.upstream.tls,
    } as RequestInit);
  } catch (e) {
    return unreachable(f, complete, e);
  }
  return answerOf(res, f, complete, masking);
}

/** The API server's answer as the caller gets it: masked, read whole, or streamed (see the top of this file). */
async function answerOf(res: Response, f: Pick<ForwardRequest, "facts" | "masks" | "secrets" | "masker" | "maskMax" | "streaming" | "signal">, complete: (c: Completion) => void, masking = false): Promise<Response> {
  const out = new Headers(res.headers);
  for (const h of HOP_BY_HOP) out.delete(h);

  if (masking && res.body !== null) {
    const contentType = res.headers.get("content-type");
    if (!isJson(contentType)) {
      await res.body.cancel().catch(() => undefined);
      const message = `gatehouse: the API server answered ${JSON.stringify(contentType ?? "without a content type")}, which the gateway cannot mask, and masks apply to this request: refused`;
      complete({ status: 502, bytesOut: 0, outcome: "mask_refused", error: message });
      return statusResponse(502, message);
    }
    const masker = createKubeMasker({ secrets: f.secrets, rule: f.masker(f.masks), cells: f.masks.detectors.length > 0 ? f.masker({ json: [], columns: [], detectors: f.masks.detectors }) : null });
    out.delete("content-length");
    out.delete("content-encoding");
    if (f.facts.verb === "watch") {
      const stats = { masked: 0, bytesOut: 0 };
      const masked = res.body.pipeThrough(
        maskingWatchStream((t) => masker.maskText(t), f.maskMax, stats, (e) => complete({ status: res.status, bytesOut: stats.bytesOut, outcome: "mask_refused", error: errorMessage(e), masked: stats.masked })),
      );
      const counted = masked.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          flush() {
            complete({ status: res.status, bytesOut: stats.bytesOut, outcome: "masked", masked: stats.masked });
          },
        }),
      );
      f.signal.addEventListener("abort", () => complete({ status: 499, bytesOut: stats.bytesOut, outcome: "client_closed", masked: stats.masked }), { once: true });
      return new Response(counted, { status: res.status, statusText: res.statusText, headers: out });
    }
    try {
      const raw = await collectBody(res.body, f.maskMax);
      const r = masker.maskText(Buffer.from(raw).toString("utf8"));
      const bytes = Buffer.from(r.text, "utf8");
      out.set("content-length", String(bytes.byteLength));
      complete({ status: res.status, bytesOut: bytes.byteLength, outcome: "masked", masked: r.masked });
      return wholeResponse(bytes, { status: res.status, statusText: res.statusText, headers: out });
    } catch (e) {
      complete({ status: 502, bytesOut: 0, outcome: "mask_refused", error: errorMessage(e) });
      return statusResponse(502, `gatehouse: ${errorMessage(e)}`);
    }
  }

  if (res.body === null) {
    complete({ status: res.status, bytesOut: 0, outcome: "ok" });
    return new Response(null, { status: res.status, statusText: res.statusText, headers: out });
  }
  // A get, a list, a Status: read whole (up to WHOLE_MAX) and written with one end(), which costs
  // a fraction of a reader loop through Web streams. Past WHOLE_MAX, what was read goes first and
  // the rest streams as below.
  let body: ReadableStream<Uint8Array> = res.body;
  if (f.streaming !== true) {
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let ended = false;
    try {
      while (size <= WHOLE_MAX) {
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        chunks.push(value);
        size += value.byteLength;
      }
    } catch (e) {
      complete({ status: f.signal.aborted ? 499 : 502, bytesOut: 0, outcome: f.signal.aborted ? "client_closed" : "upstream_error", error: errorMessage(e) });
      return statusResponse(502, `the API server's answer broke off: ${errorMessage(e)}`);
    }
    if (ended) {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      out.set("content-length", String(whole.byteLength));
      complete({ status: res.status, bytesOut: whole.byteLength, outcome: "ok" });
      return wholeResponse(whole, { status: res.status, statusText: res.statusText, headers: out });
    }
    let i = 0;
    body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (i < chunks.length) {
          ctl.enqueue(chunks[i]!);
          chunks[i++] = new Uint8Array(0);
          return;
        }
        const { value, done } = await reader.read();
        if (done) ctl.close();
        else ctl.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
  }
  // Streamed through, counted: a watch or a log follow stays open as long as the server sends.
  let bytes = 0;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        bytes += chunk.byteLength;
        ctl.enqueue(chunk);
      },
      flush() {
        complete({ status: res.status, bytesOut: bytes, outcome: "ok" });
      },
    }),
  );
  f.signal.addEventListener("abort", () => complete({ status: 499, bytesOut: bytes, outcome: "client_closed" }), { once: true });
  return new Response(counted, { status: res.status, statusText: res.statusText, headers: out });
}
