// What a response body is, from its Content-Type, for masking: JSON, NDJSON, text, or
// something we cannot read (and so must refuse to pass when a mask applies).

export type BodyKind = "json" | "ndjson" | "text" | "other";

export interface BodyType {
  readonly kind: BodyKind;
  /** The media type, lower case, without parameters; "" when there was no header. */
  readonly mediaType: string;
  /** The charset parameter, lower case, unquoted; null when absent. */
  readonly charset: string | null;
}

const NDJSON_TYPES: ReadonlySet<string> = new Set(["application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"]);
const JSON_TYPES: ReadonlySet<string> = new Set(["application/json", "text/json", "text/x-json"]);

export function classifyContentType(header: string | null): BodyType {
  if (header === null) return { kind: "other", mediaType: "", charset: null };
  const [type = "", ...params] = header.split(";");
  const mediaType = type.trim().toLowerCase();
  let charset: string | null = null;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    charset = param.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").toLowerCase();
  }
  const kind: BodyKind = NDJSON_TYPES.has(mediaType)
    ? "ndjson"
    : JSON_TYPES.has(mediaType) || /^application\/[a-z0-9.!#$&^_+-]+\+json$/.test(mediaType)
      ? "json"
      : /^text\/[a-z0-9.!#$&^_+-]+$/.test(mediaType)
        ? "text"
        : "other";
  return { kind, mediaType, charset };
}

/** UTF-8 is the only charset the maskers read; its spellings. */
export function isUtf8(charset: string | null): boolean {
  return charset === null || charset === "utf-8" || charset === "utf8";
}
