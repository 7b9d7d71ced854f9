// The own client's answer read whole (gate/http1-client.ts) as the listener's fast lane writes it
// (gate/http1-response.ts writeWhole), without a Headers or a Response: its fields but the
// hop-by-hop ones, as downstreamResponseFields keeps them.
import type { Http1Answer } from "../../gate/http1-client.ts";
import type { WholeAnswer } from "../../gate/http1-response.ts";
import { HOP_BY_HOP_SET } from "./headers.ts";

/**
 * `a` with `body` as a WholeAnswer; when `masked`, without its coding and length (the masked
 * body's is written). Null: one whose Content-Length is repeated or not its body's, left to the
 * Response path.
 */
export function wholeAnswer(a: Http1Answer, body: Uint8Array | null, masked: boolean, method: string): WholeAnswer | null {
  const fields: (readonly [string, string])[] = [];
  let length: string | null = null;
  for (const field of a.headers) {
    const name = field[0].toLowerCase();
    if (HOP_BY_HOP_SET.has(name)) continue;
    if (name === "content-length") {
      if (length !== null) return null;
      length = field[1];
      continue;
    }
    if (masked && name === "content-encoding") continue;
    fields.push(field);
  }
  if (masked) length = null;
  else if (length !== null && a.status !== 204 && a.status !== 304 && a.status >= 200 && method !== "HEAD" && length !== String(body?.byteLength ?? 0)) return null;
  return { status: a.status, statusText: a.statusText, fields, length, body };
}

/** A field's value as a Headers would give it: repeated lines joined with ", " (names compared lower-cased); null when absent. */
export function fieldOf(fields: ReadonlyArray<readonly [string, string]>, name: string): string | null {
  let value: string | null = null;
  for (const [n, v] of fields) if (n.length === name.length && n.toLowerCase() === name) value = value === null ? v : `${value}, ${v}`;
  return value;
}
