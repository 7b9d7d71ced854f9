// SFTP packet framing: uint32 length, then that many bytes (type byte first). decodeSftpPackets
// is the pure form (whole packets of one buffer and how many bytes they used); SftpFrameReader
// is its streaming form for one direction of one channel, which keeps at most one partial
// packet (bounded by the cap) and hands out whole ones as views where a chunk holds them whole.
import { GatewayError } from "../../../core/errors.ts";
import { SFTP_MAX_PACKET_LENGTH } from "./sftp-constants.ts";

export interface SftpFrame {
  /** The packet as it came, length prefix included: what is forwarded, unchanged. */
  readonly raw: Uint8Array;
  /** The packet body: type byte first. */
  readonly body: Uint8Array;
}

function checkLength(length: number, side: string, max: number): void {
  if (length < 1) throw new GatewayError("E_PROTOCOL", `malformed SFTP packet from the ${side}: length 0 leaves no room for its type byte`);
  if (length > max) {
    throw new GatewayError("E_PROTOCOL", `SFTP packet from the ${side} is too large: ${length} bytes, the limit is ${max}`, {
      details: { length, max },
    });
  }
}

function frameAt(buf: Uint8Array, at: number, length: number): SftpFrame {
  const raw = buf.subarray(at, at + 4 + length);
  return { raw, body: raw.subarray(4) };
}

/**
 * Whole packets at the start of `buffer` and the bytes they take; a partial packet at the end is
 * left for the next call (not an error). A length of 0 or above `max` throws E_PROTOCOL.
 */
export function decodeSftpPackets(buffer: Uint8Array, max = SFTP_MAX_PACKET_LENGTH, side = "client"): { packets: SftpFrame[]; used: number } {
  const packets: SftpFrame[] = [];
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let at = 0;
  while (buffer.length - at >= 4) {
    const length = view.getUint32(at);
    checkLength(length, side, max);
    if (buffer.length - at - 4 < length) break;
    packets.push(frameAt(buffer, at, length));
    at += 4 + length;
  }
  return { packets, used: at };
}

export class SftpFrameReader {
  private readonly header = new Uint8Array(4);
  private headerFill = 0;
  private partial: Uint8Array | null = null;
  private partialFill = 0;
  private failed = false;

  constructor(
    private readonly side: "client" | "server",
    private readonly max = SFTP_MAX_PACKET_LENGTH,
  ) {}

  /** Bytes held of a packet not yet whole. */
  get buffered(): number {
    return this.headerFill + this.partialFill;
  }

  /** True between packets: bytes written downstream now would not split one. */
  get atBoundary(): boolean {
    return this.buffered === 0;
  }

  /**
   * The whole packets that `chunk` completes, in order. Frames that lie whole in the chunk are
   * views of it; the others are fresh copies. Throws E_PROTOCOL on a bad length, and for ever after.
   */
  push(chunk: Uint8Array): SftpFrame[] {
    if (this.failed) throw new GatewayError("E_PROTOCOL", `SFTP stream from the ${this.side} already failed`);
    try {
      return this.take(chunk);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  private take(chunk: Uint8Array): SftpFrame[] {
    const out: SftpFrame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.partial !== null) {
        const n = Math.min(this.partial.length - this.partialFill, chunk.length - at);
        this.partial.set(chunk.subarray(at, at + n), this.partialFill);
        this.partialFill += n;
        at += n;
        if (this.partialFill === this.partial.length) {
          out.push({ raw: this.partial, body: this.partial.subarray(4) });
          this.partial = null;
          this.partialFill = 0;
        }
        continue;
      }
      if (this.headerFill === 0 && chunk.length - at >= 4) {
        const length = ((chunk[at] as number) * 0x1000000 + ((chunk[at + 1] as number) << 16) + ((chunk[at + 2] as number) << 8) + (chunk[at + 3] as number)) >>> 0;
        checkLength(length, this.side, this.max);
        if (chunk.length - at - 4 >= length) {
          out.push(frameAt(chunk, at, length));
          at += 4 + length;
        } else {
          this.startPartial(length, chunk.subarray(at));
          at = chunk.length;
        }
        continue;
      }
      // The length itself is split across chunks.
      const n = Math.min(4 - this.headerFill, chunk.length - at);
      this.header.set(chunk.subarray(at, at + n), this.headerFill);
      this.headerFill += n;
      at += n;
      if (this.headerFill === 4) {
        const length = new DataView(this.header.buffer).getUint32(0);
        checkLength(length, this.side, this.max);
        this.headerFill = 0;
        this.startPartial(length, this.header);
      }
    }
    return out;
  }

  private startPartial(length: number, first: Uint8Array): void {
    this.partial = new Uint8Array(4 + length);
    this.partial.set(first);
    this.partialFill = first.length;
  }
}
