// The event streams the gateway sends an agent (a POST's answer stream, the GET stream, the
// legacy transport's stream): each event has an id "<stream>.<n>", and the stream keeps what it
// sent (bounded) so that an agent that lost the connection resumes with Last-Event-ID and gets the
// rest, the response included, exactly once.
import type { JsonRpcMessage } from "./json-rpc.ts";
import { writeMessage } from "./json-rpc.ts";

const encoder = new TextEncoder();
/** Events kept for resumption per stream, and their bytes. */
const KEEP_EVENTS = 1000;
const KEEP_BYTES = 2 * 1024 * 1024;

export class EventStream {
  #seq = 0;
  #kept: { seq: number; bytes: Uint8Array }[] = [];
  #keptBytes = 0;
  #writer: ReadableStreamDefaultController<Uint8Array> | null = null;
  #ended = false;
  /** Set by the owner: the stream lost its reader (the agent went away). */
  onDetach: (() => void) | null = null;

  constructor(
    readonly id: string,
    /** Legacy HTTP+SSE: events are `event: message` and the first is `event: endpoint`. */
    private readonly legacy = false,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  get attached(): boolean {
    return this.#writer !== null;
  }

  /** Sends one message as an event (kept for resumption); `text` is its JSON-RPC text when already made. */
  send(m: JsonRpcMessage, text?: string): void {
    this.#event(this.legacy ? "message" : null, text ?? writeMessage(m));
  }

  /** A stream of this one message, ended: its bytes, for a body sent whole. */
  sendWhole(m: JsonRpcMessage, text?: string): Uint8Array {
    this.send(m, text);
    this.end();
    return this.#kept[this.#kept.length - 1]!.bytes;
  }

  /** The legacy transport's first event: where to POST. */
  endpoint(url: string): void {
    this.#event("endpoint", url);
  }

  #event(event: string | null, data: string): void {
    if (this.#ended) return;
    const seq = ++this.#seq;
    const bytes = encoder.encode(`${event !== null ? `event: ${event}\n` : ""}id: ${this.id}.${seq}\ndata: ${data.replace(/\n/g, "\ndata: ")}\n\n`);
    this.#kept.push({ seq, bytes });
    this.#keptBytes += bytes.byteLength;
    while (this.#kept.length > KEEP_EVENTS || this.#keptBytes > KEEP_BYTES) this.#keptBytes -= this.#kept.shift()!.bytes.byteLength;
    this.#write(bytes);
  }

  /** A comment line: keeps proxies from closing an idle stream; never resumed. */
  comment(text: string): void {
    this.#write(encoder.encode(`: ${text.replace(/\n/g, " ")}\n\n`));
  }

  #write(bytes: Uint8Array): void {
    const w = this.#writer;
    if (w === null) return;
    try {
      w.enqueue(bytes);
    } catch {
      this.#detach();
    }
  }

  /** No more events: closes the reader's stream once it has what was sent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const w = this.#writer;
    this.#writer = null;
    try {
      w?.close();
    } catch {
      // the reader left already
    }
  }

  #detach(): void {
    this.#writer = null;
    this.onDetach?.();
  }

  /**
   * A body for a Response: the events after `afterSeq` (resumption), then what comes. Only one
   * reader at a time: a new one replaces the old.
   */
  body(afterSeq = 0): ReadableStream<Uint8Array> {
    const old = this.#writer;
    this.#writer = null;
    try {
      old?.close();
    } catch {
      // gone already
    }
    let mine: ReadableStreamDefaultController<Uint8Array> | null = null;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        mine = controller;
        for (const e of this.#kept) if (e.seq > afterSeq) controller.enqueue(e.bytes);
        if (this.#ended) {
          controller.close();
          return;
        }
        this.#writer = controller;
      },
      cancel: () => {
        // Only when this reader is still the stream's (not one a resumption replaced).
        if (mine !== null && this.#writer === mine) this.#detach();
      },
    });
  }

  /** Whether an event id belongs to this stream, and its number. */
  static parseEventId(id: string): { stream: string; seq: number } | null {
    const dot = id.lastIndexOf(".");
    if (dot <= 0) return null;
    const seq = Number(id.slice(dot + 1));
    if (!Number.isSafeInteger(seq) || seq < 0) return null;
    return { stream: id.slice(0, dot), seq };
  }
}
