// A strict JSON reader for MCP bodies: what JSON.parse accepts but two readers could see
// differently is refused (a key given twice, where JSON.parse keeps the last and another parser the
// first; invalid UTF-8, which a lenient decoder turns into U+FFFD; lone surrogates), and so is
// anything nested deeper than the gateway will walk. The gateway decides on what this returns, so
// the upstream must not be able to read the same bytes another way.
import { GatewayError } from "../../core/errors.ts";

/** Deeper than any honest tool argument; a bomb of nested arrays is refused before it costs. */
export const MAX_DEPTH = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function refuse(message: string): never {
  throw new GatewayError("E_PROTOCOL", message);
}

/** Decodes bytes as UTF-8, refusing invalid sequences and a byte-order mark (JSON text has none). */
export function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) refuse("the body starts with a UTF-8 byte-order mark");
  try {
    return utf8.decode(bytes);
  } catch {
    refuse("the body is not valid UTF-8");
  }
}

/**
 * Parses JSON text, refusing duplicate object keys (at any depth), lone UTF-16 surrogates in
 * strings (\ud800 escapes with no pair), nesting deeper than MAX_DEPTH and any trailing text.
 * Objects come back with a null prototype never consulted: "__proto__" is an ordinary key.
 */
export function parseStrictJson(text: string): unknown {
  let i = 0;
  const n = text.length;

  function ws(): void {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  }

  function str(): string {
    // text[i] is the opening quote.
    i++;
    let out = "";
    let start = i;
    for (;;) {
      if (i >= n) refuse("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        break;
      }
      if (c < 0x20) refuse(`control character U+${c.toString(16).padStart(4, "0")} inside a string`);
      if (c === 0x5c) {
        out += text.slice(start, i);
        i++;
        const e = text[i];
        switch (e) {
          case '"':
            out += '"';
            break;
          case "\\":
            out += "\\";
            break;
          case "/":
            out += "/";
            break;
          case "b":
            out += "\b";
            break;
          case "f":
            out += "\f";
            break;
          case "n":
            out += "\n";
            break;
          case "r":
            out += "\r";
            break;
          case "t":
            out += "\t";
            break;
          case "u": {
            const hex = text.slice(i + 1, i + 5);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) refuse("bad \\u escape in a string");
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            refuse("bad escape in a string");
        }
        i++;
        start = i;
        continue;
      }
      i++;
    }
    if (!out.isWellFormed()) refuse("a string holds a lone UTF-16 surrogate");
    return out;
  }

  function num(): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m === null || m[0].length === 0) refuse(`unexpected character at offset ${i}`);
    i += m[0].length;
    const v = Number(m[0]);
    if (!Number.isFinite(v)) refuse("a number out of range");
    return v;
  }

  function value(depth: number): unknown {
    if (depth > MAX_DEPTH) refuse(`nested deeper than ${MAX_DEPTH} levels`);
    ws();
    if (i >= n) refuse("unexpected end of the body");
    const c = text[i];
    if (c === "{") {
      i++;
      const obj: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return toPlain(obj);
      }
      for (;;) {
        ws();
        if (text[i] !== '"') refuse(`expected a key at offset ${i}`);
        const key = str();
        if (seen.has(key)) refuse(`duplicate key "${key.slice(0, 64)}"`);
        seen.add(key);
        ws();
        if (text[i] !== ":") refuse(`expected ":" at offset ${i}`);
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return toPlain(obj);
        }
        refuse(`expected "," or "}" at offset ${i}`);
      }
    }
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        refuse(`expected "," or "]" at offset ${i}`);
      }
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    return num();
  }

  const v = value(0);
  ws();
  if (i !== n) refuse(`unexpected text after the JSON value at offset ${i}`);
  return v;
}

/**
 * An ordinary object with the same own keys, "__proto__" included as data (defineProperty),
 * so the rest of the gateway can use it as JSON.parse's output and a "__proto__" key never
 * changes a prototype.
 */
function toPlain(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) {
    if (k === "__proto__") Object.defineProperty(out, k, { value: obj[k], enumerable: true, writable: true, configurable: true });
    else out[k] = obj[k];
  }
  return out;
}
