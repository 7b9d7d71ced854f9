// Masks what an MCP result shows the agent: the text of tool results (content[].text, embedded
// resources), structuredContent (JSON paths relative to it, then detectors over every leaf),
// resources/read contents and prompt messages. Only the values change: the JSON-RPC envelope and
// the result's shape stay as the upstream sent them. What cannot be masked is refused.
import { GatewayError } from "../../core/errors.ts";
import type { Masks } from "../../core/types.ts";

/** The masker a rule's masks compile to (json-masker.ts): masks any parsed JSON value. */
export interface ValueMasker {
  maskValue(value: unknown): { value: unknown; masked: number };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One content block (text, embedded resource, audio/image data left as it is). */
function maskContent(block: unknown, masker: ValueMasker, count: { n: number }): unknown {
  if (!isObj(block)) return block;
  if (block["type"] === "text" && typeof block["text"] === "string") {
    const r = masker.maskValue(block["text"]);
    count.n += r.masked;
    return r.masked > 0 ? { ...block, text: r.value } : block;
  }
  if (block["type"] === "resource" && isObj(block["resource"])) {
    const inner = maskResourceContents(block["resource"], masker, count);
    return inner === block["resource"] ? block : { ...block, resource: inner };
  }
  return block;
}

function maskResourceContents(c: Obj, masker: ValueMasker, count: { n: number }): Obj {
  if (typeof c["text"] !== "string") return c;
  const r = masker.maskValue(c["text"]);
  count.n += r.masked;
  return r.masked > 0 ? { ...c, text: r.value } : c;
}

function maskArray(list: unknown, f: (v: unknown) => unknown): unknown {
  if (!Array.isArray(list)) return list;
  let changed = false;
  const out = list.map((v) => {
    const m = f(v);
    if (m !== v) changed = true;
    return m;
  });
  return changed ? out : list;
}

/**
 * The result with sensitive values masked, and how many. `method` says which parts are shown
 * text. Throws E_MASK when the masks ask for what an MCP result does not have (table columns).
 */
export function maskResult(method: string, result: Obj, masks: Masks, masker: ValueMasker | null): { result: Obj; masked: number } {
  if (masks.columns.length > 0) throw new GatewayError("E_MASK", `the deciding rules mask table columns (${masks.columns.join(", ")}), which an MCP result does not have; scope those rules to database targets`);
  if (masker === null) return { result, masked: 0 };
  const count = { n: 0 };
  let out: Obj = result;
  switch (method) {
    case "tools/call": {
      const content = maskArray(result["content"], (b) => maskContent(b, masker, count));
      if (content !== result["content"]) out = { ...out, content };
      if (result["structuredContent"] !== undefined) {
        const r = masker.maskValue(result["structuredContent"]);
        if (r.masked > 0) {
          count.n += r.masked;
          out = { ...out, structuredContent: r.value };
        }
      }
      break;
    }
    case "resources/read": {
      const contents = maskArray(result["contents"], (c) => (isObj(c) ? maskResourceContents(c, masker, count) : c));
      if (contents !== result["contents"]) out = { ...out, contents };
      break;
    }
    case "prompts/get": {
      const messages = maskArray(result["messages"], (m) => {
        if (!isObj(m)) return m;
        const c = maskContent(m["content"], masker, count);
        return c === m["content"] ? m : { ...m, content: c };
      });
      if (messages !== result["messages"]) out = { ...out, messages };
      if (typeof result["description"] === "string") {
        const r = masker.maskValue(result["description"]);
        if (r.masked > 0) {
          count.n += r.masked;
          out = { ...out, description: r.value };
        }
      }
      break;
    }
    default: {
      // Anything else that carries data (completion values, a task's result): every string.
      const r = masker.maskValue(result);
      if (r.masked > 0) {
        count.n += r.masked;
        out = r.value as Obj;
      }
    }
  }
  return { result: out, masked: count.n };
}
