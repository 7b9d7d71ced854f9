import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import ssh2Crypto from "ssh2/lib/protocol/crypto.js";
import { installSsh2AesGcm, ssh2GcmPrototypes } from "./ssh2-aes-gcm.ts";

const originals = installSsh2AesGcm()!;
const INFO = (name: "aes-128-gcm" | "aes-256-gcm") => ({ sslName: name, blockLen: 16, keyLen: name === "aes-128-gcm" ? 16 : 32, ivLen: 12, authLen: 16, discardLen: 0, stream: true });

type Cipher = { allocPacket(n: number): Buffer; encrypt(p: Buffer): void; outSeqno: number };
type Decipher = { decrypt(d: Buffer, p: number, n: number): number | undefined; inSeqno: number };

function pair(name: "aes-128-gcm" | "aes-256-gcm" = "aes-128-gcm") {
  const key = randomBytes(INFO(name).keyLen);
  const iv = randomBytes(12);
  const wire: Buffer[] = [];
  const payloads: Buffer[] = [];
  const cipher = ssh2Crypto.createCipher({ outbound: { onWrite: (d: Buffer) => wire.push(d), cipherInfo: INFO(name), cipherKey: Buffer.from(key), cipherIV: Buffer.from(iv), seqno: 7 } }) as Cipher;
  let onPayload: (p: Buffer) => unknown = (p) => void payloads.push(Buffer.from(p));
  const decipher = ssh2Crypto.createDecipher({ inbound: { onPayload: (p: Buffer) => onPayload(p), decipherInfo: INFO(name), decipherKey: Buffer.from(key), decipherIV: Buffer.from(iv), seqno: 7 } }) as Decipher;
  return { cipher, decipher, wire, payloads, key, iv, setOnPayload: (f: (p: Buffer) => unknown) => (onPayload = f) };
}

/** Sends payloads through `c` (allocPacket, fill, encrypt), as ssh2's Protocol does. */
function send(c: Cipher, payloads: readonly Buffer[], zeroPadding = false): void {
  for (const pl of payloads) {
    const packet = c.allocPacket(pl.length);
    packet.set(pl, 5);
    if (zeroPadding) packet.fill(0, 5 + pl.length);
    c.encrypt(packet);
  }
}

/** Feeds `stream` to the decipher in pieces cut at the given sizes (cycled). */
function feed(d: Decipher, stream: Buffer, cuts: readonly number[]): void {
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const n = Math.min(cuts[i % cuts.length]!, stream.length - at);
    // ssh2's parser hands over whole socket reads with an offset; mimic a chunk with a prefix.
    const chunk = Buffer.concat([Buffer.alloc(3, 0xee), stream.subarray(at, at + n)]);
    d.decrypt(chunk, 3, chunk.length);
    at += n;
  }
}

const SIZES = [0, 1, 5, 100, 4000, 4080, 4096, 16_000, 32_768, 32_768 + 9, 34_900];

