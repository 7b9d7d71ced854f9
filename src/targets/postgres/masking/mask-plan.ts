// Column masking for result rows: which columns of a RowDescription to hide (by name, by
// origin table.column, and, fail closed, every column of unknown origin when the statement
// reads a table with masked columns), which to scan with the value detectors, and the DataRow
// rewriting itself, as rows stream.
import { GatewayError } from "../../../core/errors.ts";
import type { Masks } from "../../../core/types.ts";
import { MASKED, type Detector } from "../../../masking/detectors.ts";
import type { FieldDescription } from "../protocol/backend-message.ts";
import { rewriteDataRow } from "../protocol/data-row.ts";

/** Where a result column comes from, resolved on the upstream catalog. */
export interface ColumnOrigin {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
}

/** The masks of one statement, compiled once. */
export interface MaskSpec {
  /** Lower-cased bare column names to mask. */
  readonly names: ReadonlySet<string>;
  /** Lower-cased "schema.table.column" origins to mask. */
  readonly origins: ReadonlySet<string>;
  /** Mask columns whose origin is unknown (the statement reads a table with masked columns). */
  readonly unknownOriginMasked: boolean;
  /**
   * False for what a write returns (RETURNING): a column's origin names where the value went,
   * not where it came from (UPDATE t SET name = email RETURNING name), so every column counts
   * as of unknown origin. Absent: true.
   */
  readonly trustOrigins?: boolean;
  readonly detector: Detector | null;
}

/** Lower-cased "schema.table" of each origin mask, to tell which relations have masked columns. */
export function maskedTables(masks: Masks): Set<string> {
  const out = new Set<string>();
  for (const c of masks.columns) {
    const parts = c.toLowerCase().split(".");
    if (parts.length >= 3) out.add(parts.slice(0, -1).join("."));
  }
  return out;
}

/** Bare names among the column masks (lower-cased). */
export function bareMaskNames(masks: Masks): Set<string> {
  const out = new Set<string>();
  for (const c of masks.columns) {
    const parts = c.toLowerCase().split(".");
    out.add(parts[parts.length - 1]!);
  }
  return out;
}

export function compileMaskSpec(
  masks: Masks,
  unknownOriginMasked: boolean,
  compileDetectors: (names: readonly string[]) => Detector,
  trustOrigins = true,
): MaskSpec {
  const names = new Set<string>();
  const origins = new Set<string>();
  for (const c of masks.columns) {
    const lower = c.toLowerCase();
    if (lower.split(".").length >= 3) origins.add(lower);
    else names.add(lower.split(".").pop()!);
  }
  return {
    names,
    origins,
    unknownOriginMasked,
    ...(trustOrigins ? {} : { trustOrigins: false }),
    detector: masks.detectors.length > 0 ? compileDetectors(masks.detectors) : null,
  };
}

const enum Action {
  Keep = 0,
  /** Whole value replaced by [masked] (text) or its binary equivalent. */
  Replace = 1,
  /** Value detectors on the text. */
  Detect = 2,
  /** Value detectors on a binary jsonb value (version byte, then JSON text). */
  DetectJsonb = 3,
  /** A binary value of a type we cannot read as text: NULL, fail closed. */
  Null = 4,
}

const OID = { bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int4: 23, text: 25, oid: 26, json: 114, xml: 142, float4: 700, float8: 701, unknown: 705, bpchar: 1042, varchar: 1043, jsonb: 3802 } as const;

/** Binary formats that are the text itself. */
const TEXT_LIKE: ReadonlySet<number> = new Set([OID.char, OID.name, OID.text, OID.json, OID.xml, OID.unknown, OID.bpchar, OID.varchar]);
/** Binary formats that cannot hold text a detector should find (numbers, times, addresses, ids). */
const NO_TEXT: ReadonlySet<number> = new Set([
  OID.bool, OID.bytea, OID.int8, OID.int2, OID.int4, OID.oid, OID.float4, OID.float8, 24, 28, 29, 650, 790, 829, 869, 1082, 1083, 1114, 1184, 1186, 1266, 1560, 1562, 1700, 2202, 2203, 2204, 2205, 2206, 2950, 3220, 3734, 3769, 4089, 4096,
]);

