// ssh2's AES-GCM in JavaScript (used because its native binding is not in the binary, see
// build.ts) allocates three fresh packet-sized buffers per packet besides the cipher's output: a
// new packet for every payload sent, and on receipt a buffer to assemble a packet that spans two
// socket reads (most do: reads are 64 KB, packets 32 KB + 36). A 200 MB transfer through the
// gateway allocated ~2 GB that way on its two legs, and mimalloc returned the pages to the kernel
// between collections: a quarter of the gateway's CPU was page faults (bench/README.md, SSH).
// installSsh2AesGcm() swaps the two hot methods of ssh2's own AES-GCM classes (their prototypes,
// reached through the module's exported factories, so ssh2's kex code, which imported the
// factories before us, creates patched objects too) for versions that reuse one packet buffer
// per direction. The wire format, the checks and the order of events stay ssh2's: the same
// packet-length validation and errors, the sequence number and IV advanced before the payload
// is handed on, and the same return values to ssh2's parser (see ssh2-aes-gcm.test.ts, which
// checks both against ssh2's original methods).
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import ssh2Crypto from "ssh2/lib/protocol/crypto.js";
import { GatewayError } from "../../core/errors.ts";

// ssh2's limit (lib/protocol/crypto.js MAX_PACKET_SIZE): packet length + 20 may not exceed it.
const MAX_PACKET_SIZE = 35000;
const TAG_LEN = 16;
/** Packets up to this size come from Buffer's shared pool, as before: only bulk data needs the reusable one. */
const POOLED_PACKET = 4096;
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBufferLike, offset: number, length: number) => Buffer })[Symbol.species];

/** The fields of ssh2's AESGCMCipherNative that its methods use (lib/protocol/crypto.js), and ours. */
interface GcmCipher {
  outSeqno: number;
  _onWrite: (data: Buffer) => void;
  _encSSLName: string;
  _encKey: Buffer;
  _encIV: Buffer;
  _dead: boolean;
  /** The packet buffer reused for every large packet; lent from allocPacket() until encrypt(). */
  _gcmScratch?: Buffer;
  _gcmLent?: boolean;
}

/** The fields of ssh2's AESGCMDecipherNative that its methods use, and ours. */
interface GcmDecipher {
  inSeqno: number;
  _onPayload: (payload: Buffer) => unknown;
  _decipherSSLName: string;
  _decipherKey: Buffer;
  _decipherIV: Buffer;
  _len: number;
  _lenBytes: number;
  /** Bytes of the current packet's body and tag gathered in _gcmAcc. */
  _pktLen: number;
  /** Where a packet that spans reads is gathered (body and tag), reused for every packet. */
  _gcmAcc?: Buffer;
}

function ivIncrement(iv: Buffer): void {
  // The last 8 bytes are a big-endian counter (RFC 5647 7.1), as ssh2's ivIncrement.
  for (let i = 11; i >= 4; i--) {
    iv[i] = (iv[i]! + 1) & 0xff;
    if (iv[i] !== 0) break;
  }
}

function allocPacket(this: GcmCipher, payloadLen: number): Buffer {
  let pktLen = 4 + 1 + payloadLen;
  let padLen = 16 - ((pktLen - 4) & (16 - 1));
  if (padLen < 4) padLen += 16;
  pktLen += padLen;
  let packet: Buffer;
  if (pktLen <= POOLED_PACKET || this._gcmLent === true || pktLen > MAX_PACKET_SIZE) {
    // Small, or the scratch is still out (a packet ssh2 queued during a key exchange): fresh.
    packet = Buffer.allocUnsafe(pktLen);
  } else {
    this._gcmScratch ??= Buffer.allocUnsafeSlow(MAX_PACKET_SIZE);
    this._gcmLent = true;
    packet = this._gcmScratch.subarray(0, pktLen);
  }
  packet.writeUInt32BE(pktLen - 4, 0);
  packet[4] = padLen;
  randomFillSync(packet, 5 + payloadLen, padLen);
  return packet;
}

function encrypt(this: GcmCipher, packet: Buffer): void {
  const lent = this._gcmScratch !== undefined && packet.buffer === this._gcmScratch.buffer;
  // Whatever happens below, nothing keeps the scratch: the three writes are of fresh buffers.
  if (lent) this._gcmLent = false;
  if (this._dead) return;
  const cipher = createCipheriv(this._encSSLName as "aes-128-gcm", this._encKey, this._encIV);
  cipher.setAutoPadding(false);
  // A copy: the socket may hold what it is given until the end of the tick (coalesce-writes.ts),
  // and the scratch is reused before then.
  const lenData = Buffer.from(packet.subarray(0, 4));
  cipher.setAAD(lenData);
  this._onWrite(lenData);
  this._onWrite(cipher.update(packet.subarray(4)));
  const final = cipher.final();
  if (final.length) this._onWrite(final);
  this._onWrite(cipher.getAuthTag());
  ivIncrement(this._encIV);
  this.outSeqno = (this.outSeqno + 1) >>> 0;
}

const AAD = Buffer.alloc(4);

