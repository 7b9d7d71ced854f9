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

  const transform = typeof rewrite === "function" ? rewrite : null;
  const columns = typeof rewrite === "function" ? null : rewrite.columns;
  const replacement = typeof rewrite === "function" ? null : rewrite.replacement;
  if (columns !== null) {
    for (const c of columns) {
      if (!Number.isInteger(c) || c < 0 || c >= n) {
        throw protocolError("bad-value", `rewriteDataRow: column ${c} does not exist in a row of ${n} columns`);
      }
    }
  }

  // Pass 1: walk the columns, collect the changes (start, end, new value) and the new size.
  // Flat arrays, and value views only where a transform needs them: this runs once per row.
  let spans: number[] | null = null;
  let values: (Uint8Array | null)[] | null = null;
  let newLength = length;
  let pos = 7;
  for (let i = 0; i < n; i++) {
    if (raw.length - pos < 4) throw protocolError("overrun", `DataRow: column ${i} length overruns the message`);
    const len = (raw[pos]! << 24) | (raw[pos + 1]! << 16) | (raw[pos + 2]! << 8) | raw[pos + 3]!;
    const start = pos;
    if (len === -1) {
      pos += 4;
    } else {
      if (len < 0) throw protocolError("bad-value", `DataRow: column ${i} has length ${len}`);
      if (raw.length - pos - 4 < len) throw protocolError("overrun", `DataRow: column ${i} of ${len} bytes overruns the message`);
      pos += 4 + len;
    }
    let next: Uint8Array | null;
    if (transform !== null) {
      const value = len === -1 ? null : raw.subarray(start + 4, pos);
      const out = transform(value, i);
      if (out === undefined || out === value) continue;
      next = out;
    } else {
      if (len === -1 || !columns!.has(i)) continue;
      next = replacement;
    }
    spans ??= [];
    values ??= [];
    spans.push(start, pos);
    values.push(next);
    newLength += 4 + (next === null ? 0 : next.length) - (pos - start);
  }
  if (pos !== raw.length) throw protocolError("trailing-bytes", `DataRow: ${raw.length - pos} unexpected bytes after the last column`);
  if (spans === null || values === null) return raw;
  if (newLength > 0x7fffffff) throw protocolError("too-large", `rewritten DataRow of ${newLength} bytes is too large`);

  // Pass 2: copy unchanged runs, write the new values.
  const out = new Uint8Array(newLength + 1);
  out[0] = BackendType.DataRow;
  writeInt32(out, 1, newLength);
  let from = 5;
  let at = 5;
  for (let k = 0; k < values.length; k++) {
    const start = spans[2 * k]!;
    out.set(raw.subarray(from, start), at);
    at += start - from;
    const value = values[k]!;
    if (value === null) {
      writeInt32(out, at, -1);
      at += 4;
    } else {
      writeInt32(out, at, value.length);
      out.set(value, at + 4);
      at += 4 + value.length;
    }
    from = spans[2 * k + 1]!;
  }
  out.set(raw.subarray(from), at);
  return out;
}

function writeInt32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
