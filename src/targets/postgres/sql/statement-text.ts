// A statement's own slice of the query text. The parser reports byte offsets into the UTF-8
// encoding of the query; JavaScript strings index UTF-16 code units, so non-ASCII text is sliced
// on its bytes.

export interface ByteSpan {
  /** Byte offset of the statement's first token. */
  readonly location: number;
  /** Byte length; 0 means "to the end of the text", as the parser reports the last statement. */
  readonly length: number;
}

/** Slices `sql` by byte spans; encodes the text once however many statements there are. */
export function statementTexts(sql: string, spans: readonly ByteSpan[]): string[] {
  if (!/[^\x00-\x7f]/.test(sql)) return spans.map((s) => sql.slice(s.location, s.length === 0 ? undefined : s.location + s.length));
  const bytes = new TextEncoder().encode(sql);
  const decoder = new TextDecoder();
  return spans.map((s) => decoder.decode(bytes.subarray(s.location, s.length === 0 ? bytes.length : s.location + s.length)));
}
