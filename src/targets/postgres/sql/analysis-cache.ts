// Analyses are pure functions of (query text, search path, user), so they can be cached.
//
// 1. Exact text: (sql, context) → Analysis, bounded (see Lru below).
// 2. Structure: a query that differs from an earlier one only in its literal values (pgbench -S
//    sends the same SELECT with a new number each time) reuses the earlier analysis. The key is
//    the parser's own tree minus literal values and locations (structure-key.ts), so it still
//    costs a parse, but skips decoding the tree and walking it. It applies only to one-statement
//    SELECT/INSERT/UPDATE/DELETE/MERGE whose analysis read no literal: an analysis that looked
//    at a constant (set_config's arguments, nextval('seq'), 'x'::regclass, SET values …) could
//    differ for other constants and is never reused this way.
// 3. Shape: the same rule without a parse. lexer.ts turns the text into its token sequence with
//    literal values replaced by placeholders of their kind; a text whose key the lexer is sure of
//    and that holds one statement reuses the analysis stored under that key, with its own text
//    cut from the span the lexer found. Only analyses (2.) would keep are stored: constant-free,
//    one statement. Two texts with one key give the grammar the same tokens apart from literal
//    values (lexer-differential.test.ts), so the same tree up to those values, so the same
//    constant-free analysis (lexer-key-decisions.test.ts). Any doubt in the lexer: parse.
import type { Analysis, AnalysisContext, StatementInfo } from "./analysis.ts";
import type { SqlParser } from "./sql-parser.ts";
import { shapeKey } from "./lexer.ts";
import { statementTexts } from "./statement-text.ts";
import { structureKey } from "./structure-key.ts";

export interface AnalysisCacheOptions {
  /** Entries per cache (exact text, structure); the older half is dropped at once when the newer half fills. */
  readonly maxEntries: number;
  /** Longer query texts are analyzed but not kept, so a few huge queries cannot hold memory. Default 16 KiB. */
  readonly maxSqlLength?: number;
  /** The structure cache (2.); default on. Off leaves the exact-text cache alone. */
  readonly structure?: boolean;
  /** The shape cache (3.); default on. */
  readonly lexer?: boolean;
}

export interface AnalysisCacheStats {
  readonly exactHits: number;
  readonly structureHits: number;
  readonly shapeHits: number;
  readonly misses: number;
}

export interface AnalysisCache {
  analyze(sql: string, ctx: AnalysisContext): Analysis;
  /**
   * The cached analysis a statement analysis was made from (a shape or structure hit copies it
   * with its own text), or the statement itself: one object for equal fields apart from the text.
   */
  shapeOf(info: StatementInfo): object;
  stats(): AnalysisCacheStats;
}

