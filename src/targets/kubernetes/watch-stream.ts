// A watch response (application/json;stream=watch) masked event by event as it streams: the
// bytes are cut into whole top-level JSON documents by a scanner that knows strings and
// escapes (not by newlines, which a server need not send), each is masked and sent on with a
// newline. An event over `maxEvent` bytes, or bytes that are not JSON, end the stream with an
// error: the rest of a watch is never passed unmasked.
import { GatewayError } from "../../core/errors.ts";

export interface WatchMaskStats {
  masked: number;
  bytesOut: number;
}

/** Cuts a byte stream into whole JSON documents (objects or arrays at the top level). */
export class JsonDocumentSplitter {
  private parts: Uint8Array[] = [];
  private size = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private started = false;

  constructor(private readonly maxDocument: number) {}

  /** The documents this chunk completes, as bytes. Throws E_MASK on bytes outside a document or one too large. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.started) {
        if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
          start = i + 1;
          continue;
        }
        if (b !== 0x7b && b !== 0x5b) throw new GatewayError("E_MASK", "the watch stream holds something other than JSON documents, cannot mask it: stream ended");
        this.started = true;
        start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (b === 0x5c) this.escape = true;
        else if (b === 0x22) this.inString = false;
        continue;
      }
      if (b === 0x22) this.inString = true;
      else if (b === 0x7b || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          this.take(chunk.subarray(start, i + 1));
          out.push(this.flushDocument());
          this.started = false;
          start = i + 1;
        }
      }
    }
    if (this.started) this.take(chunk.subarray(start));
    return out;
  }

  /** Whether a document is cut off (the stream ended inside one). */
  get partial(): boolean {
    return this.started;
  }

  private take(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.size += bytes.length;
    if (this.size > this.maxDocument) throw new GatewayError("E_MASK", `a watch event over ${this.maxDocument} bytes cannot be masked (mask_max_size): stream ended`);
    this.parts.push(bytes.slice());
  }

  private flushDocument(): Uint8Array {
    const doc = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    return doc;
  }
}

/** A TransformStream that masks each watch event with `mask` (text in, text out). */
export function maskingWatchStream(mask: (json: string) => { text: string; masked: number }, maxEvent: number, stats: WatchMaskStats, onError: (e: unknown) => void): TransformStream<Uint8Array, Uint8Array> {
  const splitter = new JsonDocumentSplitter(maxEvent);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      try {
        for (const doc of splitter.push(chunk)) {
          const r = mask(decoder.decode(doc));
          stats.masked += r.masked;
          const bytes = encoder.encode(`${r.text}\n`);
          stats.bytesOut += bytes.byteLength;
          ctl.enqueue(bytes);
        }
      } catch (e) {
        onError(e);
        ctl.error(e);
      }
    },
    flush(ctl) {
      if (splitter.partial) {
        const e = new GatewayError("E_MASK", "the watch stream ended inside an event");
        onError(e);
        ctl.error(e);
      }
    },
  });
}
