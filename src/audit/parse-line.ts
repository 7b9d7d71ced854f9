// Turns one line of the log (bytes, without its "\n") into a checked record, or says exactly
// what is wrong with it. Shared by the reader, verify and the repair at open.
import { computeHash, recordSchemaProblem, type AuditRecord } from "./record.ts";

export type ParsedLine = { readonly ok: true; readonly record: AuditRecord } | { readonly ok: false; readonly problem: string };

// Stateless when used without { stream: true }, so one instance can serve every call.
const utf8 = new TextDecoder("utf-8", { fatal: true });

export function decodeLine(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Parse and schema-check a line; with `checkHash` also recompute its hash. */
export function parseLine(bytes: Uint8Array, checkHash: boolean): ParsedLine {
  if (bytes.length === 0) return { ok: false, problem: "empty line" };
  const text = decodeLine(bytes);
  if (text === null) return { ok: false, problem: "not valid UTF-8" };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `not valid JSON (${(e as Error).message}): ${excerpt(text)}` };
  }
  const schema = recordSchemaProblem(value);
  if (schema !== null) return { ok: false, problem: `not an audit record: ${schema}` };
  const record = value as AuditRecord;
  if (checkHash) {
    const computed = computeHash(record);
    if (computed !== record.hash) {
      return { ok: false, problem: `hash mismatch: record says ${record.hash}, computed ${computed}` };
    }
  }
  return { ok: true, record };
}

/** A short, printable piece of a bad line for messages and the log.repaired record. */
export function excerpt(text: string, max = 80): string {
  const cut = text.length > max ? text.slice(0, max) + "…" : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function bytesExcerpt(bytes: Uint8Array, max = 80): string {
  return excerpt(new TextDecoder("utf-8").decode(bytes.subarray(0, max * 4)), max);
}
