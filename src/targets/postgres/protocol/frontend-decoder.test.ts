import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../../../core/errors.ts";
import {
  encodeCancelRequest,
  encodeFrontendMessages,
  encodeFrontendMessage,
  encodeGSSENCRequest,
  encodePasswordMessage,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartupMessage,
  encodeStartupPacket,
  encodeSync,
  encodeTerminate,
} from "./encode.ts";
import {
  createFrontendDecoder,
  createStartupDecoder,
  parsePasswordMessage,
  parseSASLInitialResponse,
  parseSASLResponse,
} from "./frontend-decoder.ts";
import type { DecodedFrontendMessage, FrontendMessage, StartupPacket } from "./frontend-message.ts";
import { protocolErrorReason, type ProtocolErrorReason } from "./protocol-error.ts";

const bytes = (...parts: (number[] | string)[]): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so a failing split is reproducible. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const strip = (ms: DecodedFrontendMessage[]) => ms.map(({ raw: _raw, ...m }) => m);

const SAMPLES: FrontendMessage[] = [
  { type: "Query", query: "SELECT 1" },
  { type: "Query", query: "" },
  { type: "Query", query: "SELECT 'żółw ✓ 🐢'" },
  { type: "Parse", statement: "s1", query: "SELECT $1::int, $2", parameterTypes: [23, 0] },
  { type: "Parse", statement: "", query: "SELECT 1", parameterTypes: [] },
  { type: "Parse", statement: "big", query: "x", parameterTypes: [4294967295] },
  {
    type: "Bind",
    portal: "p1",
    statement: "s1",
    parameterFormats: [0, 1],
    parameters: [new TextEncoder().encode("42"), null],
    resultFormats: [1],
  },
  { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
  { type: "Bind", portal: "", statement: "s", parameterFormats: [1], parameters: [new Uint8Array([0, 0, 0, 7]), new Uint8Array(0)], resultFormats: [0, 1, 0] },
  { type: "Describe", target: "S", name: "s1" },
  { type: "Describe", target: "P", name: "" },
  { type: "Execute", portal: "p1", maxRows: 100 },
  { type: "Execute", portal: "", maxRows: 0 },
  { type: "Sync" },
  { type: "Flush" },
  { type: "Close", target: "S", name: "s1" },
  { type: "Close", target: "P", name: "p1" },
  { type: "CopyData", data: new Uint8Array([1, 2, 3, 0, 255]) },
  { type: "CopyData", data: new Uint8Array(0) },
  { type: "CopyDone" },
  { type: "CopyFail", message: "client gave up" },
  { type: "FunctionCall", functionOid: 1598, argumentFormats: [1], arguments: [new Uint8Array([0, 0, 0, 1]), null], resultFormat: 1 },
  { type: "AuthenticationResponse", data: new TextEncoder().encode("secret\0") },
  { type: "Terminate" },
];

function decodeAll(stream: Uint8Array, chunkSizes: () => number, max = 1 << 20): DecodedFrontendMessage[] {
  const d = createFrontendDecoder({ maxMessageSize: max });
  const out: DecodedFrontendMessage[] = [];
  for (let at = 0; at < stream.length; ) {
    const n = Math.max(1, Math.min(chunkSizes(), stream.length - at));
    out.push(...d.push(stream.subarray(at, at + n)));
    at += n;
  }
  expect(d.buffered).toBe(0);
  return out;
}

function reasonOf(f: () => unknown): ProtocolErrorReason | "no error" | "not a protocol error" {
  try {
    f();
  } catch (e) {
    if (!isGatewayError(e, "E_PROTOCOL")) return "not a protocol error";
    return protocolErrorReason(e) ?? "not a protocol error";
  }
  return "no error";
}

describe("frontend decoder", () => {
  test("round-trips every message type, keeping the exact raw bytes", () => {
    for (const m of SAMPLES) {
      const wire = encodeFrontendMessage(m);
      const decoded = createFrontendDecoder({ maxMessageSize: 1 << 20 }).push(wire);
      expect(decoded.length).toBe(1);
      const { raw, ...rest } = decoded[0]!;
      expect(rest).toEqual(m as typeof rest);
      expect(raw).toEqual(wire);
    }
  });

  test("decodes hand-written bytes (not only its own encoder's)", () => {
    const query = bytes([0x51, 0, 0, 0, 13], "SELECT 1", [0]);
    const sync = bytes([0x53, 0, 0, 0, 4]);
    const execute = bytes([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
    const describe = bytes([0x44, 0, 0, 0, 6, 0x53, 0]);
    const bind = bytes([0x42, 0, 0, 0, 22], [0, 0], [0, 1, 0, 1], [0, 1, 0, 0, 0, 4, 0, 0, 0, 5], [0, 0]);
    const decoded = createFrontendDecoder({ maxMessageSize: 1024 }).push(concat([query, sync, execute, describe, bind]));
    expect(strip(decoded)).toEqual([
      { type: "Query", query: "SELECT 1" },
      { type: "Sync" },
      { type: "Execute", portal: "", maxRows: 0 },
      { type: "Describe", target: "S", name: "" },
      { type: "Bind", portal: "", statement: "", parameterFormats: [1], parameters: [new Uint8Array([0, 0, 0, 5])], resultFormats: [] },
    ]);
    expect(encodeQuery("SELECT 1")).toEqual(query);
    expect(encodeSync()).toEqual(sync);
    expect(encodeTerminate()).toEqual(bytes([0x58, 0, 0, 0, 4]));
  });

  test("raw and body are views of the pushed chunk when the message is whole (no copy)", () => {
    const chunk = encodeFrontendMessages([{ type: "Query", query: "SELECT 1" }, { type: "CopyData", data: new Uint8Array([9, 9]) }]);
    const [q, c] = createFrontendDecoder({ maxMessageSize: 1024 }).push(chunk);
    expect(q!.raw.buffer).toBe(chunk.buffer);
    expect(c!.raw.buffer).toBe(chunk.buffer);
    expect(c?.type === "CopyData" && c.data.buffer === chunk.buffer).toBe(true);
    expect(c!.raw.byteOffset).toBe(chunk.byteOffset + q!.raw.length);
  });

  test("one byte at a time and random chunk sizes give the same messages as one push", () => {
    const stream = encodeFrontendMessages([...SAMPLES, ...SAMPLES, { type: "CopyData", data: new Uint8Array(70_000).fill(7) }]);
    const whole = strip(createFrontendDecoder({ maxMessageSize: 1 << 20 }).push(stream));
    expect(whole.length).toBe(SAMPLES.length * 2 + 1);
    expect(strip(decodeAll(stream, () => 1))).toEqual(whole);
    for (const seed of [1, 2, 3, 42, 1234]) {
      const r = rng(seed);
      const decoded = decodeAll(stream, () => 1 + Math.floor(r() * 40));
      expect(strip(decoded)).toEqual(whole);
      expect(concat(decoded.map((m) => m.raw))).toEqual(stream);
    }
    const r = rng(7);
    expect(strip(decodeAll(stream, () => 1 + Math.floor(r() * 20_000)))).toEqual(whole);
  });

  test("a partial frame is not an error and yields nothing yet", () => {
    const d = createFrontendDecoder({ maxMessageSize: 1024 });
    const wire = encodeQuery("SELECT 42");
    expect(d.push(wire.subarray(0, 3))).toEqual([]);
    expect(d.push(wire.subarray(3, 8))).toEqual([]);
    expect(d.buffered).toBe(8);
    expect(strip(d.push(wire.subarray(8)))).toEqual([{ type: "Query", query: "SELECT 42" }]);
  });

  const MALFORMED: [string, Uint8Array, ProtocolErrorReason][] = [
    ["length < 4", bytes([0x51, 0, 0, 0, 3]), "bad-length"],
    ["negative length", bytes([0x51, 0xff, 0xff, 0xff, 0xff]), "bad-length"],
    ["huge length prefix", bytes([0x51, 0x7f, 0xff, 0xff, 0xff]), "too-large"],
    ["unknown type byte", bytes([0x7a, 0, 0, 0, 4]), "unknown-type"],
    ["unknown type byte alone (fails before the length arrives)", bytes([0x00]), "unknown-type"],
    ["Query without NUL", bytes([0x51, 0, 0, 0, 7], "abc"), "unterminated-string"],
    ["Query with bytes after the NUL", bytes([0x51, 0, 0, 0, 9], "abc", [0, 1]), "trailing-bytes"],
    ["Query with invalid UTF-8", bytes([0x51, 0, 0, 0, 7, 0xc3, 0x28, 0]), "bad-encoding"],
    ["Sync with a body", bytes([0x53, 0, 0, 0, 5, 0]), "trailing-bytes"],
    ["Parse type count overruns", bytes([0x50, 0, 0, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0]), "overrun"],
    ["Bind parameter count overruns", bytes([0x42, 0, 0, 0, 12, 0, 0, 0, 0, 0, 3, 0, 0]), "overrun"],
    ["Bind value length overruns", bytes([0x42, 0, 0, 0, 15, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100, 0]), "overrun"],
    ["Bind value length below -1", bytes([0x42, 0, 0, 0, 16, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0]), "bad-value"],
    ["Bind negative format count", bytes([0x42, 0, 0, 0, 8, 0, 0, 0xff, 0xff]), "bad-value"],
    ["Bind format code 2", bytes([0x42, 0, 0, 0, 14, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]), "bad-value"],
    ["Bind 2 formats for 1 parameter", bytes([0x42, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0]), "bad-value"],
    ["Describe target 'X'", bytes([0x44, 0, 0, 0, 6, 0x58, 0]), "bad-value"],
    ["Execute without row limit", bytes([0x45, 0, 0, 0, 5, 0]), "overrun"],
    ["FunctionCall argument overruns", bytes([0x46, 0, 0, 0, 18, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3]), "overrun"],
  ];

  test.each(MALFORMED)("malformed: %s", (_name, wire, reason) => {
    expect(reasonOf(() => createFrontendDecoder({ maxMessageSize: 1 << 20 }).push(wire))).toBe(reason);
  });

  test("an oversized message names its size and the limit, before its body arrives", () => {
    const d = createFrontendDecoder({ maxMessageSize: 1000 });
    try {
      d.push(bytes([0x64, 0, 0, 0x10, 0x00]));
      throw new Error("no error");
    } catch (e) {
      expect(isGatewayError(e, "E_PROTOCOL")).toBe(true);
      expect((e as Error).message).toBe("message of 4096 bytes exceeds the limit 1000");
      expect((e as { details: unknown }).details).toMatchObject({ reason: "too-large", size: 4096, limit: 1000 });
    }
    // A message exactly at the limit is fine.
    const ok = createFrontendDecoder({ maxMessageSize: 1000 }).push(encodeFrontendMessage({ type: "CopyData", data: new Uint8Array(996) }));
    expect(ok.length).toBe(1);
  });

  test("after an error the decoder stays failed (the stream position is lost)", () => {
    const d = createFrontendDecoder({ maxMessageSize: 1024 });
    expect(reasonOf(() => d.push(bytes([0x7a, 0, 0, 0, 4])))).toBe("unknown-type");
    expect(reasonOf(() => d.push(encodeSync()))).toBe("failed-earlier");
  });

  test("messages before a malformed one in the same chunk are not returned", () => {
    const d = createFrontendDecoder({ maxMessageSize: 1024 });
    expect(reasonOf(() => d.push(concat([encodeQuery("SELECT 1"), bytes([0x51, 0, 0, 0, 2])])))).toBe("bad-length");
  });
});

describe("authentication responses ('p')", () => {
  const decodeOne = (wire: Uint8Array) => {
    const [m] = createFrontendDecoder({ maxMessageSize: 1024 }).push(wire);
    if (m?.type !== "AuthenticationResponse") throw new Error("expected an AuthenticationResponse");
    return m.data;
  };

  test("PasswordMessage", () => {
    expect(encodePasswordMessage("pw")).toEqual(bytes([0x70, 0, 0, 0, 7], "pw", [0]));
    expect(parsePasswordMessage(decodeOne(encodePasswordMessage("md5abc")))).toEqual({ type: "PasswordMessage", password: "md5abc" });
    expect(reasonOf(() => parsePasswordMessage(bytes("pw")))).toBe("unterminated-string");
  });

  test("SASLInitialResponse with and without data", () => {
    const first = "n,,n=,r=abc";
    expect(encodeSASLInitialResponse("SCRAM-SHA-256", first)).toEqual(
      bytes([0x70, 0, 0, 0, 4 + 14 + 4 + first.length], "SCRAM-SHA-256", [0], [0, 0, 0, first.length], first),
    );
    expect(parseSASLInitialResponse(decodeOne(encodeSASLInitialResponse("SCRAM-SHA-256", first)))).toEqual({
      type: "SASLInitialResponse",
      mechanism: "SCRAM-SHA-256",
      data: new TextEncoder().encode(first),
    });
    expect(parseSASLInitialResponse(decodeOne(encodeSASLInitialResponse("X", null)))).toEqual({ type: "SASLInitialResponse", mechanism: "X", data: null });
    expect(reasonOf(() => parseSASLInitialResponse(bytes("M", [0], [0, 0, 0, 9], "abc")))).toBe("overrun");
  });

  test("SASLResponse", () => {
    expect(parseSASLResponse(decodeOne(encodeSASLResponse("c=biws,r=x,p=y")))).toEqual({
      type: "SASLResponse",
      data: new TextEncoder().encode("c=biws,r=x,p=y"),
    });
  });
});

describe("startup decoder", () => {
  const PACKETS: StartupPacket[] = [
    { type: "StartupMessage", protocolVersion: 196608, parameters: new Map([["user", "alice"], ["database", "shop"], ["application_name", "psql"]]) },
    { type: "StartupMessage", protocolVersion: 196610, parameters: new Map([["user", "bob"], ["_pq_.x", "1"]]) },
    { type: "SSLRequest" },
    { type: "GSSENCRequest" },
    { type: "CancelRequest", processId: 4242, secretKey: new Uint8Array([1, 2, 3, 4]) },
  ];

  test("round-trips every startup packet", () => {
    for (const p of PACKETS) {
      const wire = encodeStartupPacket(p);
      const result = createStartupDecoder().push(wire);
      expect(result?.message).toEqual(p);
      expect(result?.raw).toEqual(wire);
      expect(result?.rest.length).toBe(0);
    }
  });

  test("hand-written packets", () => {
    expect(encodeSSLRequest()).toEqual(bytes([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    expect(encodeGSSENCRequest()).toEqual(bytes([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]));
    expect(encodeCancelRequest(7, new Uint8Array([0xde, 0xad, 0xbe, 0xef]))).toEqual(
      bytes([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef]),
    );
    const startup = bytes([0, 0, 0, 20, 0, 3, 0, 0], "user", [0], "alice", [0], [0]);
    expect(encodeStartupMessage({ user: "alice" })).toEqual(startup);
    expect(createStartupDecoder().push(startup)?.message).toEqual({
      type: "StartupMessage",
      protocolVersion: 196608,
      parameters: new Map([["user", "alice"]]),
    });
  });

  test("byte by byte, and hands back the bytes after the packet", () => {
    const startup = encodeStartupMessage({ user: "alice", database: "shop" });
    const stream = concat([startup, encodeQuery("SELECT 1")]);
    const d = createStartupDecoder();
    let result = null;
    let i = 0;
    for (; i < startup.length; i++) {
      expect(result).toBeNull();
      result = d.push(stream.subarray(i, i + 1));
    }
    expect(result?.message.type).toBe("StartupMessage");
    const whole = createStartupDecoder().push(stream);
    expect(whole?.rest).toEqual(encodeQuery("SELECT 1"));
  });

  test("SSLRequest then the real StartupMessage on the same decoder", () => {
    const d = createStartupDecoder();
    expect(d.push(encodeSSLRequest())?.message).toEqual({ type: "SSLRequest" });
    expect(d.push(encodeStartupMessage({ user: "u" }))?.message.type).toBe("StartupMessage");
  });

  const MALFORMED: [string, Uint8Array, ProtocolErrorReason][] = [
    ["length < 8", bytes([0, 0, 0, 4, 0, 3, 0, 0]), "bad-length"],
    ["garbage before startup (an HTTP request)", bytes("GET / HTTP/1.1\r\n"), "too-large"],
    ["TLS ClientHello instead of SSLRequest", bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), "too-large"],
    ["unknown code", bytes([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x31]), "unsupported"],
    ["protocol 2.0", bytes([0, 0, 0, 9, 0, 2, 0, 0, 0]), "unsupported"],
    ["CancelRequest with an 8-byte key (protocol 3.2)", bytes([0, 0, 0, 20, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8]), "unsupported"],
    ["CancelRequest with a short key", bytes([0, 0, 0, 14, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 1, 2]), "unsupported"],
    ["SSLRequest with extra bytes", bytes([0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0]), "trailing-bytes"],
    ["parameters without the final NUL", bytes([0, 0, 0, 19, 0, 3, 0, 0], "user", [0], "alice", [0]), "unterminated-string"],
    ["parameter name without value", bytes([0, 0, 0, 14, 0, 3, 0, 0], "user", [0], [0]), "unterminated-string"],
    ["parameter given twice", bytes([0, 0, 0, 23, 0, 3, 0, 0], "user", [0], "a", [0], "user", [0], "b", [0], [0]), "bad-value"],
    ["bytes after the terminator", bytes([0, 0, 0, 21, 0, 3, 0, 0], "user", [0], "alice", [0], [0], [1]), "trailing-bytes"],
    ["data pipelined after SSLRequest", concat([encodeSSLRequest(), encodeQuery("x")]), "bad-value"],
  ];

  test.each(MALFORMED)("malformed: %s", (_name, wire, reason) => {
    expect(reasonOf(() => createStartupDecoder().push(wire))).toBe(reason);
  });

  test("the CancelRequest error says why", () => {
    expect(() => createStartupDecoder().push(bytes([0, 0, 0, 20, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(
      "CancelRequest with a 8-byte secret key is not supported (protocol 3.0 uses 4 bytes)",
    );
  });
});
