// The SQL analysis entry point: load PostgreSQL's real parser (WASM, embedded in the binary)
// once, then turn query text into one StatementInfo per statement. Parse errors and anything
// the analysis cannot handle come back as { ok: false }, which the gate turns into a deny.
import { GatewayError } from "../../../core/errors.ts";
import { isUtf8 } from "node:buffer";
import wasmPath from "libpg-query/wasm/libpg-query.wasm" with { type: "file" };
import type { Analysis, AnalysisContext, StatementInfo } from "./analysis.ts";
import { analyzeStatement } from "./analyze-statement.ts";
import { isFields, list, wrappedNode } from "./ast.ts";
import { loadPgQueryModule } from "./pg-query-module.ts";
import { createPgQueryPool, type PgQueryPool } from "./pg-query-pool.ts";
import { withSmallInitialMemory } from "./wasm-memory.ts";
import { statementTexts, type ByteSpan } from "./statement-text.ts";

export type ParsedSql =
  | { readonly ok: true; readonly sql: string; readonly json: Buffer }
  | { readonly ok: false; readonly analysis: Analysis & { readonly ok: false } };

export interface AnalyzedSql {
  readonly analysis: Analysis;
  /**
   * The analysis holds for any query with the same parse tree up to literal values: every
   * statement is plain DML or SELECT and no literal's value was read. The cache relies on it.
   */
  readonly constantFree: boolean;
}

export interface SqlParser {
  analyze(sql: string, ctx: AnalysisContext): Analysis;
  /** Parse only: the parser's JSON tree, or the failed Analysis. For analysis-cache.ts. */
  parse(sql: string): ParsedSql;
  /** Analyze a successful parse() of the same text. */
  analyzeParsed(parsed: ParsedSql & { ok: true }, ctx: AnalysisContext): AnalyzedSql;
}

export interface SqlParserOptions {
  /** The libpg-query WASM bytes; default: the copy embedded next to this module (or in the binary). */
  readonly wasm?: () => Promise<ArrayBuffer | Uint8Array<ArrayBuffer>>;
}

const CONSTANT_FREE_NODES = new Set(["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]);

/** Loads the WASM once (two instances: one in use, one spare; see pg-query-pool.ts). */
export async function loadSqlParser(options: SqlParserOptions = {}): Promise<SqlParser> {
  try {
    const wasm = await (options.wasm ?? (() => Bun.file(wasmPath).arrayBuffer()))();
    const compiled = await WebAssembly.compile(withSmallInitialMemory(new Uint8Array(wasm)));
    const pool = await createPgQueryPool(() => loadPgQueryModule(compiled));
    return createSqlParser(pool);
  } catch (e) {
    throw new GatewayError("E_INTERNAL", `SQL parser: cannot load libpg-query's WASM: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function createSqlParser(pg: PgQueryPool): SqlParser {
  const parse = (sql: string): ParsedSql => {
    // The parser reads a C string: a NUL would silently end the query early, and a lone
    // surrogate would be encoded as U+FFFD, so the parser would see other text than PostgreSQL.
    if (sql.includes("\0")) return failed("query text contains a NUL character");
    if (!sql.isWellFormed()) return failed("query text is not valid Unicode (lone surrogate)");
    const r = pg.parse(sql);
    if (!r.ok) {
      const position = r.error.position === null ? undefined : r.error.position + 1;
      return { ok: false, analysis: { ok: false, error: r.error.message, ...(position !== undefined ? { position } : {}) } };
    }
    return { ok: true, sql, json: r.json };
  };

  const analyzeParsed = (parsed: ParsedSql & { ok: true }, ctx: AnalysisContext): AnalyzedSql => {
    try {
      // Buffer's decoder would turn bad bytes into U+FFFD without a word: check first.
      if (!isUtf8(parsed.json)) throw new GatewayError("E_INTERNAL", "the parser's output is not UTF-8");
      const tree: unknown = JSON.parse(parsed.json.toString("utf8"));
      const raw = isFields(tree) ? list(tree, "stmts") : [];
      const spans: ByteSpan[] = [];
      const stmts: unknown[] = [];
      for (const r of raw) {
        if (!isFields(r)) throw new GatewayError("E_INTERNAL", "parse tree has a statement that is not an object");
        stmts.push(r["stmt"]);
        spans.push({ location: numberOr0(r["stmt_location"]), length: numberOr0(r["stmt_len"]) });
      }
      const texts = statementTexts(parsed.sql, spans);
      const statements: StatementInfo[] = [];
      let constantFree = true;
      stmts.forEach((stmt, i) => {
        const a = analyzeStatement(stmt, texts[i] ?? "", ctx);
        const info = a.info.prepares !== undefined ? withPrepareText(a.info, texts[i] ?? "") : a.info;
        statements.push(info);
        const node = wrappedNode(stmt)?.name ?? "";
        if (a.constantDependent || !CONSTANT_FREE_NODES.has(node)) constantFree = false;
      });
      return { analysis: { ok: true, statements }, constantFree };
    } catch (e) {
      // A tree we cannot walk (too deep for the stack, a shape we do not expect): deny, saying why.
      return { analysis: failed(`SQL analysis failed: ${e instanceof Error ? e.message : String(e)}`).analysis, constantFree: false };
    }
  };

  return {
    parse,
    analyzeParsed,
    analyze(sql, ctx) {
      const parsed = parse(sql);
      return parsed.ok ? analyzeParsed(parsed, ctx).analysis : parsed.analysis;
    },
  };
}

function failed(error: string): ParsedSql & { ok: false } {
  return { ok: false, analysis: { ok: false, error } };
}

function numberOr0(v: unknown): number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : 0;
}

/** The prepared statement has no location of its own; it carries the PREPARE's text. */
function withPrepareText(info: StatementInfo, text: string): StatementInfo {
  const p = info.prepares;
  if (p === undefined) return info;
  return { ...info, prepares: { name: p.name, inner: { ...p.inner, text } } };
}
