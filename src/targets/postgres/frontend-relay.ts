// Client → upstream: every message the client sends after login. Statements are analysed and
// decided before they are forwarded (simple Query per statement, extended protocol at Parse
// and again at Bind when the decision is from an earlier batch); a denial is forwarded as the
// DO block of deny.ts, and in the extended protocol the client's messages up to Sync are then
// dropped, as the server itself would skip them. Each forwarded message that has an answer
// gets its entry in the response tracker.
//
// Names are tracked as the server holds them: every Parse is decided, even of a name already
// in use (the server may have freed it: DEALLOCATE, DISCARD ALL); a prepared statement is
// analysed again when the search_path changed since (PostgreSQL re-parses it then); a portal
// whose Bind failed is forgotten, and a DECLARE takes its cursor's name from the portals.
//
// Statements are checked against the catalog as it is when they arrive (read on another
// connection, so only committed changes show), so a statement that may change it (DDL,
// procedural code, a user function, a search_path change) fences the ones pipelined behind it:
// once it is forwarded, the next statement waits for its answer and the ReadyForQuery that ends
// its implicit transaction (CatalogFence); the catalog cache is dropped, and verdicts made
// before it are made again. Within an extended-protocol batch the server answers only at Sync,
// so waiting there would deadlock: after a catalog-changing Execute, a statement of the same
// batch that needs the catalog is denied instead (send Sync first).
import type { Decoded, Bind, Close, Describe, Execute, FunctionCall, Parse, Query, DecodedFrontendMessage } from "./protocol/frontend-message.ts";
import type { PostgresRequestFacts } from "../../core/types.ts";
import type { Catalog } from "./catalog.ts";
import { declaredCursorName } from "./cursor-name.ts";
import { denialError, type DenyMessages } from "./deny.ts";
import { encodeFrontendMessage } from "./protocol/encode.ts";
import type { ResponseTracker } from "./response-tracker.ts";
import type { SearchPathTracker } from "./search-path.ts";
import { CatalogFence, portalSettled, sameContext, type Outbox, type Portal, type PreparedStatement, type StatementRun } from "./session-state.ts";
import type { Analysis, AnalysisContext, StatementInfo } from "./sql/analysis.ts";
import { factsOf, type CheckedStatement, type StatementGate } from "./statement-gate.ts";

export interface Analyzer {
  analyze(sql: string, ctx: AnalysisContext): Analysis;
}

/** The session as the two relays see it. */
export interface RelayCore {
  readonly tracker: ResponseTracker;
  readonly prepared: Map<string, PreparedStatement>;
  readonly portals: Map<string, Portal>;
  readonly searchPath: SearchPathTracker;
  readonly toUpstream: Outbox;
  readonly toClient: Outbox;
  readonly statementGate: StatementGate;
  readonly analyzer: Analyzer;
  readonly catalog: Catalog;
  readonly deny: DenyMessages;
  readonly recordParameters: boolean;
  /** Transaction status of the last ReadyForQuery from the upstream. */
  txStatus: "I" | "T" | "E";
  /** Counts Syncs: a verdict is reused only within the batch it was made in. */
  batch: number;
  /** The server is in COPY FROM STDIN and the client has not ended it: the server ignores Sync now. */
  copyIn: boolean;
  /** The client sent Terminate. */
  terminate(): void;
  /** Writes the audit record of a finished (or never run) statement. */
  finish(run: StatementRun, outcome: StatementOutcome): void;
}

export type StatementOutcome =
  | { readonly kind: "complete"; readonly tag: string }
  | { readonly kind: "empty" }
  | { readonly kind: "suspended" }
  | { readonly kind: "error"; readonly code: string; readonly message: string }
  | { readonly kind: "not_run"; readonly reason: string };

const EMPTY_FACTS: PostgresRequestFacts = { kind: "postgres", classes: [], relations: [], functions: [] };
const utf8 = new TextDecoder();

