// DataRow ('D'): parse a row's values, and rewrite some of them (masking) into a new, correctly
// framed DataRow; when nothing changes the original bytes come back untouched.
import type { DataRow } from "./backend-message.ts";
import { ByteReader } from "./byte-reader.ts";
import { BackendType } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";

export function parseDataRow(body: Uint8Array): DataRow {
  const r = new ByteReader(body, "DataRow");
  const n = r.count16("column count", 4);
  const values: (Uint8Array | null)[] = new Array(n);
  for (let i = 0; i < n; i++) values[i] = r.nullableBytes(`column ${i}`);
  r.end();
  return { type: "DataRow", values };
}

/**
 * Returns a column's new value: a Uint8Array, null for SQL NULL, or the very `value` it was
 * given (or undefined) to leave the column as it is. `value` is a view into the message.
 */
export type ColumnTransform = (value: Uint8Array | null, column: number) => Uint8Array | null | undefined;

/** Replace the listed columns (0-based) with one value; NULLs stay NULL so masking never invents data. */
export interface ColumnReplacement {
  readonly columns: ReadonlySet<number>;
  readonly replacement: Uint8Array | null;
}

/**
 * Rewrites the DataRow whose whole message (type byte, length, body) is `raw`. Returns `raw`
 * itself when no column changes, else a new message with new lengths. Throws E_PROTOCOL when
 * `raw` is not a well-formed DataRow, and when a listed column does not exist in the row (a
 * mask that cannot apply must not silently pass the data through).
 */
export function rewriteDataRow(raw: Uint8Array, rewrite: ColumnTransform | ColumnReplacement): Uint8Array {
  if (raw.length < 7 || raw[0] !== BackendType.DataRow) {
    throw protocolError("bad-value", "rewriteDataRow: not a DataRow message");
  }
  const length = ((raw[1]! << 24) | (raw[2]! << 16) | (raw[3]! << 8) | raw[4]!) >>> 0;
  if (length + 1 !== raw.length) {
    throw protocolError("bad-length", `rewriteDataRow: length field ${length} does not match the ${raw.length}-byte message`);
  }
  const n = (raw[5]! << 8) | raw[6]!;
  if (n > 0x7fff) throw protocolError("bad-value", `DataRow: column count is negative (${n - 0x10000})`);

  let transform: ColumnTransform;
  if (typeof rewrite === "function") {
    transform = rewrite;
  } else {
    if (rewrite.columns.size === 0) {
      validateDataRow(raw, n);
      return raw;
    }
    for (const c of rewrite.columns) {
      if (!Number.isInteger(c) || c < 0 || c >= n) {
        throw protocolError("bad-value", `rewriteDataRow: column ${c} does not exist in a row of ${n} columns`);
      }
    }
    const { columns, replacement } = rewrite;
    transform = (value, column) => (value !== null && columns.has(column) ? replacement : undefined);
  }

  // Pass 1: walk the columns, collect the changes and the new size.
  let changes: { column: number; start: number; end: number; value: Uint8Array | null }[] | null = null;
  let newLength = length;
  let pos = 7;
  for (let i = 0; i < n; i++) {
    if (raw.length - pos < 4) throw protocolError("overrun", `DataRow: column ${i} length overruns the message`);
    const len = (raw[pos]! << 24) | (raw[pos + 1]! << 16) | (raw[pos + 2]! << 8) | raw[pos + 3]!;
    const start = pos;
    let value: Uint8Array | null;
    if (len === -1) {
      value = null;
      pos += 4;
    } else {
      if (len < 0) throw protocolError("bad-value", `DataRow: column ${i} has length ${len}`);
      if (raw.length - pos - 4 < len) throw protocolError("overrun", `DataRow: column ${i} of ${len} bytes overruns the message`);
      value = raw.subarray(pos + 4, pos + 4 + len);
      pos += 4 + len;
    }
    const next = transform(value, i);
    if (next === undefined || next === value) continue;
    changes ??= [];
    changes.push({ column: i, start, end: pos, value: next });
    newLength += 4 + (next === null ? 0 : next.length) - (pos - start);
  }
  if (pos !== raw.length) throw protocolError("trailing-bytes", `DataRow: ${raw.length - pos} unexpected bytes after the last column`);
  if (changes === null) return raw;
  if (newLength > 0x7fffffff) throw protocolError("too-large", `rewritten DataRow of ${newLength} bytes is too large`);

  // Pass 2: copy unchanged runs, write the new values.
  const out = new Uint8Array(newLength + 1);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = BackendType.DataRow;
  view.setInt32(1, newLength);
  let from = 5;
  let at = 5;
  for (const c of changes) {
    out.set(raw.subarray(from, c.start), at);
    at += c.start - from;
    if (c.value === null) {
      view.setInt32(at, -1);
      at += 4;
    } else {
      view.setInt32(at, c.value.length);
      out.set(c.value, at + 4);
      at += 4 + c.value.length;
    }
    from = c.end;
  }
  out.set(raw.subarray(from), at);
  return out;
}

function validateDataRow(raw: Uint8Array, n: number): void {
  let pos = 7;
  for (let i = 0; i < n; i++) {
    if (raw.length - pos < 4) throw protocolError("overrun", `DataRow: column ${i} length overruns the message`);
    const len = (raw[pos]! << 24) | (raw[pos + 1]! << 16) | (raw[pos + 2]! << 8) | raw[pos + 3]!;
    pos += 4;
    if (len === -1) continue;
    if (len < 0) throw protocolError("bad-value", `DataRow: column ${i} has length ${len}`);
    if (raw.length - pos < len) throw protocolError("overrun", `DataRow: column ${i} of ${len} bytes overruns the message`);
    pos += len;
  }
  if (pos !== raw.length) throw protocolError("trailing-bytes", `DataRow: ${raw.length - pos} unexpected bytes after the last column`);
}
