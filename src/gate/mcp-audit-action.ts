// What an audit record keeps of an MCP request's arguments: every string passed through all the
// value detectors (an agent passes secrets in arguments as readily as it receives them), and the
// SHA-256 of the canonical arguments, so a record can still be matched to the exact call (an
// approval's, a replay's) without holding what it hid.
import { createHash } from "node:crypto";
import { snakeCaseFacts } from "../audit/action-keys.ts";
import { canonicalJson } from "../audit/canonical-json.ts";
import { compileDetectors, DETECTOR_NAMES, type Detector } from "../masking/detectors.ts";

let detector: Detector | null = null;

function mask(v: unknown, field: string | undefined, depth: number): unknown {
  if (typeof v === "string") return (detector ??= compileDetectors(DETECTOR_NAMES)).maskString(v, field).value;
  if (typeof v !== "object" || v === null || depth > 64) return v;
  if (Array.isArray(v)) return v.map((x) => mask(x, field, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = mask(x, k, depth + 1);
  return out;
}

/** The digests of argument objects seen lately: the session and the record ask for the same one. */
const digests = new WeakMap<object, string>();

/** SHA-256 (hex) of the canonical JSON of a call's arguments. */
export function argumentsSha256(args: unknown): string {
  const key = typeof args === "object" && args !== null ? args : null;
  const known = key !== null ? digests.get(key) : undefined;
  if (known !== undefined) return known;
  const d = createHash("sha256").update(canonicalJson(args ?? {})).digest("hex");
  if (key !== null) digests.set(key, d);
  return d;
}

/** The facts of an MCP request as its records carry them (arguments masked, their digest beside). */
export function mcpAuditAction(r: Record<string, unknown>): Record<string, unknown> {
  const args = r["arguments"];
  const sql = r["sql"] as Record<string, unknown> | undefined;
  // The pinned input schema is in the pin file; the record names the pin instead.
  const { inputSchema: _schema, listing: _listing, ...rest } = r;
  return {
    ...rest,
    ...(args !== undefined ? { arguments: mask(args, undefined, 0), arguments_sha256: argumentsSha256(args) } : {}),
    // The SQL facts in record keys (user_functions); the arguments keep the caller's own.
    ...(sql !== undefined ? { sql: typeof sql["text"] === "string" ? { ...snakeCaseFacts(sql), text: mask(sql["text"], undefined, 0) } : snakeCaseFacts(sql) } : {}),
  };
}
