import { describe, expect, test } from "bun:test";
import { CLOSE, OPCODE, WebSocketDecoder, WebSocketProtocolError, acceptKey, closePayload, encodeFrame } from "./websocket-codec.ts";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
const server = () => new WebSocketDecoder({ masked: true, maxMessage: 1 << 20 });
const client = () => new WebSocketDecoder({ masked: false, maxMessage: 1 << 20 });

function protocolError(f: () => unknown): WebSocketProtocolError {
  try {
    f();
  } catch (e) {
    if (e instanceof WebSocketProtocolError) return e;
    throw e;
  }
  throw new Error("no WebSocketProtocolError thrown");
}

describe("websocket codec", () => {
  test("the RFC 6455 §1.3 accept key", () => {
    expect(acceptKey("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("masked frames of each length class round-trip, fed one byte at a time", () => {
    for (const n of [0, 1, 125, 126, 65535, 65536, 200_000]) {
      const payload = bytes(n);
      const frame = encodeFrame(OPCODE.binary, payload, true);
      const d = server();
      const events = [];
      for (let i = 0; i < frame.length; i += n > 1000 ? 997 : 1) events.push(...d.push(frame.subarray(i, i + (n > 1000 ? 997 : 1))));
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: "message", opcode: OPCODE.binary });
      expect(Buffer.from((events[0] as { data: Uint8Array }).data).equals(Buffer.from(payload))).toBe(true);
    }
  });

  test("the 64-bit length is written big-endian", () => {
    const f = encodeFrame(OPCODE.binary, bytes(70_000), false);
    expect(f[1]).toBe(127);
    expect(Buffer.from(f.subarray(2, 10)).readBigUInt64BE(0)).toBe(70_000n);
  });

  test("fragments join into one message; control frames in between come out on their own", () => {
    const d = client();
    const chunks = [encodeFrame(OPCODE.text, new TextEncoder().encode("hel"), false, false), encodeFrame(OPCODE.ping, new Uint8Array([1]), false), encodeFrame(OPCODE.continuation, new TextEncoder().encode("lo"), false, true)];
    const events = d.push(Buffer.concat(chunks));
    expect(events.map((e) => e.type)).toEqual(["ping", "message"]);
    expect(new TextDecoder().decode((events[1] as { data: Uint8Array }).data)).toBe("hello");
  });

  test("close frames give code and reason; a long reason is cut to fit", () => {
    const d = client();
    const [ev] = d.push(encodeFrame(OPCODE.close, closePayload(1000, "bye"), false));
    expect(ev).toEqual({ type: "close", code: 1000, reason: "bye" });
    expect(closePayload(1000, "é".repeat(100)).length).toBeLessThanOrEqual(125);
  });

  test("malformed frames: unmasked from a client, reserved bits, unknown opcode, stray continuation, big control, oversized message", () => {
    expect(protocolError(() => server().push(encodeFrame(OPCODE.binary, bytes(3), false))).code).toBe(CLOSE.protocolError);
    expect(protocolError(() => client().push(encodeFrame(OPCODE.binary, bytes(3), true))).code).toBe(CLOSE.protocolError);
    const rsv = encodeFrame(OPCODE.binary, bytes(3), true);
    rsv[0]! |= 0x40;
    expect(protocolError(() => server().push(rsv)).code).toBe(CLOSE.protocolError);
    expect(protocolError(() => server().push(encodeFrame(0x3, bytes(3), true))).code).toBe(CLOSE.protocolError);
    expect(protocolError(() => server().push(encodeFrame(OPCODE.continuation, bytes(3), true))).code).toBe(CLOSE.protocolError);
    expect(protocolError(() => server().push(encodeFrame(OPCODE.ping, bytes(126), true))).code).toBe(CLOSE.protocolError);
    const small = new WebSocketDecoder({ masked: true, maxMessage: 1000 });
    expect(protocolError(() => small.push(encodeFrame(OPCODE.binary, bytes(1001), true))).code).toBe(CLOSE.tooBig);
    const frag = new WebSocketDecoder({ masked: true, maxMessage: 1000 });
    frag.push(encodeFrame(OPCODE.binary, bytes(600), true, false));
    expect(protocolError(() => frag.push(encodeFrame(OPCODE.continuation, bytes(600), true))).code).toBe(CLOSE.tooBig);
    // A declared 2^62-byte frame is refused from its header, before any payload is awaited.
    const huge = new Uint8Array([0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    expect(protocolError(() => server().push(huge)).code).toBe(CLOSE.tooBig);
    const invalidText = encodeFrame(OPCODE.text, new Uint8Array([0xff, 0xfe]), true);
    expect(protocolError(() => server().push(invalidText)).code).toBe(CLOSE.invalidData);
  });
});