export interface MaskPlan {
  readonly actions: Uint8Array;
  readonly fields: readonly FieldDescription[];
  /** Nothing to do for any column: rows pass untouched. */
  readonly passthrough: boolean;
  /** Rewrites one DataRow message (whole, type byte included); returns it, or new bytes. */
  rewrite(raw: Uint8Array): Uint8Array;
  /**
   * When only whole columns are replaced (no detectors): writes the rewritten row into `arena`
   * (from the returned offset to arena.pos), so that many rows cost one allocation, not one each.
   */
  readonly rewriteInto: ((raw: Uint8Array, arena: Arena, from?: number, to?: number) => number) | null;
  /** Cells changed so far. */
  readonly masked: number;
}

/** Space rewritten rows are written into; a new buffer is started when one is full (old ones are never reused). */
export interface Arena {
  buf: Uint8Array;
  pos: number;
}

const ARENA_SIZE = 256 * 1024;

function reserve(arena: Arena, n: number): void {
  if (arena.buf.length - arena.pos < n) {
    arena.buf = new Uint8Array(Math.max(ARENA_SIZE, n));
    arena.pos = 0;
  }
}

const encoder = new TextEncoder();
const MASKED_TEXT = encoder.encode(MASKED);
const MASKED_JSON = encoder.encode(JSON.stringify(MASKED));
const MASKED_JSONB = new Uint8Array([1, ...MASKED_JSON]);

function isMasked(spec: MaskSpec, f: FieldDescription, origin: ColumnOrigin | null): boolean {
  if (spec.names.has(f.name.toLowerCase())) return true;
  if (origin !== null) {
    if (spec.names.has(origin.column.toLowerCase())) return true;
    if (spec.origins.has(`${origin.schema}.${origin.table}.${origin.column}`.toLowerCase())) return true;
    if (spec.trustOrigins !== false) return false;
  }
  return spec.unknownOriginMasked;
}

/**
 * Decides per column. `origins[i]` is null when column i has no table origin (an expression)
 * or when the catalog does not know its table.
 */
