import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../../../core/errors.ts";
import { SFTP_MAX_PACKET_LENGTH } from "./sftp-constants.ts";
import { SftpFrameReader, decodeSftpPackets } from "./sftp-frames.ts";
import { encodeSftpRequest } from "./sftp-requests.ts";

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const lengthOnly = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

const stream = concat(
  encodeSftpRequest({ type: "INIT", version: 3, extensions: [] }),
  encodeSftpRequest({ type: "OPEN", id: 1, path: "/tmp/a", pflags: 1, attrs: {} }),
  encodeSftpRequest({ type: "WRITE", id: 2, handle: new Uint8Array([0, 0, 0, 1]), offset: 5n, data: new Uint8Array(1000).fill(7) }),
  encodeSftpRequest({ type: "STAT", id: 3, path: "x" }),
);

describe("decodeSftpPackets", () => {
  test("returns whole packets and the bytes they used; a partial one is left", () => {
    const whole = decodeSftpPackets(stream);
    expect(whole.packets.length).toBe(4);
    expect(whole.used).toBe(stream.length);
    expect(whole.packets.map((p) => p.body[0])).toEqual([1, 3, 6, 17]);
    const cut = decodeSftpPackets(stream.subarray(0, stream.length - 1));
    expect(cut.packets.length).toBe(3);
    expect(cut.used).toBe(stream.length - (whole.packets[3]?.raw.length ?? 0));
    expect(decodeSftpPackets(stream.subarray(0, 3))).toEqual({ packets: [], used: 0 });
  });

  test("a length above 256 KiB is an error, as in sftp-server; exactly 256 KiB is not", () => {
    let err: unknown;
    try {
      decodeSftpPackets(lengthOnly(SFTP_MAX_PACKET_LENGTH + 1));
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, "E_PROTOCOL")).toBe(true);
    expect(String((err as Error).message)).toContain("too large: 262145 bytes, the limit is 262144");
    expect(decodeSftpPackets(lengthOnly(SFTP_MAX_PACKET_LENGTH))).toEqual({ packets: [], used: 0 });
  });

  test("a zero length is malformed", () => {
    expect(() => decodeSftpPackets(lengthOnly(0))).toThrow(/length 0/);
  });
});

describe("SftpFrameReader", () => {
  test("a stream split at every byte boundary gives the same packets", () => {
    const expected = decodeSftpPackets(stream).packets.map((p) => Array.from(p.raw));
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new SftpFrameReader("client");
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))].map((p) => Array.from(p.raw));
      expect(got).toEqual(expected);
      expect(r.buffered).toBe(0);
    }
  });

  test("one byte at a time", () => {
    const r = new SftpFrameReader("server");
    const got: number[][] = [];
    for (let i = 0; i < stream.length; i++) {
      for (const p of r.push(stream.subarray(i, i + 1))) got.push(Array.from(p.body));
      expect(r.atBoundary).toBe(got.length > 0 && decodeSftpPackets(stream.subarray(0, i + 1)).used === i + 1);
    }
    expect(got).toEqual(decodeSftpPackets(stream).packets.map((p) => Array.from(p.body)));
  });

  test("whole packets in a chunk are views of it (no copy); split ones are copies", () => {
    const r = new SftpFrameReader("client");
    const [first] = r.push(stream);
    expect(first?.raw.buffer).toBe(stream.buffer);
    const r2 = new SftpFrameReader("client");
    r2.push(stream.subarray(0, 2));
    const [split] = r2.push(stream.subarray(2));
    expect(split?.raw.buffer).not.toBe(stream.buffer);
  });

  test("an oversized length split across chunks is refused before its body arrives, and the reader stays failed", () => {
    const r = new SftpFrameReader("client");
    const big = lengthOnly(0x7fffffff);
    expect(r.push(big.subarray(0, 2))).toEqual([]);
    expect(() => r.push(big.subarray(2))).toThrow(/too large: 2147483647 bytes/);
    expect(() => r.push(stream)).toThrow(/already failed/);
  });
});