describe("ssh2's AES-GCM with reused buffers", () => {
  test("the classes are ssh2's own, patched", () => {
    const { cipher, decipher } = ssh2GcmPrototypes();
    expect(cipher.encrypt).not.toBe(originals.cipher.encrypt);
    expect(decipher.decrypt).not.toBe(originals.decipher.decrypt);
  });

  for (const name of ["aes-128-gcm", "aes-256-gcm"] as const) {
    test(`${name}: the bytes on the wire are ssh2's, packet for packet`, () => {
      const a = pair(name);
      const b = pair(name);
      // b runs ssh2's original methods on the same key, IV and payloads (padding zeroed in both).
      const bc = { allocPacket: (n: number) => originals.cipher.allocPacket.call(b.cipher, n), encrypt: (p: Buffer) => originals.cipher.encrypt.call(b.cipher, p) } as Cipher;
      (b.cipher as unknown as { _encKey: Buffer })._encKey = Buffer.from((a.cipher as unknown as { _encKey: Buffer })._encKey);
      (b.cipher as unknown as { _encIV: Buffer })._encIV = Buffer.from((a.cipher as unknown as { _encIV: Buffer })._encIV);
      const pls = SIZES.map((n) => randomBytes(n));
      send(a.cipher, pls, true);
      send(bc, pls, true);
      expect(Buffer.concat(a.wire).equals(Buffer.concat(b.wire))).toBe(true);
      expect(a.cipher.outSeqno).toBe(7 + SIZES.length);
      expect(b.cipher.outSeqno).toBe(7 + SIZES.length);
    });

    test(`${name}: every payload comes back, whatever the read boundaries, both ways against ssh2's original`, () => {
      for (const cuts of [[1], [3, 7], [64 * 1024], [32_768 + 36, 17], [5000, 1, 60_000], [1_000_000]]) {
        const pls = [...SIZES, ...[...SIZES].reverse()].map((n) => randomBytes(n));
        // Patched cipher -> original decipher.
        const a = pair(name);
        send(a.cipher, pls);
        const got: Buffer[] = [];
        const origDec = a.decipher as Decipher & { _onPayload: (p: Buffer) => unknown };
        origDec._onPayload = (p: Buffer) => void got.push(Buffer.from(p));
        const stream = Buffer.concat(a.wire);
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = Math.min(cuts[i % cuts.length]!, stream.length - at);
          originals.decipher.decrypt.call(origDec, stream.subarray(at, at + n), 0, n);
          at += n;
        }
        expect(got.map((b) => b.toString("hex"))).toEqual(pls.map((b) => b.toString("hex")));
        // Original cipher -> patched decipher.
        const b = pair(name);
        for (const pl of pls) {
          const packet = originals.cipher.allocPacket.call(b.cipher, pl.length);
          packet.set(pl, 5);
          originals.cipher.encrypt.call(b.cipher, packet);
        }
        feed(b.decipher, Buffer.concat(b.wire), cuts);
        expect(b.payloads.map((x) => x.toString("hex"))).toEqual(pls.map((x) => x.toString("hex")));
        expect(b.decipher.inSeqno).toBe(7 + pls.length);
      }
    });
  }

  test("a payload handed on is not overwritten by the packets after it", () => {
    const a = pair();
    const kept: Buffer[] = [];
    a.setOnPayload((p) => void kept.push(p)); // no copy: the buffer ssh2's handlers get
    const pls = [randomBytes(30_000), randomBytes(30_000), randomBytes(100)];
    send(a.cipher, pls);
    feed(a.decipher, Buffer.concat(a.wire), [7000]);
    expect(kept.map((b) => b.toString("hex"))).toEqual(pls.map((b) => b.toString("hex")));
  });

  test("what was written to the socket is not overwritten by the next packet (writes are held until the end of the tick)", () => {
    const a = pair();
    const pls = [randomBytes(30_000), randomBytes(30_000)];
    send(a.cipher, pls);
    const snapshot = a.wire.map((b) => Buffer.from(b));
    send(a.cipher, [randomBytes(20_000)]);
    for (let i = 0; i < snapshot.length; i++) expect(a.wire[i]!.equals(snapshot[i]!)).toBe(true);
  });

  test("a packet still lent out (queued during a key exchange) is not reused", () => {
    const a = pair();
    const first = a.cipher.allocPacket(20_000);
    const second = a.cipher.allocPacket(20_000);
    expect(second.buffer).not.toBe(first.buffer);
    a.cipher.encrypt(second);
    // first is still out: the next large packet is fresh too.
    expect(a.cipher.allocPacket(20_000).buffer).not.toBe(first.buffer);
  });

  test("a bad packet length and a bad tag fail as in ssh2", () => {
    const a = pair();
    expect(() => a.decipher.decrypt(Buffer.from([0, 0, 0x90, 0]), 0, 4)).toThrow("Bad packet length");
    const b = pair();
    expect(() => b.decipher.decrypt(Buffer.from([0, 0, 0, 15]), 0, 4)).toThrow("Bad packet length");
    const c = pair();
    send(c.cipher, [randomBytes(100)]);
    const wire = Buffer.concat(c.wire);
    wire[wire.length - 1]! ^= 1;
    expect(() => c.decipher.decrypt(wire, 0, wire.length)).toThrow();
    expect(c.payloads).toHaveLength(0);
  });

  test("the parser's position: false from the payload handler stops after that packet, a number is passed back", () => {
    const a = pair();
    send(a.cipher, [randomBytes(10), randomBytes(10), randomBytes(10)]);
    const wire = Buffer.concat(a.wire);
    const one = wire.length / 3;
    let n = 0;
    a.setOnPayload(() => (++n === 1 ? false : undefined));
    expect(a.decipher.decrypt(wire, 0, wire.length)).toBe(one);
    expect(a.decipher.decrypt(wire, one, wire.length)).toBeUndefined();
    expect(n).toBe(3);
    const b = pair();
    send(b.cipher, [randomBytes(10), randomBytes(10)]);
    b.setOnPayload(() => 12345);
    expect(b.decipher.decrypt(Buffer.concat(b.wire), 0, Buffer.concat(b.wire).length)).toBe(12345);
  });
});
