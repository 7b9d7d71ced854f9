import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../../../core/errors.ts";
import { parseDataRow, rewriteDataRow } from "./data-row.ts";
import { encodeDataRow } from "./encode.ts";
import { protocolErrorReason } from "./protocol-error.ts";

const enc = new TextEncoder();
const MASK = enc.encode("***");
/** int4 42 and float8 1.5 in binary format. */
const INT4_42 = new Uint8Array([0, 0, 0, 42]);
const FLOAT8 = new Uint8Array([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);

function valuesOf(raw: Uint8Array): (Uint8Array | null)[] {
  const length = new DataView(raw.buffer, raw.byteOffset).getInt32(1);
  expect(raw[0]).toBe(0x44);
  expect(length).toBe(raw.length - 1);
  return [...parseDataRow(raw.subarray(5)).values];
}

describe("parseDataRow", () => {
  test("text, NULL, empty and binary values", () => {
    const raw = encodeDataRow(["alice", null, "", INT4_42]);
    expect(valuesOf(raw)).toEqual([enc.encode("alice"), null, new Uint8Array(0), INT4_42]);
  });

  test("values are views into the message", () => {
    const raw = encodeDataRow(["alice"]);
    expect(parseDataRow(raw.subarray(5)).values[0]!.buffer).toBe(raw.buffer);
  });
});

describe("rewriteDataRow", () => {
  const row = encodeDataRow(["1", "alice@example.com", null, INT4_42, "", FLOAT8]);

  test("masks the listed columns and writes new lengths", () => {
    const out = rewriteDataRow(row, { columns: new Set([1, 4]), replacement: MASK });
    expect(valuesOf(out)).toEqual([enc.encode("1"), MASK, null, INT4_42, MASK, FLOAT8]);
    expect(out.length).toBe(row.length - "alice@example.com".length + 3 - 0 + 3);
  });

  test("NULL stays NULL under a replacement (masking never invents a value)", () => {
    const out = rewriteDataRow(row, { columns: new Set([2]), replacement: MASK });
    expect(out).toBe(row);
  });

  test("replacement by NULL", () => {
    const out = rewriteDataRow(row, { columns: new Set([1, 3]), replacement: null });
    expect(valuesOf(out)).toEqual([enc.encode("1"), null, null, null, new Uint8Array(0), FLOAT8]);
  });

  test("binary columns through a transform", () => {
    const out = rewriteDataRow(row, (value, column) => {
      if (column === 3 && value !== null) {
        const v = new Uint8Array(value);
        new DataView(v.buffer).setInt32(0, 0);
        return v;
      }
      if (column === 5) return new Uint8Array(8);
      return value;
    });
    expect(valuesOf(out)).toEqual([enc.encode("1"), enc.encode("alice@example.com"), null, new Uint8Array(4), new Uint8Array(0), new Uint8Array(8)]);
  });

  test("a transform can turn NULL into a value and lengthen the first and last column", () => {
    const out = rewriteDataRow(row, (value, column) => {
      if (column === 0) return enc.encode("one-longer");
      if (column === 2) return enc.encode("was null");
      if (column === 5) return enc.encode("last");
      return value;
    });
    expect(valuesOf(out)).toEqual([
      enc.encode("one-longer"),
      enc.encode("alice@example.com"),
      enc.encode("was null"),
      INT4_42,
      new Uint8Array(0),
      enc.encode("last"),
    ]);
  });

  test("fast path: nothing changes → the very same bytes", () => {
    expect(rewriteDataRow(row, (v) => v)).toBe(row);
    expect(rewriteDataRow(row, () => undefined)).toBe(row);
    expect(rewriteDataRow(row, { columns: new Set(), replacement: MASK })).toBe(row);
  });

  test("the transform sees every column with its index and value", () => {
    const seen: [number, string | null][] = [];
    rewriteDataRow(encodeDataRow(["a", null, "c"]), (v, i) => {
      seen.push([i, v === null ? null : new TextDecoder().decode(v)]);
      return v;
    });
    expect(seen).toEqual([[0, "a"], [1, null], [2, "c"]]);
  });

  test("a zero-column row", () => {
    const empty = encodeDataRow([]);
    expect(rewriteDataRow(empty, () => MASK)).toBe(empty);
  });

  const reason = (f: () => unknown) => {
    try {
      f();
      return "no error";
    } catch (e) {
      return isGatewayError(e, "E_PROTOCOL") ? protocolErrorReason(e) : "other";
    }
  };

  test("a listed column that is not in the row is an error, not a silent pass-through", () => {
    expect(reason(() => rewriteDataRow(row, { columns: new Set([6]), replacement: MASK }))).toBe("bad-value");
    expect(reason(() => rewriteDataRow(row, { columns: new Set([-1]), replacement: MASK }))).toBe("bad-value");
  });

  test("malformed rows are refused", () => {
    const truncated = row.slice(0, row.length - 2);
    new DataView(truncated.buffer).setInt32(1, truncated.length - 1);
    expect(reason(() => rewriteDataRow(truncated, (v) => v))).toBe("overrun");
    expect(reason(() => rewriteDataRow(truncated, { columns: new Set(), replacement: MASK }))).toBe("overrun");
    expect(reason(() => rewriteDataRow(row.subarray(0, row.length - 1), (v) => v))).toBe("bad-length");
    expect(reason(() => rewriteDataRow(new Uint8Array([0x43, 0, 0, 0, 6, 0, 0]), (v) => v))).toBe("bad-value");
    const padded = new Uint8Array([...encodeDataRow(["a"]), 9]);
    new DataView(padded.buffer).setInt32(1, padded.length - 1);
    expect(reason(() => rewriteDataRow(padded, (v) => v))).toBe("trailing-bytes");
    const badLen = encodeDataRow(["a"]);
    new DataView(badLen.buffer).setInt32(7, -2);
    expect(reason(() => rewriteDataRow(badLen, (v) => v))).toBe("bad-value");
  });
});
