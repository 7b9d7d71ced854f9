// The chunked transfer coding of a request body (RFC 9112 §7.1), decoded as bytes come: chunk
// data out, extensions and trailer fields read and dropped. Strict like the head parser: a
// size that is not hex, a missing CRLF or a control byte ends the request with a reason.

export class ChunkedError extends Error {}

const CR = 13;
const LF = 10;

/** Longest chunk-size line (size, extensions) and trailer section taken. */
const MAX_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

type State = "size" | "data" | "data-crlf" | "trailers" | "done";

export class ChunkedDecoder {
  private state: State = "size";
  private remaining = 0;
  /** A size or trailer line split across chunks. */
  private line: Uint8Array = new Uint8Array(0);
  private trailerBytes = 0;

  get done(): boolean {
    return this.state === "done";
  }

  /**
   * Decodes what `chunk` holds. Returns the body bytes it carried (views into `chunk`) and how
   * many bytes of it belong to this body (the rest is the next request, pipelined). Throws
   * ChunkedError on malformed framing.
   */
  push(chunk: Uint8Array): { data: Uint8Array[]; used: number } {
    const data: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.remaining, chunk.length - i);
        data.push(chunk.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = "data-crlf";
        continue;
      }
      // The other states read whole lines.
      const lf = chunk.indexOf(LF, i);
      const piece = chunk.subarray(i, lf < 0 ? chunk.length : lf + 1);
      i += piece.length;
      const line = this.line.length === 0 ? piece : concat(this.line, piece);
      if (lf < 0) {
        if (line.length > MAX_LINE) throw new ChunkedError("a chunk-size or trailer line is over 4096 bytes");
        this.line = line;
        continue;
      }
      this.line = new Uint8Array(0);
      if (line.length < 2 || line[line.length - 2] !== CR) throw new ChunkedError("a chunk line ends in a bare LF, not CRLF");
      const text = Buffer.from(line.buffer, line.byteOffset, line.length - 2).toString("latin1");
      if (this.state === "data-crlf") {
        if (text !== "") throw new ChunkedError("chunk data is longer than its size says");
        this.state = "size";
      } else if (this.state === "size") {
        const m = /^([0-9A-Fa-f]{1,12})((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"[^"\\\x00-\x08\x0a-\x1f\x7f]*"))?)*)$/.exec(text);
        if (m === null) throw new ChunkedError(`a chunk size line is not a hex size with extensions: ${JSON.stringify(text.slice(0, 60))}`);
        this.remaining = parseInt(m[1]!, 16);
        this.state = this.remaining === 0 ? "trailers" : "data";
      } else {
        // trailers: field lines until an empty one; read for their syntax, never passed on.
        if (text === "") {
          this.state = "done";
          break;
        }
        this.trailerBytes += line.length;
        if (this.trailerBytes > MAX_TRAILERS) throw new ChunkedError("the trailer section is over 16 KiB");
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(text)) throw new ChunkedError(`a trailer field line is malformed: ${JSON.stringify(text.slice(0, 60))}`);
      }
    }
    return { data, used: i };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