export class FrontendRelay {
  /** After a denial in the extended protocol: drop everything up to Sync. */
  private skipping = false;
  /** Forwarded statements that may change the catalog and are not answered yet. */
  private readonly fence: CatalogFence;
  /** A catalog-changing Execute was forwarded in this batch (no Sync since): see the top of the file. */
  private changedInBatch = false;

  constructor(private readonly s: RelayCore) {
    this.fence = new CatalogFence(() => s.catalog.invalidate());
    s.tracker.onReady = () => this.fence.ready(s.txStatus);
  }

  /** Handles one message; a Promise means: wait for it before the next one. */
  handle(m: DecodedFrontendMessage): void | Promise<void> {
    if (!this.fence.open && !this.changedInBatch && !this.skipping && FENCED.has(m.type)) return this.afterFence(m);
    switch (m.type) {
      case "Query":
        // After an error in the extended protocol the server ignores everything up to Sync, a Query too.
        return this.skipping ? undefined : this.onQuery(m);
      case "Parse":
        return this.skipping ? undefined : this.onParse(m);
      case "Bind":
        return this.skipping ? undefined : this.onBind(m);
      case "Describe":
        return this.skipping ? undefined : this.onDescribe(m);
      case "Execute":
        return this.skipping ? undefined : this.onExecute(m);
      case "Close":
        return this.skipping ? undefined : this.onClose(m);
      case "Flush":
        if (!this.skipping) this.s.toUpstream.push(m.raw);
        return;
      case "Sync":
        this.s.toUpstream.push(m.raw);
        if (this.s.copyIn) return; // ignored by the server during COPY FROM STDIN
        this.changedInBatch = false;
        this.skipping = false;
        this.s.batch++;
        this.s.tracker.push({ kind: "sync" });
        return;
      case "CopyData":
        // COPY FROM STDIN data of a statement already decided; outside COPY the server ignores it.
        this.s.toUpstream.push(m.raw);
        return;
      case "CopyDone":
      case "CopyFail":
        this.s.toUpstream.push(m.raw);
        if (this.s.copyIn) this.s.copyIn = false;
        else this.s.tracker.push({ kind: "copy-end" });
        return;
      case "FunctionCall":
        return this.onFunctionCall(m);
      case "Terminate":
        this.s.toUpstream.push(m.raw);
        this.s.terminate();
        return;
      case "AuthenticationResponse":
        throw new RelayViolation("unexpected password message after authentication");
    }
  }

  /** A statement that may change the catalog is still running: this message is checked once it is over. */
  private async afterFence(m: DecodedFrontendMessage): Promise<void> {
    await this.fence.wait();
    await this.handle(m);
  }