function decrypt(this: GcmDecipher, data: Buffer, p: number, dataLen: number): number | undefined {
  while (p < dataLen) {
    // The packet length: unencrypted, and authenticated as the AAD.
    if (this._lenBytes < 4) {
      let nb = Math.min(4 - this._lenBytes, dataLen - p);
      this._lenBytes += nb;
      while (nb--) this._len = (this._len << 8) + data[p++]!;
      if (this._lenBytes < 4) return undefined;
      if (this._len + 20 > MAX_PACKET_SIZE || this._len < 16 || (this._len & 15) !== 0) throw new Error("Bad packet length");
    }
    const len = this._len;
    const need = len + TAG_LEN;
    let body: Uint8Array;
    let tag: Uint8Array;
    if (this._pktLen === 0 && dataLen - p >= need) {
      // The whole packet is in this read: decrypt it where it lies.
      body = data.subarray(p, p + len);
      tag = data.subarray(p + len, p + need);
      p += need;
    } else {
      const nb = Math.min(need - this._pktLen, dataLen - p);
      this._gcmAcc ??= Buffer.allocUnsafeSlow(MAX_PACKET_SIZE);
      this._gcmAcc.set(data.subarray(p, p + nb), this._pktLen);
      this._pktLen += nb;
      p += nb;
      if (this._pktLen < need) return undefined;
      body = this._gcmAcc.subarray(0, len);
      tag = this._gcmAcc.subarray(len, need);
    }
    const decipher = createDecipheriv(this._decipherSSLName as "aes-128-gcm", this._decipherKey, this._decipherIV);
    decipher.setAutoPadding(false);
    AAD.writeUInt32BE(len, 0);
    decipher.setAAD(AAD);
    let packet = decipher.update(body);
    decipher.setAuthTag(tag);
    // Throws when the tag does not match, as ssh2's does.
    const rest = decipher.final();
    if (rest.length) packet = Buffer.concat([packet, rest]);
    const payload = new FastBuffer(packet.buffer, packet.byteOffset + 1, packet.length - packet[0]! - 1);
    this.inSeqno = (this.inSeqno + 1) >>> 0;
    ivIncrement(this._decipherIV);
    this._len = 0;
    this._lenBytes = 0;
    this._pktLen = 0;
    const ret = this._onPayload(payload);
    if (ret !== undefined) return ret === false ? p : (ret as number);
  }
  return undefined;
}

interface Ssh2Crypto {
  readonly bindingAvailable: boolean;
  createCipher(config: unknown): object;
  createDecipher(config: unknown): object;
}

/** ssh2's original methods, for the differential test. */
export interface Ssh2GcmOriginals {
  readonly cipher: { allocPacket: (n: number) => Buffer; encrypt: (p: Buffer) => void };
  readonly decipher: { decrypt: (d: Buffer, p: number, n: number) => number | undefined };
}

let originals: Ssh2GcmOriginals | null = null;

/** ssh2's own AES-GCM classes, reached through an instance each factory makes. */
export function ssh2GcmPrototypes(): { cipher: Record<string, unknown>; decipher: Record<string, unknown> } {
  const c = ssh2Crypto as unknown as Ssh2Crypto;
  const info = { sslName: "aes-128-gcm", blockLen: 16, keyLen: 16, ivLen: 12, authLen: 16, discardLen: 0, stream: true };
  const key = Buffer.alloc(16);
  const iv = Buffer.alloc(12);
  const cipher = c.createCipher({ outbound: { onWrite() {}, cipherInfo: info, cipherKey: key, cipherIV: iv, seqno: 0, forceNative: true } });
  const decipher = c.createDecipher({ inbound: { onPayload() {}, decipherInfo: info, decipherKey: key, decipherIV: iv, seqno: 0, forceNative: true } });
  return { cipher: Object.getPrototypeOf(cipher) as Record<string, unknown>, decipher: Object.getPrototypeOf(decipher) as Record<string, unknown> };
}

/**
 * Patches ssh2's JavaScript AES-GCM classes in place, once per process; returns ssh2's original
 * methods. Without effect (null) when ssh2 uses its native binding, which already works in place.
 */
export function installSsh2AesGcm(): Ssh2GcmOriginals | null {
  if (originals !== null) return originals;
  if ((ssh2Crypto as unknown as Ssh2Crypto).bindingAvailable) return null;
  const { cipher, decipher } = ssh2GcmPrototypes();
  if (typeof cipher.encrypt !== "function" || typeof cipher.allocPacket !== "function" || typeof decipher.decrypt !== "function") {
    throw new GatewayError("E_INTERNAL", "ssh2's AES-GCM classes do not have the methods the gateway replaces (allocPacket, encrypt, decrypt): was ssh2 upgraded? see src/targets/ssh/ssh2-aes-gcm.ts");
  }
  originals = {
    cipher: { allocPacket: cipher.allocPacket as Ssh2GcmOriginals["cipher"]["allocPacket"], encrypt: cipher.encrypt as Ssh2GcmOriginals["cipher"]["encrypt"] },
    decipher: { decrypt: decipher.decrypt as Ssh2GcmOriginals["decipher"]["decrypt"] },
  };
  cipher.allocPacket = allocPacket;
  cipher.encrypt = encrypt;
  decipher.decrypt = decrypt;
  return originals;
}
