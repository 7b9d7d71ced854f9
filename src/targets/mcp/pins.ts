// Definition pinning: a lock file beside the policy records the SHA-256 of each tool's definition
// as it was reviewed; the runtime hides and refuses a tool that is new or whose definition changed
// upstream (a server that rewrites a description after review cannot slip new instructions to the
// agent). `gatehouse mcp pin TARGET` writes the file; a person reviews it like any policy change.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { GatewayError } from "../../core/errors.ts";
import { canonicalJson } from "../../audit/canonical-json.ts";
import { parseStrictJson } from "./strict-json.ts";

export interface ToolPin {
  readonly sha256: string;
}

export interface PinFile {
  readonly servers: Record<string, { tools: Record<string, string /* sha256 */> }>;
}

export type PinStatus = "pinned" | "new" | "changed";

/**
 * The parts of a tool definition an agent (or the person behind it) reads or acts on. Besides the
 * five the design names, `title` too: clients show it, and it can carry instructions as well as a
 * description can. `_meta` and `icons` are not part of what the model is told.
 */
const PINNED_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

/** SHA-256 (hex) over the canonical JSON of the tool's pinned fields; throws E_PROTOCOL on a tool without a string name. */
export function toolDigest(tool: unknown): string {
  if (tool === null || typeof tool !== "object" || Array.isArray(tool)) throw new GatewayError("E_PROTOCOL", "a tool definition is not a JSON object");
  const t = tool as Record<string, unknown>;
  if (typeof t["name"] !== "string" || t["name"] === "") throw new GatewayError("E_PROTOCOL", "a tool definition has no name");
  const picked: Record<string, unknown> = {};
  for (const f of PINNED_FIELDS) if (Object.hasOwn(t, f) && t[f] !== undefined) picked[f] = t[f];
  return createHash("sha256").update(canonicalJson(picked)).digest("hex");
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A map with no prototype: a server or tool named "__proto__" or "constructor" is just a key. */
function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function invalid(path: string, why: string): GatewayError {
  return new GatewayError("E_CONFIG_INVALID", `pin file ${path}: ${why}`, { details: { file: path } });
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** Checks the shape strictly: a misspelt key would otherwise pin nothing and hide every tool, or worse, be ignored. */
function pinFileFrom(value: unknown, path: string): PinFile {
  if (!isObject(value)) throw invalid(path, "expected a JSON object");
  for (const k of Object.keys(value)) if (k !== "servers") throw invalid(path, `unknown key ${JSON.stringify(k)} (expected only "servers")`);
  const servers = value["servers"];
  if (!isObject(servers)) throw invalid(path, `"servers" must be an object of server names`);
  const out = record<{ tools: Record<string, string> }>();
  for (const [name, s] of Object.entries(servers)) {
    if (!isObject(s)) throw invalid(path, `server ${JSON.stringify(name)} must be an object with "tools"`);
    for (const k of Object.keys(s)) if (k !== "tools") throw invalid(path, `server ${JSON.stringify(name)}: unknown key ${JSON.stringify(k)} (expected only "tools")`);
    const tools = s["tools"];
    if (!isObject(tools)) throw invalid(path, `server ${JSON.stringify(name)}: "tools" must be an object of tool names`);
    const pinned = record<string>();
    for (const [tool, digest] of Object.entries(tools)) {
      if (typeof digest !== "string" || !SHA256.test(digest)) throw invalid(path, `server ${JSON.stringify(name)}, tool ${JSON.stringify(tool)}: expected a lower-case hex SHA-256, got ${JSON.stringify(digest)}`);
      pinned[tool] = digest;
    }
    out[name] = { tools: pinned };
  }
  return { servers: out };
}

/**
 * The pin file, or null when it does not exist (nothing pinned: every tool is "new"). Any other
 * problem (unreadable, not strict JSON, duplicate keys, a wrong shape) throws: a broken lock file
 * must not read as an empty one.
 */
export function readPinFile(path: string): PinFile | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new GatewayError("E_CONFIG_READ", `cannot read pin file ${path}: ${(e as Error).message}`, { cause: e });
  }
  let value: unknown;
  try {
    value = parseStrictJson(text.replace(/^\uFEFF/, ""));
  } catch (e) {
    throw new GatewayError("E_CONFIG_PARSE", `pin file ${path} is not valid JSON: ${(e as Error).message}`, { cause: e, details: { file: path } });
  }
  return pinFileFrom(value, path);
}

/** "pinned" when the tool's digest is the one recorded for it on this server; "new" when none is (or it has no name); "changed" otherwise. */
export function pinStatus(pins: PinFile | null, server: string, tool: unknown): PinStatus {
  let digest: string;
  let name: string;
  try {
    digest = toolDigest(tool);
    name = (tool as { name: string }).name;
  } catch {
    return "new";
  }
  const s = pins !== null && Object.hasOwn(pins.servers, server) ? pins.servers[server] : undefined;
  if (s === undefined || !Object.hasOwn(s.tools, name)) return "new";
  return s.tools[name] === digest ? "pinned" : "changed";
}

/** Writes the file atomically (a temporary file renamed over it), servers and tools sorted, for a readable diff in review. */
export function writePinFile(path: string, pins: PinFile): void {
  const servers = record<{ tools: Record<string, string> }>();
  for (const name of Object.keys(pins.servers).sort()) {
    const tools = record<string>();
    const s = pins.servers[name]!;
    for (const t of Object.keys(s.tools).sort()) tools[t] = s.tools[t]!;
    servers[name] = { tools };
  }
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ servers }, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}
