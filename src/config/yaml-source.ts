// Parses one YAML file keeping its node tree, so that any key path in the parsed value can be
// traced back to a line and column for error messages.
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node, type Pair } from "yaml";
import type { ConfigIssue, KeyPath } from "./issue.ts";
import { formatKeyPath } from "./issue.ts";

export interface YamlSource {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
  /** The plain value of the document; undefined for an empty file. */
  readonly value: unknown;
}

export interface Position {
  readonly line: number;
  readonly col: number;
}

// The yaml package's own wording names its API; say what is wrong with the file instead.
const FRIENDLY: Record<string, string> = {
  DUPLICATE_KEY: "duplicate key",
  MULTIPLE_DOCS: "a file holds one YAML document, found more than one (---)",
  TAB_AS_INDENT: "tabs are not allowed as indentation",
  TAG_RESOLVE_FAILED: "unknown YAML tag",
};

/** Parses text; syntax errors, duplicate keys and unknown tags come back as issues, never thrown. */
export function parseYaml(file: string, text: string): { source: YamlSource | null; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const issues: ConfigIssue[] = [];
  // Unknown tags are only warnings to the yaml package; a value we cannot read must not load.
  for (const e of [...doc.errors, ...doc.warnings]) {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    const friendly = FRIENDLY[e.code];
    let message = friendly ?? `YAML syntax error: ${e.message}`;
    if (e.code === "DUPLICATE_KEY") {
      const m = /^(?:"([^"\n]*)"|'([^'\n]*)'|([^:\n]*?))\s*:/.exec(text.slice(e.pos[0]));
      const key = (m ? (m[1] ?? m[2] ?? m[3] ?? "") : "").trim();
      message = key === "" ? "duplicate key" : `duplicate key "${key}"`;
    } else if (e.code === "TAG_RESOLVE_FAILED") {
      message = `${friendly}: ${e.message.replace(/^Unresolved tag:\s*/, "")}`;
    }
    issues.push({ file, line, col, path: "", message });
  }
  if (issues.length > 0) return { source: null, issues };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Unresolvable aliases and alias bombs surface only here.
    issues.push({ file, line: 1, col: 1, path: "", message: `YAML error: ${e instanceof Error ? e.message : String(e)}` });
    return { source: null, issues };
  }
  return { source: { file, doc, lineCounter, value: value ?? undefined }, issues };
}

function resolve(source: YamlSource, node: unknown): unknown {
  return isAlias(node) ? node.resolve(source.doc) : node;
}

function startOf(source: YamlSource, node: unknown): Position | null {
  const n = node as Node | null | undefined;
  if (n && Array.isArray(n.range)) return source.lineCounter.linePos(n.range[0]);
  return null;
}

/**
 * Line and column of the key path: the key itself for a map entry, the item for a sequence
 * entry, or the nearest ancestor that exists (for a missing key, the map that lacks it).
 */
export function positionOf(source: YamlSource, path: KeyPath): Position {
  let node: unknown = source.doc.contents;
  let best = startOf(source, node) ?? { line: 1, col: 1 };
  for (let i = 0; i < path.length; i++) {
    node = resolve(source, node);
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = (node.items as Pair[]).find((p) => {
        const k = resolve(source, p.key);
        return isScalar(k) ? String(k.value) === String(seg) : false;
      });
      if (!pair) return best;
      const keyPos = startOf(source, pair.key);
      if (last) return keyPos ?? best;
      best = keyPos ?? best;
      node = pair.value;
      const valuePos = startOf(source, resolve(source, node));
      if (valuePos && !isScalar(resolve(source, node))) best = valuePos;
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      const pos = startOf(source, resolve(source, item));
      if (!pos) return best;
      best = pos;
      if (last) return best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

/** Builds an issue located at a key path of this file. */
export function issueAt(source: YamlSource, path: KeyPath, message: string): ConfigIssue {
  const { line, col } = positionOf(source, path);
  return { file: source.file, line, col, path: formatKeyPath(path), message };
}
