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
// The fast path: a simple Query of one statement, a Parse, or a Bind in a new batch, whose shape
// was allowed a moment ago with nothing it depends on changed since (StatementChecker.known) is
// decided without the catalog or the policy and recorded in the same data callback, with no
// await (known-record.ts; the record carries the session's earlier completions); in batch mode
// it is forwarded once the end of the event-loop turn wrote the records of every session's
// statements of that turn with one write(2) (strict mode: written and fsync'd first, as
// before); everything else takes the path below.
//
// Statements are checked against the catalog as it is when they arrive (read on another
// connection, so only committed changes show), so a statement that may change it (DDL,
// procedural code, a user function, a search_path change) fences the ones pipelined behind it:
// once it is forwarded, the next statement waits for its answer and the ReadyForQuery that ends
// its implicit transaction (CatalogFence); the catalog cache is dropped, and verdicts made
// before it are made again. Within an extended-protocol batch the server answers only at Sync,
// so waiting there would deadlock: after a catalog-changing Execute, a statement of the same
// batch that needs the catalog is denied instead (send Sync first).
//
// The other parts: relay-core.ts (the session the relays share), statement-checker.ts (deciding
// one statement, prepared ones re-analysed), statement-run.ts (what a statement that succeeds
// does to the session), catalog-changes.ts (which statements fence the catalog), function-call.ts
// (the FunctionCall message), known-record.ts (recording the fast path's decisions).
import type { Decoded, Bind, Close, Describe, Execute, Parse, Query, DecodedFrontendMessage } from "../protocol/frontend-message.ts";
import type { PostgresRequestFacts } from "../../../core/types.ts";
import { changesCatalog, FENCED, needsCatalog } from "../catalog/catalog-changes.ts";
import { declaredCursorName } from "../decide/cursor-name.ts";
import { denialError, verdictDenial } from "./deny.ts";
import { relayFunctionCall } from "../decide/function-call.ts";
import { encodeFrontendMessage } from "../protocol/encode.ts";
import type { RelayCore } from "./relay-core.ts";
import { CatalogFence, portalSettled, type Portal, type PreparedStatement, type StatementRun } from "./session-state.ts";
import type { Analysis, AnalysisContext, StatementInfo } from "../sql/analysis.ts";
import { factsOf, type CheckedStatement } from "../decide/statement-gate.ts";
import type { Verdict } from "../../../gate/gate.ts";
import { StatementChecker } from "../decide/statement-checker.ts";
import { notRun } from "./run-outcome.ts";
import { checkedRun, statementRun } from "./statement-run.ts";
import { KnownRecorder } from "./known-record.ts";

export type { Analyzer, RelayCore, StatementOutcome } from "./relay-core.ts";

const EMPTY_FACTS: PostgresRequestFacts = { kind: "postgres", classes: [], relations: [], functions: [] };
const utf8 = new TextDecoder();

export class FrontendRelay {
  /** After a denial in the extended protocol: drop everything up to Sync. */
  private skipping = false;
  /** Forwarded statements that may change the catalog and are not answered yet. */
  private readonly fence: CatalogFence;
  /** A catalog-changing Execute was forwarded in this batch (no Sync since): see the top of the file. */
  private changedInBatch = false;
  /**
   * An extended-protocol message was forwarded with no Sync (or Query, which ends in a
   * ReadyForQuery too) after it: the transaction state the last ReadyForQuery showed may be stale
   * (an Execute of BEGIN), so a SET that follows cannot be taken as final.
   */
  private unsynced = false;
  /** Decides statements; when its check() returns null, its lastRefusal is the ErrorResponse to send. */
  private readonly checker: StatementChecker;
  /** Records the fast path's decisions (known-record.ts). */
  private readonly recorder: KnownRecorder;

  constructor(private readonly s: RelayCore) {
    this.checker = new StatementChecker(s, () => this.changedInBatch);
    this.recorder = new KnownRecorder(s);
    this.fence = new CatalogFence(() => s.catalog.invalidate());
    s.tracker.onReady = () => this.fence.ready(s.txStatus);
  }

