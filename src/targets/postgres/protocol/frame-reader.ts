// Splits a byte stream of typed messages (type byte, int32 length, body) into whole frames,
// per connection. Whole frames inside a chunk are handed out as views of that chunk (no copy);
// only a frame split across chunks is gathered, into its own exact-size buffer.
import { describeTypeByte } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";

/** Called once per whole message. body and raw are views: of the pushed chunk, or of a buffer owned by this frame. */
export type FrameHandler = (type: number, body: Uint8Array, raw: Uint8Array) => void;

/**
 * Offered each whole message first, as bytes start..end of `buf` (type byte included), before
 * any view of it is made; returns true when it handled the message (onFrame is then not
 * called). Lets the hot path (rows of a large result) go by with no object made per message.
 */
export type RangeHandler = (type: number, buf: Uint8Array, start: number, end: number) => boolean;

export interface FrameReaderOptions {
  /** 256 entries, non-zero for each allowed type byte. */
  readonly knownTypes: Uint8Array;
  /** Largest allowed value of the length field (which counts itself, not the type byte). */
  readonly maxMessageSize: number;
  /** "client" or "server", for error messages. */
  readonly side: string;
}

export interface FrameReader {
  /**
   * Hands every whole message in chunk (plus what earlier pushes left) to onFrame, and keeps a
   * trailing partial message for the next push. The caller must not reuse the chunk's memory
   * while it holds views of it. After any throw (malformed bytes, or onFrame throwing) the
   * reader is dead: the stream position is lost, so every later push throws too.
   */
  push(chunk: Uint8Array, onFrame: FrameHandler, onRange?: RangeHandler): void;
  /** Bytes of an incomplete message held from earlier pushes. */
  readonly buffered: number;
}

export function createFrameReader(options: FrameReaderOptions): FrameReader {
  const { knownTypes, maxMessageSize, side } = options;
  const head = new Uint8Array(5);
  let headLength = 0;
  let partial: Uint8Array | null = null;
  let partialFilled = 0;
  let failure: unknown = null;

  /** Validates a header; returns the whole frame size (type byte + length). */
  function frameSize(type: number, length: number): number {
    if (knownTypes[type] !== 1) {
      throw protocolError("unknown-type", `unknown ${side} message type ${describeTypeByte(type)}`, { type });
    }
    if (length < 4) {
      throw protocolError("bad-length", `${side} message ${describeTypeByte(type)} has invalid length ${length} (minimum 4)`, {
        type,
        length,
      });
    }
    if (length > maxMessageSize) {
      throw protocolError("too-large", `message of ${length} bytes exceeds the limit ${maxMessageSize}`, {
        type,
        size: length,
        limit: maxMessageSize,
      });
    }
    return length + 1;
  }

  function startPartial(type: number, length: number): void {
    partial = new Uint8Array(frameSize(type, length));
    partialFilled = 0;
  }

  function run(chunk: Uint8Array, onFrame: FrameHandler, onRange: RangeHandler | undefined): void {
    const n = chunk.length;
    let pos = 0;

    if (headLength > 0) {
      const take = Math.min(5 - headLength, n);
      head.set(chunk.subarray(0, take), headLength);
      headLength += take;
      pos = take;
      if (headLength < 5) return;
      startPartial(head[0]!, (head[1]! << 24) | (head[2]! << 16) | (head[3]! << 8) | head[4]!);
      partial!.set(head);
      partialFilled = 5;
      headLength = 0;
    }
    if (partial !== null) {
      const frame: Uint8Array = partial;
      const take = Math.min(frame.length - partialFilled, n - pos);
      frame.set(chunk.subarray(pos, pos + take), partialFilled);
      partialFilled += take;
      pos += take;
      if (partialFilled < frame.length) return;
      partial = null;
      if (onRange === undefined || !onRange(frame[0]!, frame, 0, frame.length)) onFrame(frame[0]!, frame.subarray(5), frame);
    }

    while (n - pos >= 5) {
      const type = chunk[pos]!;
      const length = (chunk[pos + 1]! << 24) | (chunk[pos + 2]! << 16) | (chunk[pos + 3]! << 8) | chunk[pos + 4]!;
      const size = frameSize(type, length);
      if (n - pos < size) {
        partial = new Uint8Array(size);
        partial.set(chunk.subarray(pos));
        partialFilled = n - pos;
        return;
      }
      const end = pos + size;
      if (onRange === undefined || !onRange(type, chunk, pos, end)) onFrame(type, chunk.subarray(pos + 5, end), chunk.subarray(pos, end));
      pos = end;
    }
    if (pos < n) {
      head.set(chunk.subarray(pos), 0);
      headLength = n - pos;
      // Fail fast on garbage: a known type byte is checked before the length arrives.
      if (knownTypes[head[0]!] !== 1) frameSize(head[0]!, 4);
    }
  }

  return {
    push(chunk, onFrame, onRange) {
      if (failure !== null) {
        throw protocolError("failed-earlier", `${side} stream failed earlier and cannot continue`, { cause: String(failure) });
      }
      try {
        run(chunk, onFrame, onRange);
      } catch (e) {
        failure = e;
        throw e;
      }
    },
    get buffered() {
      return headLength + (partial === null ? 0 : partialFilled);
    },
  };
}
