// A write's request body: read whole up to max_body_size (the target must see it to check its
// namespace before deciding, and forwards exactly those bytes), and its copy for the audit
// record, cut at record_body_limit and masked (Secret data, the rules' masks) first.
import { parseAllDocuments } from "yaml";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import type { JsonMasker } from "../../masking/json-masker.ts";
import { createKubeMasker } from "./response-masker.ts";

/** The body, "too-large" past `max` bytes (by Content-Length or as read), or "failed". */
export async function readRequestBody(req: Request, max: number): Promise<Uint8Array | "too-large" | "failed"> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > max) return "too-large";
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => undefined);
        return "too-large";
      }
      chunks.push(value);
    }
  } catch {
    return "failed";
  }
  return chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
}

/**
 * The body as the audit record keeps it: masked, as JSON text, cut to `limit` characters.
 * Protobuf and bodies that do not parse are kept as their size only.
 */
export function recordedBody(body: Uint8Array, contentType: string | null, facts: KubernetesRequestFacts, limit: number, secretData: boolean, rule: JsonMasker | null): Record<string, unknown> | undefined {
  if (limit <= 0) return undefined;
  const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  let value: unknown;
  try {
    const text = Buffer.from(body).toString("utf8");
    if (media.endsWith("yaml")) {
      const docs = parseAllDocuments(text);
      if (!Array.isArray(docs) || docs.length !== 1) return { body_bytes: body.byteLength };
      value = docs[0]!.toJS();
    } else if (media === "application/json" || media.endsWith("+json") || media === "") value = JSON.parse(text);
    else return { body_bytes: body.byteLength };
  } catch {
    return { body_bytes: body.byteLength };
  }
  let masked: unknown;
  try {
    const secrets = secretData && facts.resource === "secrets" && (facts.apiGroup ?? "") === "";
    masked = createKubeMasker({ secrets, rule, cells: null }).maskDocument(value).value;
  } catch {
    return { body_bytes: body.byteLength };
  }
  const text = JSON.stringify(masked);
  return text.length <= limit ? { body: text } : { body: text.slice(0, limit), body_truncated: true, body_bytes: body.byteLength };
}