  /** Handles one message; a Promise means: wait for it before the next one. */
  handle(m: DecodedFrontendMessage): void | Promise<void> {
    if (!this.fence.open && !this.changedInBatch && !this.skipping && FENCED.has(m.type)) return this.afterFence(m);
    if (EXTENDED.has(m.type) && !this.skipping) this.unsynced = true;
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
        this.unsynced = false;
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
        return relayFunctionCall(this.s, m, this.fence, () => this.changedInBatch);
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

  /**
   * A statement's text analysed with the session's search_path, and, when it is one statement
   * whose shape was allowed a moment ago with nothing it depends on changed, that decision (the
   * fast path); else known is null.
   */
  private analyzeKnown(text: string, parameterTypes?: readonly number[]): { analysis: Analysis; ctx: AnalysisContext; known: (CheckedStatement & { info: StatementInfo }) | null } {
    const ctx = this.s.searchPath.context;
    const analysis = this.s.analyzer.analyze(text, ctx);
    const known = analysis.ok && analysis.statements.length === 1 ? this.checker.known(analysis.statements[0]!, parameterTypes) : null;
    return { analysis, ctx, known };
  }

  private onQuery(m: Decoded<Query>): void | Promise<void> {
    const { analysis, ctx, known } = this.analyzeKnown(m.query);
    // The fast path: the same shape was allowed a moment ago and nothing it depends on changed.
    if (known !== null) return this.recorder.record(known, SIMPLE_DETAILS, (verdict, seq) => this.applyKnownQuery(m, known.info, known, ctx, verdict, seq));
    return this.onQuerySlow(m, analysis, ctx);
  }

  /** `seq`: the seq of the decision record made for it (-1: none known). */
  private applyKnownQuery(m: Decoded<Query>, info: StatementInfo, known: CheckedStatement & { info: StatementInfo }, ctx: AnalysisContext, verdict: Verdict, seq: number): void {
    const s = this.s;
    if (!verdict.allowed) {
      s.toUpstream.push(s.deny.query);
      s.tracker.push({ kind: "deny-query", error: verdictDenial(verdict), sent: false });
      return;
    }
    const run = checkedRun(s, info, known, !this.unsynced, ctx);
    if (seq >= 0) run.decisionSeq = seq;
    this.forwardQuery(m, [info], [run], changesCatalog(known.info, known.facts));
  }

  private async onQuerySlow(m: Decoded<Query>, analysis: Analysis, ctx: AnalysisContext): Promise<void> {
    const s = this.s;
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
      const checked = await this.checker.check(info, details);
      if (checked === null || !checked.verdict.allowed) {
        const error = checked === null ? this.checker.lastRefusal! : verdictDenial(checked.verdict);
        for (const r of runs) notRun(s, r, "another statement of the same query was denied");
        s.toUpstream.push(s.deny.query);
        s.tracker.push({ kind: "deny-query", error, sent: false });
        return;
      }
      // A SET is final only when it runs on its own in a transaction state the gateway knows.
      const run = checkedRun(s, info, checked, stmts.length === 1 && !this.unsynced, ctx);
      runs.push(run);
      if (changesCatalog(checked.info, checked.facts)) fenced.push(run);
    }
    this.forwardQuery(m, stmts, runs, fenced);
  }

