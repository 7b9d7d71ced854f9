// Deciding one statement of the session, before the statement gate sees it: an EXECUTE counts
// as what was prepared, a FETCH or MOVE as the query of its cursor (cursors.ts), a prepared
// statement is analysed again when the search_path changed since (PostgreSQL re-parses it
// then), and what the gateway cannot resolve is refused (an
// unknown prepared statement or search_path, parameter types declared for DDL, a statement that
// needs the catalog behind a catalog change in the same batch).
import type { StatementInfo } from "../sql/analysis.ts";
import { CHANGED_IN_BATCH, needsCatalog } from "../catalog/catalog-changes.ts";
import { denialError } from "../relay/deny.ts";
import type { RelayCore } from "../relay/relay-core.ts";
import { sameContext, type PreparedStatement } from "../relay/session-state.ts";
import { factsOf, type CheckedStatement } from "./statement-gate.ts";

export class StatementChecker {
  /** The ErrorResponse of the last refusal made by check() (when it returned null). */
  lastRefusal: Uint8Array | null = null;

  /** `changedInBatch`: whether a catalog-changing Execute was forwarded in this batch (frontend-relay.ts). */
  constructor(
    private readonly s: RelayCore,
    private readonly changedInBatch: () => boolean,
  ) {}

  /**
   * Decides one statement. EXECUTE counts as what was prepared; a statement the gateway cannot
   * resolve (EXECUTE of an unknown name, search_path unknown) is refused: returns null and
   * leaves the ErrorResponse in lastRefusal.
   */
  async check(
    info: StatementInfo,
    details: Record<string, unknown>,
    parameterTypes?: readonly number[],
  ): Promise<(CheckedStatement & { info: StatementInfo }) | null> {
    const s = this.s;
    // Kept for known() only when the statement is decided as it is (not as what it executes or fetches).
    const shape = info.executes === undefined && info.fetches === undefined ? this.shapeOf(info) : undefined;
    let effective = info;
    if (info.executes !== undefined) {
      const p = s.prepared.get(info.executes);
      if (p === undefined) {
        const message = `EXECUTE of prepared statement "${info.executes}" is denied: the gateway does not know that statement`;
        await s.statementGate.refuse(factsOf(info), "builtin:unknown-statement", message, details);
        this.lastRefusal = denialError(message);
        return null;
      }
      const current = await this.current(p, details, true);
      if (current === null) return null;
      const inner = current.info;
      if (inner !== null) {
        effective = {
          ...info,
          classes: union(info.classes.filter((c) => c !== "execute"), inner.classes),
          relations: union(info.relations, inner.relations),
          functions: union(info.functions, inner.functions),
        };
      }
    }
    let resolvedFetch = false;
    if (info.fetches !== undefined) {
      // FETCH / MOVE: decided as the query of the cursor it reads, under the policy in force
      // now. A cursor the gateway does not know leaves the statement as it is (class fetch or
      // move, no relation), which only a rule allowing that class allows.
      const found = s.cursors.lookup(info.fetches, (name) => {
        const p = s.portals.get(name);
        return p === undefined || p.state === "failed" ? null : p.info;
      });
      if (found.known) {
        const own = info.classes.filter((c) => c === "fetch" || c === "move");
        let classes: string[] = own;
        let relations: string[] = [];
        let functions: string[] = [];
        for (const q of found.queries) {
          classes = union(classes, q.classes.filter((c) => c !== "declare_cursor"));
          relations = union(relations, q.relations);
          functions = union(functions, q.functions);
        }
        effective = { ...info, classes, relations, functions };
        resolvedFetch = true;
      }
    }
    if (s.searchPath.unknownBecause !== null && (effective.relations.length > 0 || effective.functions.length > 0)) {
      const message = `statement denied: the session's search_path is unknown after ${s.searchPath.unknownBecause}; SET search_path explicitly first`;
      await s.statementGate.refuse(factsOf(effective), "builtin:search-path-unknown", message, details);
      this.lastRefusal = denialError(message);
      return null;
    }
    if (parameterTypes !== undefined && parameterTypes.some((t) => t !== 0) && effective.classes.length > 0 && effective.classes.every(takesNoParameters)) {
      // The statement gate looks through such statements' names without running them, but Bind
      // still converts values to the declared types (domain CHECKs, input functions).
      const message =
        "statement denied: the Parse declares parameter types for a statement that takes no parameters (DDL, GRANT, COMMENT); binding values to them would run those types' input functions and checks";
      await s.statementGate.refuse(factsOf(effective), "builtin:parameter-types", message, details);
      this.lastRefusal = denialError(message);
      return null;
    }
    if (this.changedInBatch() && needsCatalog(effective, parameterTypes)) {
      await s.statementGate.refuse(factsOf(effective), CHANGED_IN_BATCH.rule, CHANGED_IN_BATCH.message, details);
      this.lastRefusal = denialError(CHANGED_IN_BATCH.message);
      return null;
    }
    const checked = await s.statementGate.check(effective, details, parameterTypes, resolvedFetch, shape);
    return { ...checked, info: effective };
  }

