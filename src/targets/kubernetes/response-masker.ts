// Masks Kubernetes API responses: Secret data, and the rules' JSON paths and detectors, in each
// object of whatever shape the server answers with: one object, a list's items, a Table's rows
// (cells and each row's object), a watch event's object. JSON paths are read from the object
// (`$.spec.containers[*].env[*].value`), so one rule covers get, list, watch and Table alike.
// What cannot be read as JSON is refused (E_MASK): a mask that could not be applied is a leak.
import { GatewayError } from "../../core/errors.ts";
import type { Masks } from "../../core/types.ts";
import { MASKED } from "../../masking/detectors.ts";
import type { JsonMasker } from "../../masking/json-masker.ts";
import { parseJsonLossless } from "../../masking/lossless-json.ts";

/** A Secret's data value after masking: base64 of "[masked]", so typed clients still decode it. */
export const MASKED_SECRET_DATA = Buffer.from(MASKED).toString("base64");
/** kubectl apply's copy of the whole object, Secret data included. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

export interface KubeMaskerOptions {
  /** The request reads secrets (core group): every object is masked as a Secret, whatever its kind says. */
  readonly secrets: boolean;
  /** The rules' masks compiled (JSON paths and detectors), or null. */
  readonly rule: JsonMasker | null;
  /** The same detectors without JSON paths, for Table cells; null when there are none. */
  readonly cells: JsonMasker | null;
}

export interface KubeMasker {
  /** Masks one decoded response document (object, list, Table, watch event). */
  maskDocument(value: unknown): { value: unknown; masked: number };
  /** Masks a whole JSON body; throws E_MASK when it is not JSON. */
  maskText(text: string): { text: string; masked: number };
}

const refuse = (message: string): GatewayError => new GatewayError("E_MASK", message);

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Whether a masker is needed at all for this request's response. */
export function needsMasking(secrets: boolean, masks: Masks): boolean {
  return secrets || masks.json.length > 0 || masks.detectors.length > 0;
}

export function createKubeMasker(opts: KubeMaskerOptions): KubeMasker {
  const count = { n: 0 };

  function maskSecret(obj: Record<string, unknown>): Record<string, unknown> {
    let out = obj;
    for (const field of ["data", "stringData"] as const) {
      const d = obj[field];
      if (!isRecord(d)) continue;
      const masked: Record<string, unknown> = {};
      for (const k of Object.keys(d)) {
        masked[k] = field === "data" ? MASKED_SECRET_DATA : MASKED;
        count.n++;
      }
      out = { ...out, [field]: masked };
    }
    const meta = obj.metadata;
    if (isRecord(meta) && isRecord(meta.annotations) && meta.annotations[LAST_APPLIED] !== undefined) {
      count.n++;
      out = { ...out, metadata: { ...meta, annotations: { ...meta.annotations, [LAST_APPLIED]: MASKED } } };
    }
    return out;
  }

  /** One API object (or a PartialObjectMetadata of it). */
  function maskObject(obj: unknown, secretHint: boolean): unknown {
    if (!isRecord(obj)) return obj;
    const kind = obj.kind;
    if (kind === "Table" || (typeof kind === "string" && kind.endsWith("List")) || (kind === undefined && Array.isArray(obj.items))) return maskDocumentValue(obj, secretHint);
    let out: unknown = obj;
    if (secretHint || kind === "Secret") out = maskSecret(obj);
    if (opts.rule !== null) {
      const r = opts.rule.maskValue(out);
      count.n += r.masked;
      out = r.value;
    }
    return out;
  }

  function maskTable(table: Record<string, unknown>, secretHint: boolean): Record<string, unknown> {
    const rows = table.rows;
    if (rows === undefined || rows === null) return table;
    if (!Array.isArray(rows)) throw refuse("a Table whose rows are not a list cannot be masked: refused");
    const outRows = rows.map((row: unknown) => {
      if (!isRecord(row)) throw refuse("a Table row that is not an object cannot be masked: refused");
      const before = count.n;
      const object = row.object === undefined ? undefined : maskObject(row.object, secretHint);
      let cells = row.cells;
      const hiddenValues = count.n > before && row.object !== undefined ? hiddenStrings(row.object, object) : [];
      if (Array.isArray(cells)) {
        // A cell that shows a value the row's object had masked (a column printed from a masked
        // field) is masked too; then the detectors read every cell.
        cells = cells.map((c: unknown) => {
          if (typeof c === "string" && hiddenValues.some((h) => (h.length >= 4 ? c.includes(h) : c === h))) {
            count.n++;
            return MASKED;
          }
          return c;
        });
        if (opts.cells !== null) {
          const r = opts.cells.maskValue(cells);
          count.n += r.masked;
          cells = r.value;
        }
      }
      return { ...row, cells, ...(object !== undefined ? { object } : {}) };
    });
    return { ...table, rows: outRows };
  }

  function maskDocumentValue(doc: unknown, secretHint: boolean): unknown {
    if (!isRecord(doc)) return doc;
    if (doc.kind === "Table") return maskTable(doc, secretHint);
    // A watch event: {type, object}.
    if (typeof doc.type === "string" && "object" in doc && doc.kind === undefined) {
      // An ERROR event carries a Status, which holds no object data.
      return { ...doc, object: maskObject(doc.object, secretHint && doc.type !== "ERROR") };
    }
    if (Array.isArray(doc.items)) {
      const items = doc.items.map((it: unknown) => maskObject(it, secretHint));
      return { ...doc, items };
    }
    if (doc.kind === "Status") return doc;
    return maskObject(doc, secretHint);
  }

  return {
    maskDocument(value) {
      count.n = 0;
      const v = maskDocumentValue(value, opts.secrets);
      return { value: v, masked: count.n };
    },
    maskText(text) {
      let parsed: unknown;
      try {
        parsed = parseJsonLossless(text);
      } catch (e) {
        throw refuse(`the response is not valid JSON, cannot mask it: refused (${e instanceof Error ? e.message : String(e)})`);
      }
      const r = this.maskDocument(parsed);
      return { text: JSON.stringify(r.value), masked: r.masked };
    },
  };
}

/** The strings of `before` that `after` no longer holds at the same place (what the masks hid). */
function hiddenStrings(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown) => {
    if (a === b) return;
    if (typeof a === "string") {
      if (a !== b) out.push(a);
      return;
    }
    if (typeof a === "number" || typeof a === "bigint") {
      if (a !== b) out.push(String(a));
      return;
    }
    if (a === null || typeof a !== "object") return;
    if (Array.isArray(a)) {
      a.forEach((x, i) => walk(x, Array.isArray(b) ? b[i] : undefined));
      return;
    }
    for (const [k, x] of Object.entries(a)) walk(x, isRecord(b) ? b[k] : undefined);
  };
  walk(before, after);
  return out;
}