  /** Forwards an allowed Query with the runs of its statements; `fenced`: those that may change the catalog (or true: all). */
  private forwardQuery(m: Decoded<Query>, stmts: readonly StatementInfo[], runs: StatementRun[], fenced: readonly StatementRun[] | boolean): void {
    const s = this.s;
    for (const info of stmts) if (info.node === "DeclareCursorStmt") this.cursorTakesName(info);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "query", runs, index: 0 });
    // Its ReadyForQuery shows the state the unsynced messages before it left.
    this.unsynced = false;
    for (const r of fenced === true ? runs : fenced === false ? [] : fenced) this.fence.watch(r);
  }

  private onParse(m: Decoded<Parse>): void | Promise<void> {
    // The fast path, as for a Query (drivers that Parse the unnamed statement for every query).
    const { analysis, ctx, known } = this.analyzeKnown(m.query, m.parameterTypes);
    if (known !== null) return this.recorder.record(known, this.recorder.parseDetails(m.statement), (verdict, seq) => this.applyKnownParse(m, ctx, known, verdict, seq));
    return this.onParseSlow(m, analysis, ctx);
  }

  private applyKnownParse(m: Decoded<Parse>, ctx: AnalysisContext, known: CheckedStatement & { info: StatementInfo }, verdict: Verdict, seq: number): void {
    if (!verdict.allowed) return this.denyExtended(verdictDenial(verdict));
    const s = this.s;
    const previous = s.prepared.get(m.statement);
    const stmt = this.newStatement(m, ctx, true);
    this.adopt(stmt, known, seq >= 0 ? seq : undefined);
    s.prepared.set(m.statement, stmt);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "parse", injected: false, statement: stmt, previous });
  }

  /** The prepared statement a Parse defines, not yet decided; `source`: false for an empty query (nothing to analyse again). */
  private newStatement(m: Decoded<Parse>, ctx: AnalysisContext, source: boolean): PreparedStatement {
    return {
      name: m.statement,
      info: null,
      verdict: null,
      spec: null,
      batch: -1,
      fields: null,
      described: false,
      source: source ? { text: m.query, prepare: false, context: ctx } : null,
      parameterTypes: m.parameterTypes,
      epoch: this.fence.epoch,
      changesCatalog: false,
    };
  }

  private async onParseSlow(m: Decoded<Parse>, analysis: Analysis, ctx: AnalysisContext): Promise<void> {
    const s = this.s;
    // Decided even when the name is in use: the server refuses to redefine a named statement,
    // but it may have freed the name in ways the gateway cannot always see.
    const previous = s.prepared.get(m.statement);
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
    const stmt = this.newStatement(m, ctx, info !== null);
    if (info !== null) {
      const checked = await this.checker.check(info, { protocol: "extended", statement_name: m.statement }, m.parameterTypes);
      if (checked === null) return this.denyExtended(this.checker.lastRefusal!);
      if (!checked.verdict.allowed) return this.denyExtended(verdictDenial(checked.verdict));
      stmt.info = checked.info;
      stmt.verdict = checked.verdict;
      stmt.decisionSeq = undefined;
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
    // A FETCH is decided again at every Bind: the cursor it reads may have been declared anew since.
    const fresh = stmt.verdict !== null && stmt.batch === s.batch && stmt.epoch === this.fence.epoch && !this.changedInBatch && stmt.info?.fetches === undefined;
    if (stmt.info === null || (fresh && !this.checker.stale(stmt))) return this.bind(m, stmt);
    if (!this.checker.stale(stmt)) {
      // The fast path: decided in an earlier batch, and nothing it depends on changed since.
      const known = this.checker.known(stmt.info, stmt.parameterTypes);
      if (known !== null) {
        // Frozen and kept with the statement: the gate serialises it once (Gate.recordKnown).
        const details = (stmt.bindDetails ??= Object.freeze({ protocol: "extended", statement_name: stmt.name, at: "bind" }));
        return this.recorder.record(known, details, (verdict, seq) => this.applyKnownBind(m, stmt, known, verdict, seq));
      }
    }
    return this.recheck(m, stmt);
  }

  private applyKnownBind(m: Decoded<Bind>, stmt: PreparedStatement, known: CheckedStatement & { info: StatementInfo }, verdict: Verdict, seq: number): void {
    if (!verdict.allowed) return this.denyExtended(verdictDenial(verdict));
    this.adopt(stmt, known, seq >= 0 ? seq : undefined);
    this.bind(m, stmt);
  }

  /** A prepared statement takes a decision made for it now; `decisionSeq`: its record's seq when the fast path made it. */
  private adopt(stmt: PreparedStatement, checked: CheckedStatement & { info: StatementInfo }, decisionSeq?: number): void {
    stmt.info = checked.info;
    stmt.verdict = checked.verdict;
    stmt.decisionSeq = decisionSeq;
    stmt.spec = checked.spec;
    stmt.batch = this.s.batch;
    stmt.epoch = this.fence.epoch;
    stmt.changesCatalog = changesCatalog(checked.info, checked.facts);
  }

  private async recheck(m: Decoded<Bind>, stmt: PreparedStatement): Promise<void> {
    const details = { protocol: "extended", statement_name: stmt.name, at: "bind" };
    const current = await this.checker.current(stmt, details, false);
    if (current === null) return this.denyExtended(this.checker.lastRefusal!);
    const checked = await this.checker.check(current.info!, details, stmt.parameterTypes);
    if (checked === null) return this.denyExtended(this.checker.lastRefusal!);
    if (!checked.verdict.allowed) return this.denyExtended(verdictDenial(checked.verdict));
    this.adopt(stmt, checked);
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
      decisionSeq: stmt.decisionSeq,
      ...(s.recordParameters ? { parameters: parameterTexts(m) } : {}),
    };
    const previous = s.portals.get(m.portal);
    s.portals.set(m.portal, portal);
    if (m.portal !== "") s.cursors.portalBound(m.portal);
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

  /** `rechecked`: decided again just now (recheckPortal), so not again. */
  private onExecute(m: Decoded<Execute>, rechecked = false): void | Promise<void> {
    const s = this.s;
    const portal = s.portals.get(m.portal);
    if (portal === undefined) {
      return this.refuseExtended("builtin:unknown-portal", `portal "${m.portal}" is not known to the gateway: it was not bound through it`);
    }
    if (portal.state === "pending" && portal.batch !== s.batch) {
      // The Bind is in an earlier batch, so its failure would not skip this Execute, and the
      // name could then run something else (a cursor of that name): wait for its answer.
      return portalSettled(portal).then(() => this.onExecute(m, rechecked));
    }
    // The catalog changed since the portal was decided (a trigger added to a table it writes, say),
    // or may be changing in this batch: decide again (check() refuses what needs the catalog then).
    // So is a FETCH: the cursor it reads may have been declared anew since its Bind.
    const stale = portal.info !== null && (portal.epoch !== this.fence.epoch || portal.info.fetches !== undefined || (this.changedInBatch && needsCatalog(portal.info, portal.statement.parameterTypes)));
    if (stale && !rechecked) {
      return this.recheckPortal(m, portal);
    }
    const stmt = portal.statement;
    const info = portal.info;
    const run: StatementRun = info === null
      ? { facts: EMPTY_FACTS, rule: null, spec: null, started: performance.now(), plan: null, rows: 0, done: false }
      : statementRun(s, info, portal.verdict!.decision.rule, portal.spec, false, portal.context, portal.parameters, {
          facts: factsOf(info),
          verdict: portal.verdict!,
          spec: portal.spec,
        });
    if (info !== null && portal.decisionSeq !== undefined) run.decisionSeq = portal.decisionSeq;
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
    const checked = await this.checker.check(portal.info!, details, portal.statement.parameterTypes);
    if (checked === null) return this.denyExtended(this.checker.lastRefusal!);
    if (!checked.verdict.allowed) return this.denyExtended(verdictDenial(checked.verdict));
    if (checked.spec !== portal.spec) {
      const message = `portal "${portal.name}" is denied: the catalog changed since it was bound and so did the masks that apply to it; bind it again`;
      await this.s.statementGate.refuse(checked.facts, "builtin:stale-portal", message, details);
      return this.denyExtended(denialError(message));
    }
    portal.verdict = checked.verdict;
    portal.decisionSeq = undefined;
    portal.info = checked.info;
    portal.epoch = this.fence.epoch;
    portal.changesCatalog = changesCatalog(checked.info, checked.facts);
    await this.onExecute(m, true);
  }

  private onClose(m: Decoded<Close>): void {
    const s = this.s;
    if (m.target === "S") s.prepared.delete(m.name);
    else s.portals.delete(m.name);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "close" });
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
}

const SIMPLE_DETAILS = Object.freeze({ protocol: "simple" });
/** The extended-protocol messages that run or change something upstream before the next Sync. */
const EXTENDED: ReadonlySet<string> = new Set(["Parse", "Bind", "Describe", "Execute", "Close"]);

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