  private async onQuery(m: Decoded<Query>): Promise<void> {
    const s = this.s;
    const ctx = s.searchPath.context;
    const analysis = s.analyzer.analyze(m.query, ctx);
    if (!analysis.ok) {
      await this.refuseUnparsable(m.query, analysis.error, "simple");
      s.toUpstream.push(s.deny.query);
      s.tracker.push({ kind: "deny-query", error: denialError(analysis.error, { code: "42601", ...(analysis.position !== undefined ? { position: analysis.position } : {}) }), sent: false });
      return;
    }
    const stmts = analysis.statements;
    const runs: StatementRun[] = [];
    const fenced: StatementRun[] = [];
    for (let i = 0; i < stmts.length; i++) {
      const info = stmts[i]!;
      const details = stmts.length === 1 ? SIMPLE_DETAILS : { protocol: "simple", statement: i + 1, of: stmts.length };
      const checked = await this.check(info, details);
      if (checked === null || !checked.verdict.allowed) {
        const error = checked === null ? this.lastRefusal! : denialError(checked.verdict.message, { rule: checked.verdict.decision.rule });
        for (const r of runs) s.finish(r, { kind: "not_run", reason: "another statement of the same query was denied" });
        s.toUpstream.push(s.deny.query);
        s.tracker.push({ kind: "deny-query", error, sent: false });
        return;
      }
      const run = this.newRun(info, checked, stmts.length === 1, ctx);
      runs.push(run);
      if (changesCatalog(checked.info, checked.facts)) fenced.push(run);
    }
    for (const info of stmts) if (info.node === "DeclareCursorStmt") this.cursorTakesName(info);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "query", runs, index: 0 });
    for (const r of fenced) this.fence.watch(r);
  }

  private async onParse(m: Decoded<Parse>): Promise<void> {
    const s = this.s;
    // Decided even when the name is in use: the server refuses to redefine a named statement,
    // but it may have freed the name in ways the gateway cannot always see.
    const previous = s.prepared.get(m.statement);
    const ctx = s.searchPath.context;
    const analysis = s.analyzer.analyze(m.query, ctx);
    if (!analysis.ok) {
      await this.refuseUnparsable(m.query, analysis.error, "extended");
      return this.denyExtended(denialError(analysis.error, { code: "42601", ...(analysis.position !== undefined ? { position: analysis.position } : {}) }));
    }
    if (analysis.statements.length > 1) {
      const message = "cannot insert multiple commands into a prepared statement";
      await this.s.statementGate.refuse({ ...EMPTY_FACTS, sql: m.query }, "builtin:parse-error", message, { protocol: "extended" });
      return this.denyExtended(denialError(message, { code: "42601" }));
    }
    const info = analysis.statements[0] ?? null;
    const stmt: PreparedStatement = {
      name: m.statement,
      info: null,
      verdict: null,
      spec: null,
      batch: -1,
      fields: null,
      described: false,
      source: info === null ? null : { text: m.query, prepare: false, context: ctx },
      parameterTypes: m.parameterTypes,
      epoch: this.fence.epoch,
      changesCatalog: false,
    };
    if (info !== null) {
      const checked = await this.check(info, { protocol: "extended", statement_name: m.statement }, m.parameterTypes);
      if (checked === null) return this.denyExtended(this.lastRefusal!);
      if (!checked.verdict.allowed) return this.denyExtended(denialError(checked.verdict.message, { rule: checked.verdict.decision.rule }));
      stmt.info = checked.info;
      stmt.verdict = checked.verdict;
      stmt.spec = checked.spec;
      stmt.batch = s.batch;
      stmt.epoch = this.fence.epoch;
      stmt.changesCatalog = changesCatalog(checked.info, checked.facts);
    }
    s.prepared.set(m.statement, stmt);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "parse", injected: false, statement: stmt, previous });
  }

  private onBind(m: Decoded<Bind>): void | Promise<void> {
    const s = this.s;
    const stmt = s.prepared.get(m.statement);
    if (stmt === undefined) {
      return this.refuseExtended("builtin:unknown-statement", `prepared statement "${m.statement}" is not known to the gateway: it was not prepared through it`);
    }
    const fresh = stmt.verdict !== null && stmt.batch === s.batch && stmt.epoch === this.fence.epoch && !this.changedInBatch;
    if (stmt.info === null || (fresh && !this.stale(stmt))) return this.bind(m, stmt);
    return this.recheck(m, stmt);
  }

  private async recheck(m: Decoded<Bind>, stmt: PreparedStatement): Promise<void> {
    const details = { protocol: "extended", statement_name: stmt.name, at: "bind" };
    const current = await this.current(stmt, details, false);
    if (current === null) return this.denyExtended(this.lastRefusal!);
    const checked = await this.check(current.info!, details, stmt.parameterTypes);
    if (checked === null) return this.denyExtended(this.lastRefusal!);
    if (!checked.verdict.allowed) return this.denyExtended(denialError(checked.verdict.message, { rule: checked.verdict.decision.rule }));
    stmt.info = checked.info;
    stmt.verdict = checked.verdict;
    stmt.spec = checked.spec;
    stmt.batch = this.s.batch;
    stmt.epoch = this.fence.epoch;
    stmt.changesCatalog = changesCatalog(checked.info, checked.facts);
    this.bind(m, stmt);
  }

  private bind(m: Decoded<Bind>, stmt: PreparedStatement): void {
    const s = this.s;
    const portal: Portal = {
      name: m.portal,
      statement: stmt,
      info: stmt.info,
      verdict: stmt.verdict,
      context: stmt.source?.context ?? s.searchPath.context,
      resultFormats: m.resultFormats,
      spec: stmt.spec,
      batch: s.batch,
      epoch: stmt.epoch,
      changesCatalog: stmt.changesCatalog,
      state: "pending",
      waiters: [],
      fields: null,
      described: false,
      plan: null,
      ...(s.recordParameters ? { parameters: parameterTexts(m) } : {}),
    };
    const previous = s.portals.get(m.portal);
    s.portals.set(m.portal, portal);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "bind", injected: false, portal, previous });
  }

  private onDescribe(m: Decoded<Describe>): void {
    const s = this.s;
    if (m.target === "S") {
      const stmt = s.prepared.get(m.name);
      if (stmt !== undefined) stmt.described = true;
      s.toUpstream.push(m.raw);
      s.tracker.push({ kind: "describe-statement", statement: stmt ?? null, injected: false, gotParameters: false });
    } else {
      const portal = s.portals.get(m.name);
      if (portal !== undefined) portal.described = true;
      s.toUpstream.push(m.raw);
      s.tracker.push({ kind: "describe-portal", portal: portal ?? null, injected: false });
    }
  }

  private onExecute(m: Decoded<Execute>): void | Promise<void> {
    const s = this.s;
    const portal = s.portals.get(m.portal);
    if (portal === undefined) {
      return this.refuseExtended("builtin:unknown-portal", `portal "${m.portal}" is not known to the gateway: it was not bound through it`);
    }
    if (portal.state === "pending" && portal.batch !== s.batch) {
      // The Bind is in an earlier batch, so its failure would not skip this Execute, and the
      // name could then run something else (a cursor of that name): wait for its answer.
      return portalSettled(portal).then(() => this.onExecute(m));
    }
    // The catalog changed since the portal was decided (a trigger added to a table it writes, say),
    // or may be changing in this batch: decide again (check() refuses what needs the catalog then).
    if (portal.info !== null && (portal.epoch !== this.fence.epoch || (this.changedInBatch && needsCatalog(portal.info, portal.statement.parameterTypes)))) {
      return this.recheckPortal(m, portal);
    }
    const stmt = portal.statement;
    const info = portal.info;
    const run: StatementRun = info === null
      ? { facts: EMPTY_FACTS, rule: null, spec: null, started: performance.now(), plan: null, rows: 0, done: false }
      : this.runOf(info, portal.verdict!.decision.rule, portal.spec, false, portal.context, portal.parameters, {
          facts: factsOf(info),
          verdict: portal.verdict!,
          spec: portal.spec,
        });
    if (info !== null && info.node === "DeclareCursorStmt") this.cursorTakesName(info);
    if (portal.spec !== null && !portal.described && !stmt.described) {
      // Masks apply and the client never asked for the row shape: ask for it, and keep the answer to ourselves.
      s.toUpstream.push(encodeFrontendMessage({ type: "Describe", target: "P", name: m.portal }));
      s.tracker.push({ kind: "describe-portal", portal, injected: true });
      portal.described = true;
    }
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "execute", portal, run });
    if (portal.changesCatalog) {
      this.fence.watch(run);
      this.changedInBatch = true;
    }
  }

  private async recheckPortal(m: Decoded<Execute>, portal: Portal): Promise<void> {
    const details = { protocol: "extended", statement_name: portal.statement.name, portal: portal.name, at: "execute" };
    const checked = await this.check(portal.info!, details, portal.statement.parameterTypes);
    if (checked === null) return this.denyExtended(this.lastRefusal!);
    if (!checked.verdict.allowed) return this.denyExtended(denialError(checked.verdict.message, { rule: checked.verdict.decision.rule }));
    if (checked.spec !== portal.spec) {
      const message = `portal "${portal.name}" is denied: the catalog changed since it was bound and so did the masks that apply to it; bind it again`;
      await this.s.statementGate.refuse(checked.facts, "builtin:stale-portal", message, details);
      return this.denyExtended(denialError(message));
    }
    portal.verdict = checked.verdict;
    portal.epoch = this.fence.epoch;
    portal.changesCatalog = changesCatalog(checked.info, checked.facts);
    await this.onExecute(m);
  }

  private onClose(m: Decoded<Close>): void {
    const s = this.s;
    if (m.target === "S") s.prepared.delete(m.name);
    else s.portals.delete(m.name);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "close" });
  }

  private async onFunctionCall(m: Decoded<FunctionCall>): Promise<void> {
    const s = this.s;
    let name: string | null = null;
    try {
      name = await s.catalog.functionName(m.functionOid);
    } catch {
      name = null;
    }
    const info: StatementInfo = {
      classes: ["function_call"],
      relations: [],
      functions: name === null ? [] : [name],
      text: `FunctionCall ${name ?? `OID ${m.functionOid}`}`,
      node: "FunctionCall",
    };
    let error: Uint8Array | null = null;
    let checked: CheckedStatement | null = null;
    if (name === null) {
      const message = `FunctionCall of function OID ${m.functionOid} is denied: the gateway cannot name that function`;
      await s.statementGate.refuse(factsOf(info), "builtin:unknown-function", message, { protocol: "function_call" });
      error = denialError(message);
    } else if (this.changedInBatch) {
      await s.statementGate.refuse(factsOf(info), CHANGED_IN_BATCH.rule, CHANGED_IN_BATCH.message, { protocol: "function_call" });
      error = denialError(CHANGED_IN_BATCH.message);
    } else {
      checked = await s.statementGate.check(info, { protocol: "function_call", oid: m.functionOid });
      if (!checked.verdict.allowed) error = denialError(checked.verdict.message, { rule: checked.verdict.decision.rule });
    }
    if (error !== null || checked === null) {
      s.toUpstream.push(s.deny.query);
      s.tracker.push({ kind: "deny-query", error: error!, sent: false });
      return;
    }
    const run = this.newRun(info, checked, false, s.searchPath.context);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "function-call", run });
    if (changesCatalog(info, checked.facts)) this.fence.watch(run);
  }

  /** The ErrorResponse of the last refusal made by check() (when it returned null). */
  private lastRefusal: Uint8Array | null = null;

  /**
   * Decides one statement. EXECUTE counts as what was prepared; a statement the gateway cannot
   * resolve (EXECUTE of an unknown name, search_path unknown) is refused: returns null and
   * leaves the ErrorResponse in lastRefusal.
   */
  private async check(
    info: StatementInfo,
    details: Record<string, unknown>,
    parameterTypes?: readonly number[],
  ): Promise<(CheckedStatement & { info: StatementInfo }) | null> {
    const s = this.s;
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
    if (this.changedInBatch && needsCatalog(effective, parameterTypes)) {
      await s.statementGate.refuse(factsOf(effective), CHANGED_IN_BATCH.rule, CHANGED_IN_BATCH.message, details);
      this.lastRefusal = denialError(CHANGED_IN_BATCH.message);
      return null;
    }
    const checked = await s.statementGate.check(effective, details, parameterTypes);
    return { ...checked, info: effective };
  }

  /** Whether the search_path changed since the statement was analysed. */
  private stale(p: PreparedStatement): boolean {
    return p.source !== null && !sameContext(p.source.context, this.s.searchPath.context);
  }

  /**
   * What a prepared statement runs now: its analysis, made again with the current search_path
   * when that changed since (PostgreSQL re-parses the statement then, so unqualified names may
   * now mean other tables). `nested`: it is what an EXECUTE runs, and an EXECUTE inside it is
   * not followed further. null: refused, the ErrorResponse is in lastRefusal.
   */
  private async current(p: PreparedStatement, details: Record<string, unknown>, nested: boolean): Promise<{ info: StatementInfo | null } | null> {
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
    p.spec = null;
    p.batch = -1;
    // The server plans it again, so its result columns (and their origins) may differ from an earlier Describe.
    p.fields = null;
    p.described = false;
    return { info };
  }

  /**
   * A DECLARE is forwarded: its cursor takes the name in the portal namespace upstream, so a
   * portal of that name the gateway remembers is gone (or the DECLARE fails and the name stays
   * unknown, which only refuses more). A name that cannot be read forgets every named portal.
   */
  private cursorTakesName(info: StatementInfo): void {
    const name = declaredCursorName(info.text);
    if (name !== null) {
      this.s.portals.delete(name);
      return;
    }
    for (const key of [...this.s.portals.keys()]) if (key !== "") this.s.portals.delete(key);
  }

  private async refuseUnparsable(sql: string, error: string, protocol: string): Promise<void> {
    await this.s.statementGate.refuse({ ...EMPTY_FACTS, sql }, "builtin:parse-error", `SQL cannot be parsed: ${error}`, { protocol });
  }

  private async refuseExtended(rule: string, message: string): Promise<void> {
    await this.s.statementGate.refuse(EMPTY_FACTS, rule, message, { protocol: "extended" });
    this.denyExtended(denialError(message));
  }

  /** Forwards the DO block in place of the denied message and skips the client's messages to Sync. */
  private denyExtended(error: Uint8Array): void {
    const s = this.s;
    s.toUpstream.push(s.deny.extended);
    s.tracker.push({ kind: "parse", injected: true, statement: null, previous: undefined });
    s.tracker.push({ kind: "bind", injected: true, portal: null, previous: undefined });
    s.tracker.push({ kind: "deny-execute", error, sent: false });
    // The injected Parse and Bind replace the unnamed statement and portal upstream.
    s.prepared.delete("");
    s.portals.delete("");
    this.skipping = true;
  }

  private newRun(info: StatementInfo, checked: CheckedStatement & { info?: StatementInfo }, single: boolean, ctx: AnalysisContext): StatementRun {
    return this.runOf(checked.info ?? info, checked.verdict.decision.rule, checked.spec, single, ctx, undefined, checked);
  }

  /** `ctx`: the analysis context `info` was made with (what a PREPARE's statement resolves against). */
  private runOf(
    info: StatementInfo,
    rule: string | null,
    spec: StatementRun["spec"],
    single: boolean,
    ctx: AnalysisContext,
    parameters?: readonly (string | null)[],
    checked?: CheckedStatement,
  ): StatementRun {
    const s = this.s;
    const discardAll = info.node === "DiscardStmt" && info.sets?.some((c) => c.name === "all") === true;
    const needs =
      info.prepares !== undefined ||
      info.deallocates !== undefined ||
      info.sets !== undefined ||
      info.node === "DeclareCursorStmt" ||
      info.classes.some(isCatalogChanging);
    const onSuccess = needs
      ? () => {
          if (info.prepares !== undefined) {
            const p = info.prepares;
            s.prepared.set(p.name, {
              name: p.name,
              info: p.inner,
              verdict: null,
              spec: null,
              batch: -1,
              fields: null,
              described: false,
              source: { text: info.text, prepare: true, context: ctx },
              parameterTypes: [],
              epoch: -1,
              changesCatalog: false,
            });
          }
          // Names the server freed: a later Parse or PREPARE of them defines something new.
          if (info.deallocates !== undefined) forgetStatements(s.prepared, info.deallocates);
          if (discardAll) {
            forgetStatements(s.prepared, null);
            s.portals.clear();
          }
          if (info.sets !== undefined) s.searchPath.apply(info.sets, single && s.txStatus === "I");
          if (info.classes.some(isCatalogChanging)) s.catalog.invalidate();
          if (info.classes.includes("ddl.create.schema") || info.classes.includes("procedural")) s.searchPath.schemaCreated();
          if (info.node === "DeclareCursorStmt" && spec !== null && checked !== undefined) s.statementGate.rememberCursor(spec, checked.verdict.masks);
        }
      : undefined;
    return {
      facts: factsOf(info),
      rule,
      spec,
      started: performance.now(),
      plan: null,
      rows: 0,
      done: false,
      ...(parameters !== undefined ? { parameters } : {}),
      ...(onSuccess !== undefined ? { onSuccess } : {}),
    };
  }
}

