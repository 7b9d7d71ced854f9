// Server-Sent Events as the HTML spec reads them, incrementally: what an upstream MCP server
// streams (a POST's answer, the GET stream, the legacy transport). Bounded: an event larger than
// the limit is an error, not a growing buffer.
import { GatewayError } from "../../../core/errors.ts";

export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

export class SseParser {
  #buffer = "";
  #event = "";
  #data: string[] = [];
  #dataSize = 0;
  #id: string | undefined;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly maxEventBytes: number) {}

  /** The whole events in this chunk (and those it completes). Throws E_PROTOCOL on bad UTF-8 or an event over the limit. */
  push(chunk: Uint8Array): SseEvent[] {
    let text: string;
    try {
      text = this.#decoder.decode(chunk, { stream: true });
    } catch {
      throw new GatewayError("E_PROTOCOL", "the upstream's event stream is not valid UTF-8");
    }
    this.#buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.#buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (this.#buffer[nl] === "\r" && nl === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + (this.#buffer.startsWith("\r\n", nl) ? 2 : 1));
      const e = this.#line(line);
      if (e !== null) out.push(e);
    }
    if (this.#buffer.length + this.#dataSize > this.maxEventBytes) throw new GatewayError("E_PROTOCOL", `an upstream event is larger than ${this.maxEventBytes} bytes`);
    return out;
  }

  #line(line: string): SseEvent | null {
    if (line === "") {
      if (this.#data.length === 0) {
        this.#event = "";
        return null;
      }
      const e: SseEvent = { event: this.#event || "message", data: this.#data.join("\n"), ...(this.#id !== undefined ? { id: this.#id } : {}) };
      this.#event = "";
      this.#data = [];
      this.#dataSize = 0;
      return e;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        this.#dataSize += value.length + 1;
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      default:
        break;
    }
    return null;
  }
}

/** Reads an event stream body, calling onEvent per event; resolves when it ends. */
export async function readSse(body: ReadableStream<Uint8Array>, maxEventBytes: number, onEvent: (e: SseEvent) => void, signal?: AbortSignal): Promise<void> {
  const parser = new SseParser(maxEventBytes);
  const reader = body.getReader();
  const onAbort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const e of parser.push(value)) onEvent(e);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