export function createAnalysisCache(parser: SqlParser, options: AnalysisCacheOptions): AnalysisCache {
  const maxEntries = Math.max(0, Math.floor(options.maxEntries));
  const maxSqlLength = options.maxSqlLength ?? 16 * 1024;
  const useStructure = options.structure ?? true;
  const useLexer = options.lexer ?? true;
  const exact = new Lru<Analysis>(maxEntries);
  // Keyed by a hash of the stripped tree; the bucket's entries are compared byte for byte, so
  // the hash only has to be fast. A random seed keeps colliding statements from being planned.
  const structure = new Lru<StructureEntry[]>(maxEntries);
  const shapes = new Lru<StatementInfo>(maxEntries);
  // A hit's statement → the template it copies (see shapeOf).
  const templates = new WeakMap<StatementInfo, StatementInfo>();
  const fromTemplate = (template: StatementInfo, text: string): Analysis => {
    // The template is frozen already; only the two new objects need it.
    const info: StatementInfo = Object.freeze({ ...template, text });
    templates.set(info, template);
    return Object.freeze({ ok: true, statements: Object.freeze([info]) });
  };
  const seed = crypto.getRandomValues(new BigUint64Array(1))[0] ?? 0n;
  let exactHits = 0;
  let structureHits = 0;
  let shapeHits = 0;
  let misses = 0;

  return {
    stats: () => ({ exactHits, structureHits, shapeHits, misses }),
    shapeOf: (info) => templates.get(info) ?? info,
    analyze(sql, ctx) {
      // JSON text never holds a raw NUL, so "<context>\0<sql>" cannot be read two ways.
      const ctxKey = JSON.stringify([ctx.searchPath, ctx.user ?? null]);
      const keep = sql.length <= maxSqlLength;
      const exactKey = `${ctxKey}\0${sql}`;
      if (keep) {
        const hit = exact.get(exactKey);
        if (hit !== undefined) {
          exactHits += 1;
          return hit;
        }
      }
      // The parser refuses a NUL or a lone surrogate (sql-parser.ts); the lexer would not, so such
      // a text never takes the shape cache and is refused by the parse below.
      let shape: string | null = null;
      if (useLexer && keep && !sql.includes("\0") && sql.isWellFormed()) {
        const lexed = shapeKey(sql, maxSqlLength);
        if (lexed.sure && lexed.statement !== null) {
          shape = `${ctxKey}\0${lexed.key}`;
          const template = shapes.get(shape);
          if (template !== undefined) {
            shapeHits += 1;
            const analysis = fromTemplate(template, sql.slice(lexed.statement.start, lexed.statement.end));
            exact.set(exactKey, analysis);
            return analysis;
          }
        }
      }
      const parsed = parser.parse(sql);
      if (!parsed.ok) {
        misses += 1;
        if (keep) exact.set(exactKey, parsed.analysis);
        return parsed.analysis;
      }
      const sk = useStructure || shape !== null ? structureKey(parsed.json) : null;
      const structKey = sk === null || !useStructure ? null : `${ctxKey}\0${Bun.hash.wyhash(sk.stripped, seed)}`;
      const bucket = structKey === null ? undefined : structure.get(structKey);
      if (sk !== null && bucket !== undefined) {
        const template = bucket.find((e) => e.stripped.equals(sk.stripped))?.template;
        if (template !== undefined) {
          structureHits += 1;
          const analysis = fromTemplate(template, statementTexts(sql, [sk.span])[0] ?? "");
          if (keep) exact.set(exactKey, analysis);
          if (shape !== null) shapes.set(shape, template);
          return analysis;
        }
      }
      misses += 1;
      const { analysis, constantFree } = parser.analyzeParsed(parsed, ctx);
      deepFreeze(analysis);
      if (keep) exact.set(exactKey, analysis);
      const only = analysis.ok && analysis.statements.length === 1 ? analysis.statements[0] : undefined;
      if (constantFree && shape !== null && sk !== null && only !== undefined) shapes.set(shape, only);
      if (constantFree && sk !== null && structKey !== null && only !== undefined) {
        const entries = bucket ?? [];
        // Buffer.from copies: the key may be a slice of a shared allocation pool we must not pin.
        if (entries.length < MAX_BUCKET) structure.set(structKey, [...entries, { stripped: Buffer.from(sk.stripped), template: only }]);
      }
      return analysis;
    },
  };
}

interface StructureEntry {
  readonly stripped: Buffer;
  readonly template: StatementInfo;
}

/** Statements per hash value: equal 64-bit hashes of different trees are all but impossible; this bounds the work if they happen. */
const MAX_BUCKET = 4;

/**
 * A bounded cache that keeps what is used: two generations of at most max/2 entries each.
 * New and recently used entries go to the young one; when it fills, it becomes the old one and
 * the previous old one is dropped whole. An exact LRU (Map delete + re-insert on every hit,
 * evict the first key) spent most of the time of a structure hit in the Map's bookkeeping.
 */
class Lru<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();
  private readonly half: number;

  constructor(private readonly max: number) {
    this.half = Math.max(1, Math.ceil(max / 2));
  }

  get(key: string): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const o = this.old.get(key);
    if (o !== undefined) {
      this.old.delete(key);
      this.insert(key, o);
    }
    return o;
  }

  set(key: string, value: V): void {
    if (this.max === 0) return;
    if (this.young.has(key)) {
      this.young.set(key, value);
      return;
    }
    this.old.delete(key);
    this.insert(key, value);
  }

  private insert(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}

// Cached analyses are handed to every caller; freezing them keeps one caller from changing another's.
function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