const SIMPLE_DETAILS = Object.freeze({ protocol: "simple" });

/** DDL changes names and columns; procedural code may run DDL the gateway cannot see. */
function isCatalogChanging(c: string): boolean {
  return c.startsWith("ddl.") || c === "procedural";
}

/** Messages whose checking waits for the catalog changes before them (CatalogFence). */
const FENCED: ReadonlySet<DecodedFrontendMessage["type"]> = new Set(["Query", "Parse", "Bind", "Execute", "FunctionCall"]);
const CHANGED_IN_BATCH = Object.freeze({
  rule: "builtin:catalog-changed-in-batch",
  message:
    "statement denied: an earlier statement of this batch may change the catalog (DDL, procedural code or a user function) and has not completed; send Sync after a catalog-changing statement before statements that depend on it",
});
/** Settings that change how names resolve. */
const PATH_SETTINGS: ReadonlySet<string> = new Set(["search_path", "all", "role", "session_authorization"]);

/** Classes of statements that take no parameters (and whose names the statement gate does not run). */
function takesNoParameters(c: string): boolean {
  return c.startsWith("ddl.") || c === "grant" || c === "revoke" || c === "comment" || c === "security_label";
}

/** Whether checking the statement looks anything up in the catalog (names, or declared parameter types). */
function needsCatalog(info: Pick<StatementInfo, "relations" | "functions">, parameterTypes: readonly number[] | undefined): boolean {
  return info.relations.length > 0 || info.functions.length > 0 || (parameterTypes?.some((t) => t !== 0) ?? false);
}