  /**
   * The decision check() would make, without deciding again: the same shape was allowed a moment
   * ago and nothing it depended on changed (StatementGate.known). Only for a statement decided
   * as it is (no EXECUTE or FETCH), with a known search_path and no catalog change pending in
   * this batch, which are check()'s own refusals. Synchronous; null: call check(). The decision
   * still has to be audited (StatementGate.recordKnown) before the statement is forwarded.
   */
  known(info: StatementInfo, parameterTypes?: readonly number[]): (CheckedStatement & { info: StatementInfo }) | null {
    if (info.executes !== undefined || info.fetches !== undefined || this.s.searchPath.unknownBecause !== null || this.changedInBatch()) return null;
    const known = this.s.statementGate.known(this.shapeOf(info), info, parameterTypes);
    return known === null ? null : { ...known, info };
  }

  /** The analysis cache's shared object for this analysis (see StatementGate.knownShapes). */
  private shapeOf(info: StatementInfo): object {
    return this.s.analyzer.shapeOf?.(info) ?? info;
  }

  /** Whether the search_path changed since the statement was analysed. */
  stale(p: PreparedStatement): boolean {
    return p.source !== null && !sameContext(p.source.context, this.s.searchPath.context);
  }

  /**
   * What a prepared statement runs now: its analysis, made again with the current search_path
   * when that changed since (PostgreSQL re-parses the statement then, so unqualified names may
   * now mean other tables). `nested`: it is what an EXECUTE runs, and an EXECUTE inside it is
   * not followed further. null: refused, the ErrorResponse is in lastRefusal.
   */
  async current(p: PreparedStatement, details: Record<string, unknown>, nested: boolean): Promise<{ info: StatementInfo | null } | null> {
    if (p.info === null || p.source === null || !this.stale(p)) return { info: p.info };
    const s = this.s;
    const source = p.source;
    const ctx = s.searchPath.context;
    const analysis = s.analyzer.analyze(source.text, ctx);
    let info: StatementInfo | undefined;
    if (analysis.ok && analysis.statements.length === 1) {
      const st = analysis.statements[0]!;
      info = source.prepare ? st.prepares?.inner : st;
    }
    if (info === undefined || (nested && info.executes !== undefined)) {
      const message = `prepared statement "${p.name}" is denied: the search_path changed since it was prepared and the gateway cannot analyse it again; prepare it again`;
      await s.statementGate.refuse(factsOf(p.info), "builtin:stale-prepared-statement", message, details);
      this.lastRefusal = denialError(message);
      return null;
    }
    p.info = info;
    source.context = ctx;
    p.verdict = null;
    p.decisionSeq = undefined;
    p.spec = null;
    p.batch = -1;
    // The server plans it again, so its result columns (and their origins) may differ from an earlier Describe.
    p.fields = null;
    p.described = false;
    return { info };
  }
}

/** Classes of statements that take no parameters (and whose names the statement gate does not run). */
function takesNoParameters(c: string): boolean {
  return c.startsWith("ddl.") || c === "grant" || c === "revoke" || c === "comment" || c === "security_label";
}

function union(a: readonly string[], b: readonly string[]): string[] {
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}
