import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../../../core/errors.ts";
import type { BackendMessage } from "./backend-message.ts";
import { createBackendDecoder, parseBackendMessage, parseNoticeFields } from "./backend-decoder.ts";
import {
  encodeAuthenticationOk,
  encodeAuthenticationSASL,
  encodeBackendMessage,
  encodeBackendMessages,
  encodeCommandComplete,
  encodeDataRow,
  encodeErrorResponse,
  encodeReadyForQuery,
} from "./encode.ts";
import { protocolErrorReason, type ProtocolErrorReason } from "./protocol-error.ts";

const enc = new TextEncoder();
const bytes = (...parts: (number[] | string)[]): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...enc.encode(p)] : p)));

/** A message with the correct length for its body, for malformed-body cases. */
const frame = (type: string, ...parts: (number[] | string)[]): Uint8Array => {
  const body = bytes(...parts);
  const n = body.length + 4;
  return concat([bytes([type.charCodeAt(0), n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), body]);
};

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES: BackendMessage[] = [
  { type: "AuthenticationOk" },
  { type: "AuthenticationKerberosV5" },
  { type: "AuthenticationCleartextPassword" },
  { type: "AuthenticationMD5Password", salt: new Uint8Array([1, 2, 3, 4]) },
  { type: "AuthenticationGSS" },
  { type: "AuthenticationGSSContinue", data: new Uint8Array([5, 6]) },
  { type: "AuthenticationSSPI" },
  { type: "AuthenticationSASL", mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"] },
  { type: "AuthenticationSASLContinue", data: enc.encode("r=abc,s=c2FsdA==,i=4096") },
  { type: "AuthenticationSASLFinal", data: enc.encode("v=xyz=") },
  { type: "BackendKeyData", processId: 12345, secretKey: new Uint8Array([9, 8, 7, 6]) },
  { type: "ParameterStatus", name: "server_version", value: "15.18" },
  { type: "ReadyForQuery", status: "I" },
  { type: "ReadyForQuery", status: "T" },
  { type: "ReadyForQuery", status: "E" },
  {
    type: "RowDescription",
    fields: [
      { name: "id", tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
      { name: "émail", tableOid: 4294967295, columnAttr: -7, typeOid: 1043, typeSize: -1, typeModifier: 259, format: 1 },
    ],
  },
  { type: "RowDescription", fields: [] },
  { type: "DataRow", values: [enc.encode("1"), null, new Uint8Array(0), new Uint8Array([0, 255, 0])] },
  { type: "DataRow", values: [] },
  { type: "CommandComplete", tag: "SELECT 1" },
  { type: "ErrorResponse", fields: { severity: "ERROR", severityNonLocalized: "ERROR", code: "42501", message: "permission denied", detail: "d", hint: "h" } },
  {
    type: "NoticeResponse",
    fields: {
      severity: "NOTICE", severityNonLocalized: "NOTICE", code: "00000", message: "m", position: "3", internalPosition: "4",
      internalQuery: "q", where: "w", schema: "s", table: "t", column: "c", dataType: "d", constraint: "n", file: "f.c", line: "12", routine: "r",
    },
  },
  { type: "NotificationResponse", processId: 77, channel: "jobs", payload: "{\"id\":1}" },
  { type: "ParseComplete" },
  { type: "BindComplete" },
  { type: "CloseComplete" },
  { type: "NoData" },
  { type: "PortalSuspended" },
  { type: "EmptyQueryResponse" },
  { type: "ParameterDescription", parameterTypes: [23, 25, 4294967295] },
  { type: "CopyInResponse", format: 0, columnFormats: [0, 0] },
  { type: "CopyOutResponse", format: 1, columnFormats: [1] },
  { type: "CopyBothResponse", format: 0, columnFormats: [] },
  { type: "CopyData", data: enc.encode("1\tfoo\n") },
  { type: "CopyDone" },
  { type: "NegotiateProtocolVersion", newestMinorVersion: 0, unrecognizedOptions: ["_pq_.a", "_pq_.b"] },
  { type: "FunctionCallResponse", result: new Uint8Array([0, 0, 0, 1]) },
  { type: "FunctionCallResponse", result: null },
];

interface Seen {
  type: number;
  body: Uint8Array;
  raw: Uint8Array;
}

function collect(stream: Uint8Array, chunkSizes: () => number): Seen[] {
  const d = createBackendDecoder();
  const out: Seen[] = [];
  for (let at = 0; at < stream.length; ) {
    const n = Math.max(1, Math.min(chunkSizes(), stream.length - at));
    d.push(stream.subarray(at, at + n), (type, body, raw) => out.push({ type, body, raw }));
    at += n;
  }
  expect(d.buffered).toBe(0);
  return out;
}

const parsed = (seen: Seen[]) => seen.map((s) => parseBackendMessage(s.type, s.body));

function reasonOf(f: () => unknown): ProtocolErrorReason | "no error" | "not a protocol error" {
  try {
    f();
  } catch (e) {
    if (!isGatewayError(e, "E_PROTOCOL")) return "not a protocol error";
    return protocolErrorReason(e) ?? "not a protocol error";
  }
  return "no error";
}

describe("backend decoder", () => {
  test("round-trips every message type", () => {
    for (const m of SAMPLES) {
      const wire = encodeBackendMessage(m);
      const seen = collect(wire, () => wire.length);
      expect(seen.length).toBe(1);
      expect(seen[0]!.raw).toEqual(wire);
      expect(parseBackendMessage(seen[0]!.type, seen[0]!.body)).toEqual(m);
    }
  });

  test("decodes hand-written bytes as PostgreSQL sends them", () => {
    const stream = concat([
      bytes([0x52, 0, 0, 0, 8, 0, 0, 0, 0]),
      bytes([0x53, 0, 0, 0, 25], "client_encoding", [0], "UTF8", [0]),
      bytes([0x4b, 0, 0, 0, 12, 0, 0, 0x30, 0x39, 0xca, 0xfe, 0xba, 0xbe]),
      bytes([0x5a, 0, 0, 0, 5, 0x49]),
      bytes([0x54, 0, 0, 0, 33, 0, 1], "?column?", [0], [0, 0, 0, 0], [0, 0], [0, 0, 0, 23], [0, 4], [0xff, 0xff, 0xff, 0xff], [0, 0]),
      bytes([0x44, 0, 0, 0, 11, 0, 1, 0, 0, 0, 1], "1"),
      bytes([0x43, 0, 0, 0, 13], "SELECT 1", [0]),
    ]);
    expect(parsed(collect(stream, () => stream.length))).toEqual([
      { type: "AuthenticationOk" },
      { type: "ParameterStatus", name: "client_encoding", value: "UTF8" },
      { type: "BackendKeyData", processId: 12345, secretKey: new Uint8Array([0xca, 0xfe, 0xba, 0xbe]) },
      { type: "ReadyForQuery", status: "I" },
      { type: "RowDescription", fields: [{ name: "?column?", tableOid: 0, columnAttr: 0, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 }] },
      { type: "DataRow", values: [enc.encode("1")] },
      { type: "CommandComplete", tag: "SELECT 1" },
    ]);
    expect(encodeAuthenticationOk()).toEqual(stream.subarray(0, 9));
    expect(encodeReadyForQuery("I")).toEqual(bytes([0x5a, 0, 0, 0, 5, 0x49]));
    expect(encodeDataRow(["1"])).toEqual(bytes([0x44, 0, 0, 0, 11, 0, 1, 0, 0, 0, 1], "1"));
    expect(encodeDataRow([null])).toEqual(bytes([0x44, 0, 0, 0, 10, 0, 1, 0xff, 0xff, 0xff, 0xff]));
    expect(encodeCommandComplete("SELECT 1")).toEqual(bytes([0x43, 0, 0, 0, 13], "SELECT 1", [0]));
    expect(encodeAuthenticationSASL(["SCRAM-SHA-256"])).toEqual(bytes([0x52, 0, 0, 0, 23, 0, 0, 0, 10], "SCRAM-SHA-256", [0, 0]));
  });

  test("ErrorResponse bytes: S and V first, fields in order, closing 0", () => {
    expect(encodeErrorResponse({ severity: "ERROR", code: "42501", message: "denied", hint: "ask" })).toEqual(
      bytes([0x45, 0, 0, 0, 39], "SERROR", [0], "VERROR", [0], "C42501", [0], "Mdenied", [0], "Hask", [0], [0]),
    );
    expect(() => encodeErrorResponse({ severity: "ERROR", code: "4250", message: "x" })).toThrow("SQLSTATE");
    expect(() => encodeErrorResponse({ severity: "ERROR", code: "42501", message: "a\0b" })).toThrow("NUL");
  });

  test("unknown notice field codes are skipped, as the protocol requires", () => {
    expect(parseNoticeFields(bytes("SERROR", [0], "Zfuture", [0], "Mboom", [0], [0]))).toEqual({ severity: "ERROR", message: "boom" });
  });

  test("whole messages are views of the chunk (no copy)", () => {
    const chunk = encodeBackendMessages([{ type: "DataRow", values: [enc.encode("a")] }, { type: "CommandComplete", tag: "SELECT 1" }]);
    const seen = collect(chunk, () => chunk.length);
    for (const s of seen) {
      expect(s.raw.buffer).toBe(chunk.buffer);
      expect(s.body.buffer).toBe(chunk.buffer);
      expect(s.body.byteOffset).toBe(s.raw.byteOffset + 5);
    }
  });

  test("one byte at a time and random chunk sizes give the same messages", () => {
    const rows: BackendMessage[] = Array.from({ length: 500 }, (_, i) => ({
      type: "DataRow" as const,
      values: [enc.encode(String(i)), i % 7 === 0 ? null : enc.encode("x".repeat(i % 50)), new Uint8Array(i % 3)],
    }));
    const stream = encodeBackendMessages([...SAMPLES, ...rows, { type: "CopyData", data: new Uint8Array(100_000).fill(3) }, ...SAMPLES]);
    const whole = collect(stream, () => stream.length);
    expect(whole.length).toBe(SAMPLES.length * 2 + rows.length + 1);
    const expected = parsed(whole);
    expect(parsed(collect(stream, () => 1))).toEqual(expected);
    for (const seed of [1, 2, 3, 99, 2024]) {
      const r = rng(seed);
      const seen = collect(stream, () => 1 + Math.floor(r() * 64));
      expect(parsed(seen)).toEqual(expected);
      expect(concat(seen.map((s) => s.raw))).toEqual(stream);
    }
    const r = rng(5);
    expect(parsed(collect(stream, () => 1 + Math.floor(r() * 30_000)))).toEqual(expected);
  });

  test("a gathered message keeps its own buffer: later pushes do not overwrite it", () => {
    const a = encodeDataRow(["first"]);
    const b = encodeDataRow(["second"]);
    const d = createBackendDecoder();
    const raws: Uint8Array[] = [];
    const scratch = new Uint8Array(64);
    // The caller reuses one scratch buffer for every chunk; split messages must survive that.
    const feed = (bytes: Uint8Array) => {
      scratch.set(bytes);
      d.push(scratch.subarray(0, bytes.length), (_t, _b, raw) => raws.push(raw));
    };
    feed(a.subarray(0, 7));
    feed(a.subarray(7));
    feed(b.subarray(0, 3));
    feed(b.subarray(3));
    expect(raws).toEqual([a, b]);
  });

  const MALFORMED: [string, Uint8Array, ProtocolErrorReason][] = [
    ["length < 4", bytes([0x44, 0, 0, 0, 0]), "bad-length"],
    ["unknown type byte", bytes([0x78, 0, 0, 0, 4]), "unknown-type"],
    ["frontend-only type 'Q'", bytes([0x51, 0, 0, 0, 4]), "unknown-type"],
    ["DataRow column overruns", bytes([0x44, 0, 0, 0, 12, 0, 1, 0, 0, 0, 9, 1, 2]), "overrun"],
    ["DataRow count overruns", bytes([0x44, 0, 0, 0, 6, 0, 5]), "overrun"],
    ["DataRow negative count", bytes([0x44, 0, 0, 0, 6, 0xff, 0xff]), "bad-value"],
    ["DataRow trailing bytes", bytes([0x44, 0, 0, 0, 7, 0, 0, 1]), "trailing-bytes"],
    ["RowDescription count overruns", bytes([0x54, 0, 0, 0, 6, 0, 2]), "overrun"],
    ["RowDescription name without NUL", frame("T", [0, 1], "abcdefghijklmnopqrstuvwxyz0123"), "unterminated-string"],
    ["RowDescription format 2", frame("T", [0, 1], "a", [0], [0, 0, 0, 0], [0, 0], [0, 0, 0, 23], [0, 4], [0, 0, 0, 0], [0, 2]), "bad-value"],
    ["ReadyForQuery status 'X'", bytes([0x5a, 0, 0, 0, 5, 0x58]), "bad-value"],
    ["ReadyForQuery without status", bytes([0x5a, 0, 0, 0, 4]), "overrun"],
    ["CommandComplete without NUL", bytes([0x43, 0, 0, 0, 7], "SEL"), "unterminated-string"],
    ["ErrorResponse without closing 0", frame("E", "SERROR", [0]), "unterminated-string"],
    ["ErrorResponse field without NUL", bytes([0x45, 0, 0, 0, 8], "SERR"), "unterminated-string"],
    ["Authentication unknown subtype", bytes([0x52, 0, 0, 0, 8, 0, 0, 0, 99]), "unsupported"],
    ["AuthenticationOk with extra bytes", bytes([0x52, 0, 0, 0, 9, 0, 0, 0, 0, 1]), "trailing-bytes"],
    ["AuthenticationMD5Password short salt", bytes([0x52, 0, 0, 0, 10, 0, 0, 0, 5, 1, 2]), "overrun"],
    ["AuthenticationSASL list not terminated", frame("R", [0, 0, 0, 10], "AB", [0]), "unterminated-string"],
    ["BackendKeyData short key", bytes([0x4b, 0, 0, 0, 10, 0, 0, 0, 1, 1, 2]), "bad-value"],
    ["ParseComplete with a body", bytes([0x31, 0, 0, 0, 5, 0]), "trailing-bytes"],
    ["CopyOutResponse format 2", bytes([0x48, 0, 0, 0, 7, 2, 0, 0]), "bad-value"],
    ["ParameterDescription count overruns", bytes([0x74, 0, 0, 0, 8, 0, 2, 0, 0]), "overrun"],
    ["NegotiateProtocolVersion count overruns", bytes([0x76, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 9]), "overrun"],
    ["ParameterStatus invalid UTF-8", bytes([0x53, 0, 0, 0, 9, 0x61, 0, 0xff, 0xfe, 0]), "bad-encoding"],
  ];

  test.each(MALFORMED)("malformed: %s", (_name, wire, reason) => {
    expect(reasonOf(() => createBackendDecoder().push(wire, (type, body) => parseBackendMessage(type, body)))).toBe(reason);
  });

  test("maxMessageSize applies to server messages too", () => {
    const d = createBackendDecoder({ maxMessageSize: 100 });
    expect(() => d.push(bytes([0x44, 0, 0, 1, 0]), () => {})).toThrow("message of 256 bytes exceeds the limit 100");
  });

  test("a throwing handler kills the decoder, so no message is silently skipped", () => {
    const d = createBackendDecoder();
    expect(() =>
      d.push(encodeCommandComplete("SELECT 1"), () => {
        throw new Error("handler failed");
      }),
    ).toThrow("handler failed");
    expect(reasonOf(() => d.push(encodeCommandComplete("SELECT 1"), () => {}))).toBe("failed-earlier");
  });
});
