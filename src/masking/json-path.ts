// A subset of JSONPath (RFC 9535) for mask rules: `$`, `.name`, `['name']`/`["name"]`, `[n]`
// (negative counts from the end), `[*]`, `.*` and descent `..name`/`..*`/`..[…]`. Paths are
// compiled once; a cursor then follows a parsed JSON value as it is walked, so one walk
// serves every path (no re-evaluation per path, no paths built as strings).
import { GatewayError } from "../core/errors.ts";

export type JsonPathSelector =
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "index"; readonly index: number }
  | { readonly kind: "wildcard" };

export interface JsonPathSegment {
  /** True for `..`: the selector applies at this level and at every level below. */
  readonly descendant: boolean;
  readonly selector: JsonPathSelector;
}

/** Where a walk is in the value: which paths select this place, and how to step further. */
export interface JsonPathCursor {
  /** True when a path ends here: the whole value at this place is selected. */
  readonly selected: boolean;
  /**
   * The cursor for an object member (string key) or an array element (number key; `length`
   * is the array's, for negative indexes). Null when no path can select anything below.
   */
  child(key: string | number, length: number): JsonPathCursor | null;
}

export interface JsonPathSet {
  readonly paths: readonly string[];
  root(): JsonPathCursor;
}

const ESCAPES: Readonly<Record<string, string>> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", "/": "/", "\\": "\\", "'": "'", '"': '"' };

function fail(path: string, position: number, what: string): never {
  throw new GatewayError("E_MASK", `invalid JSON path "${path}": ${what} at position ${position}`, {
    details: { path, position },
  });
}

/** Parses one path into segments; throws GatewayError E_MASK naming the path and the position. */
export function parseJsonPath(path: string): readonly JsonPathSegment[] {
  if (path[0] !== "$") fail(path, 0, "a path starts with $");
  const segments: JsonPathSegment[] = [];
  let pos = 1;
  // Sticky regexes keep lastIndex, so each parse has its own.
  // RFC 9535 member-name-shorthand: a letter, "_" or non-ASCII, then those or digits.
  const NAME = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*/y;
  const INDEX = /-?(?:0|[1-9][0-9]*)/y;

  const readName = (): string | null => {
    NAME.lastIndex = pos;
    const m = NAME.exec(path);
    if (m === null) return null;
    pos += m[0].length;
    return m[0];
  };
  const skipBlanks = () => {
    while (path[pos] === " " || path[pos] === "\t") pos++;
  };
  const readQuoted = (): string => {
    const quote = path[pos];
    const start = pos++;
    let out = "";
    for (;;) {
      const c = path[pos];
      if (c === undefined) fail(path, start, "unterminated quoted name");
      if (c === quote) {
        pos++;
        return out;
      }
      if (c === "\\") {
        const e = path[pos + 1];
        if (e === "u" && /^[0-9A-Fa-f]{4}$/.test(path.slice(pos + 2, pos + 6))) {
          out += String.fromCharCode(parseInt(path.slice(pos + 2, pos + 6), 16));
          pos += 6;
          continue;
        }
        const ch = e === undefined ? undefined : ESCAPES[e];
        if (ch === undefined) fail(path, pos, "invalid escape in quoted name");
        out += ch;
        pos += 2;
        continue;
      }
      out += c;
      pos++;
    }
  };
  const readBracket = (): JsonPathSelector => {
    pos++; // "["
    skipBlanks();
    let selector: JsonPathSelector;
    const c = path[pos];
    if (c === "*") {
      pos++;
      selector = { kind: "wildcard" };
    } else if (c === "'" || c === '"') {
      selector = { kind: "name", name: readQuoted() };
    } else {
      INDEX.lastIndex = pos;
      const m = INDEX.exec(path);
      if (m === null) fail(path, pos, "expected an index, * or a quoted name after [");
      const index = Number(m[0]);
      if (!Number.isSafeInteger(index) || m[0] === "-0") fail(path, pos, `invalid index ${m[0]}`);
      pos += m[0].length;
      selector = { kind: "index", index };
    }
    skipBlanks();
    if (path[pos] !== "]") fail(path, pos, "expected ]");
    pos++;
    return selector;
  };

  while (pos < path.length) {
    const c = path[pos];
    if (c === "[") {
      segments.push({ descendant: false, selector: readBracket() });
    } else if (c === ".") {
      const descendant = path[pos + 1] === ".";
      pos += descendant ? 2 : 1;
      if (path[pos] === "*") {
        pos++;
        segments.push({ descendant, selector: { kind: "wildcard" } });
      } else if (descendant && path[pos] === "[") {
        segments.push({ descendant, selector: readBracket() });
      } else {
        const name = readName();
        if (name === null) {
          fail(path, pos, `expected a name or *${descendant ? " or [" : ""} after ${descendant ? ".." : "."} (use ['…'] for other names)`);
        }
        segments.push({ descendant, selector: { kind: "name", name } });
      }
    } else {
      fail(path, pos, `unexpected "${c}"`);
    }
  }
  return Object.freeze(segments);
}

function selects(selector: JsonPathSelector, key: string | number, length: number): boolean {
  switch (selector.kind) {
    case "wildcard":
      return true;
    case "name":
      return typeof key === "string" && key === selector.name;
    case "index":
      return typeof key === "number" && key === (selector.index >= 0 ? selector.index : length + selector.index);
  }
}

/** Compiles paths once into a set whose cursors walk a value for all of them together. */
export function compileJsonPaths(paths: readonly string[]): JsonPathSet {
  const compiled = paths.map(parseJsonPath);

  // A state is (path, next segment), packed as path * STRIDE + segment.
  const STRIDE = 1 + Math.max(0, ...compiled.map((s) => s.length));

  const cursor = (states: readonly number[]): JsonPathCursor => {
    const selected = states.some((st) => st % STRIDE === compiled[Math.floor(st / STRIDE)]!.length);
    return {
      selected,
      child(key, length) {
        const next: number[] = [];
        for (const st of states) {
          const segments = compiled[Math.floor(st / STRIDE)]!;
          const segment = segments[st % STRIDE];
          if (segment === undefined) continue; // this path ended here
          if (selects(segment.selector, key, length) && !next.includes(st + 1)) next.push(st + 1);
          if (segment.descendant && !next.includes(st)) next.push(st);
        }
        return next.length === 0 ? null : cursor(next);
      },
    };
  };

  const rootStates = compiled.map((_, i) => i * STRIDE);
  return Object.freeze({
    paths: Object.freeze([...paths]),
    root: () => cursor(rootStates),
  });
}