export function planColumns(spec: MaskSpec, fields: readonly FieldDescription[], origins: readonly (ColumnOrigin | null)[]): MaskPlan {
  const actions = new Uint8Array(fields.length);
  let passthrough = true;
  fields.forEach((f, i) => {
    let a: Action = Action.Keep;
    if (isMasked(spec, f, origins[i] ?? null)) {
      a = f.format === 1 && !TEXT_LIKE.has(f.typeOid) && f.typeOid !== OID.jsonb ? Action.Null : Action.Replace;
    } else if (spec.detector !== null) {
      if (f.format === 0 || TEXT_LIKE.has(f.typeOid)) a = Action.Detect;
      else if (f.typeOid === OID.jsonb) a = Action.DetectJsonb;
      else if (!NO_TEXT.has(f.typeOid)) a = Action.Null;
    }
    actions[i] = a;
    if (a !== Action.Keep) passthrough = false;
  });
  const replacement = fields.map((f) => {
    if (f.typeOid === OID.jsonb) return f.format === 1 ? MASKED_JSONB : MASKED_JSON;
    if (f.typeOid === OID.json) return MASKED_JSON;
    return MASKED_TEXT;
  });
  const detector = spec.detector;
  const strict = new TextDecoder("utf-8", { fatal: true });
  let masked = 0;

  const transform = (value: Uint8Array | null, i: number): Uint8Array | null | undefined => {
    if (value === null) return undefined;
    switch (actions[i]) {
      case Action.Keep:
        return undefined;
      case Action.Replace:
        masked++;
        return replacement[i]!;
      case Action.Null:
        masked++;
        return null;
      case Action.Detect:
      case Action.DetectJsonb: {
        const jsonb = actions[i] === Action.DetectJsonb;
        let text: string;
        try {
          text = strict.decode(jsonb ? value.subarray(1) : value);
        } catch {
          // Not UTF-8 (another client_encoding, or bytes we cannot read): hide it whole.
          masked++;
          return replacement[i]!;
        }
        const r = detector!.maskString(text, fields[i]!.name);
        if (r.hits === 0) return undefined;
        masked++;
        const out = encoder.encode(r.value);
        if (!jsonb) return out;
        const b = new Uint8Array(out.length + 1);
        b[0] = 1;
        b.set(out, 1);
        return b;
      }
    }
    return undefined;
  };

  const fast = !passthrough && !actions.some((a) => a === Action.Detect || a === Action.DetectJsonb);
  const rewriteInto = (raw: Uint8Array, arena: Arena, from = 0, to = raw.length): number => {
    // The row is raw[from..to): a frame inside a chunk, read in place (no view made of it).
    const n = (raw[from + 5]! << 8) | raw[from + 6]!;
    if (n !== actions.length) {
      throw new GatewayError("E_MASK", `a result row has ${n} columns where its RowDescription had ${actions.length}: cannot mask it`);
    }
    // Pass 1: the new length, checking every column length against the message as we go.
    let pos = from + 7;
    let size = 7;
    for (let i = 0; i < n; i++) {
      if (to - pos < 4) throw new GatewayError("E_PROTOCOL", `DataRow: column ${i} length overruns the message`);
      const len = (raw[pos]! << 24) | (raw[pos + 1]! << 16) | (raw[pos + 2]! << 8) | raw[pos + 3]!;
      const body = len < 0 ? 0 : len;
      if (len < -1 || to - pos - 4 < body) throw new GatewayError("E_PROTOCOL", `DataRow: column ${i} of ${len} bytes overruns the message`);
      pos += 4 + body;
      const a = actions[i];
      size += 4 + (len === -1 || a === Action.Keep ? body : a === Action.Replace ? replacement[i]!.length : 0);
    }
    if (pos !== to) throw new GatewayError("E_PROTOCOL", `DataRow: ${to - pos} unexpected bytes after the last column`);
    reserve(arena, size);
    const out = arena.buf;
    const start = arena.pos;
    let at = start;
    out[at] = 0x44; // 'D'
    writeInt32(out, at + 1, size - 1);
    out[at + 5] = raw[from + 5]!;
    out[at + 6] = raw[from + 6]!;
    at += 7;
    pos = from + 7;
    for (let i = 0; i < n; i++) {
      const len = (raw[pos]! << 24) | (raw[pos + 1]! << 16) | (raw[pos + 2]! << 8) | raw[pos + 3]!;
      const body = len < 0 ? 0 : len;
      const a = actions[i];
      if (len === -1 || a === Action.Keep) {
        const end = pos + 4 + body;
        // Short columns byte by byte: cheaper than the view set() needs, and no garbage per row.
        if (end - pos <= 64) for (let j = pos; j < end; j++) out[at++] = raw[j]!;
        else {
          out.set(raw.subarray(pos, end), at);
          at += end - pos;
        }
      } else if (a === Action.Replace) {
        const r = replacement[i]!;
        writeInt32(out, at, r.length);
        out.set(r, at + 4);
        at += 4 + r.length;
        masked++;
      } else {
        writeInt32(out, at, -1);
        at += 4;
        masked++;
      }
      pos += 4 + body;
    }
    arena.pos = at;
    return start;
  };

  return {
    actions,
    fields,
    passthrough,
    rewriteInto: fast ? rewriteInto : null,
    rewrite(raw) {
      if (passthrough) return raw;
      const n = (raw[5]! << 8) | raw[6]!;
      if (n !== actions.length) {
        throw new GatewayError("E_MASK", `a result row has ${n} columns where its RowDescription had ${actions.length}: cannot mask it`);
      }
      return rewriteDataRow(raw, transform);
    },
    get masked() {
      return masked;
    },
  };
}

/** The RowDescription of a portal: a statement's fields with the result formats its Bind chose. */
export function withResultFormats(fields: readonly FieldDescription[], formats: readonly (0 | 1)[]): FieldDescription[] {
  return fields.map((f, i) => ({ ...f, format: formats.length === 0 ? 0 : formats.length === 1 ? formats[0]! : (formats[i] ?? 0) }));
}

function writeInt32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