/**
 * Whether statements after this one must wait for it before they are checked: it may change
 * what names mean (DDL, procedural code, a user function, which may run DDL), or the search_path.
 */
function changesCatalog(info: StatementInfo, facts: PostgresRequestFacts): boolean {
  return (
    info.classes.some(isCatalogChanging) ||
    (facts.userFunctions?.length ?? 0) > 0 ||
    (info.sets !== undefined && info.sets.some((c) => PATH_SETTINGS.has(c.name)))
  );
}

/** DEALLOCATE name, or every named statement (DEALLOCATE ALL, DISCARD ALL; the unnamed one stays). */
function forgetStatements(prepared: Map<string, PreparedStatement>, name: string | null): void {
  if (name !== null) {
    prepared.delete(name);
    return;
  }
  for (const key of [...prepared.keys()]) if (key !== "") prepared.delete(key);
}

function union(a: readonly string[], b: readonly string[]): string[] {
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

/** Bind parameters as text for the audit: text-format values as they are, binary ones as hex. */
function parameterTexts(m: Bind): (string | null)[] {
  return m.parameters.map((p, i) => {
    if (p === null) return null;
    const format = m.parameterFormats.length === 0 ? 0 : m.parameterFormats.length === 1 ? m.parameterFormats[0] : m.parameterFormats[i];
    return format === 1 ? `\\x${Buffer.from(p).toString("hex")}` : utf8.decode(p);
  });
}

/** The client broke the protocol: the session ends with a FATAL. */
export class RelayViolation extends Error {}
