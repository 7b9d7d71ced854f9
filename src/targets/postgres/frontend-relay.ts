// Client → upstream: every message the client sends after login. Statements are analysed and
// decided before they are forwarded (simple Query per statement, extended protocol at Parse
// and again at Bind when the decision is from an earlier batch); a denial is forwarded as the
// DO block of deny.ts, and in the extended protocol the client's messages up to Sync are then
// dropped, as the server itself would skip them. Each forwarded message that has an answer
// gets its entry in the response tracker.
import type { Decoded, Bind, Close, Describe, Execute, FunctionCall, Parse, Query, DecodedFrontendMessage } from "./protocol/frontend-message.ts";
import type { PostgresRequestFacts } from "../../core/types.ts";
import type { Catalog } from "./catalog.ts";
import { denialError, type DenyMessages } from "./deny.ts";
import { encodeFrontendMessage } from "./protocol/encode.ts";
import type { ResponseTracker } from "./response-tracker.ts";
import type { SearchPathTracker } from "./search-path.ts";
import type { Outbox, Portal, PreparedStatement, StatementRun } from "./session-state.ts";
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

  constructor(private readonly s: RelayCore) {}

  /** Handles one message; a Promise means: wait for it before the next one. */
  handle(m: DecodedFrontendMessage): void | Promise<void> {
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

  private async onQuery(m: Decoded<Query>): Promise<void> {
    const s = this.s;
    const analysis = s.analyzer.analyze(m.query, s.searchPath.context);
    if (!analysis.ok) {
      await this.refuseUnparsable(m.query, analysis.error, "simple");
      s.toUpstream.push(s.deny.query);
      s.tracker.push({ kind: "deny-query", error: denialError(analysis.error, { code: "42601", ...(analysis.position !== undefined ? { position: analysis.position } : {}) }), sent: false });
      return;
    }
    const stmts = analysis.statements;
    const runs: StatementRun[] = [];
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
      runs.push(this.newRun(info, checked, stmts.length === 1));
    }
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "query", runs, index: 0 });
  }

  private async onParse(m: Decoded<Parse>): Promise<void> {
    const s = this.s;
    const previous = s.prepared.get(m.statement);
    if (m.statement !== "" && previous !== undefined) {
      // The server refuses to redefine a named statement: nothing new can run, so nothing to decide.
      s.toUpstream.push(m.raw);
      s.tracker.push({ kind: "parse", injected: false, statement: null, previous });
      return;
    }
    const analysis = s.analyzer.analyze(m.query, s.searchPath.context);
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
    const stmt: PreparedStatement = { name: m.statement, info: null, verdict: null, spec: null, batch: -1, fields: null, described: false };
    if (info !== null) {
      const checked = await this.check(info, { protocol: "extended", statement_name: m.statement });
      if (checked === null) return this.denyExtended(this.lastRefusal!);
      if (!checked.verdict.allowed) return this.denyExtended(denialError(checked.verdict.message, { rule: checked.verdict.decision.rule }));
      stmt.info = checked.info;
      stmt.verdict = checked.verdict;
      stmt.spec = checked.spec;
      stmt.batch = s.batch;
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
    if (stmt.info === null || (stmt.verdict !== null && stmt.batch === s.batch)) return this.bind(m, stmt);
    return this.recheck(m, stmt, stmt.info);
  }

  private async recheck(m: Decoded<Bind>, stmt: PreparedStatement, info: StatementInfo): Promise<void> {
    const checked = await this.check(info, { protocol: "extended", statement_name: stmt.name, at: "bind" });
    if (checked === null) return this.denyExtended(this.lastRefusal!);
    if (!checked.verdict.allowed) return this.denyExtended(denialError(checked.verdict.message, { rule: checked.verdict.decision.rule }));
    stmt.verdict = checked.verdict;
    stmt.spec = checked.spec;
    stmt.batch = this.s.batch;
    this.bind(m, stmt);
  }

  private bind(m: Decoded<Bind>, stmt: PreparedStatement): void {
    const s = this.s;
    const portal: Portal = {
      name: m.portal,
      statement: stmt,
      resultFormats: m.resultFormats,
      spec: stmt.spec,
      fields: null,
      described: false,
      plan: null,
      ...(s.recordParameters ? { parameters: parameterTexts(m) } : {}),
    };
    s.portals.set(m.portal, portal);
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "bind", injected: false });
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
    const stmt = portal.statement;
    const run: StatementRun = stmt.info === null
      ? { facts: EMPTY_FACTS, rule: null, spec: null, started: performance.now(), plan: null, rows: 0, done: false }
      : this.runOf(stmt.info, stmt.verdict!.decision.rule, portal.spec, false, portal.parameters);
    if (portal.spec !== null && !portal.described && !stmt.described) {
      // Masks apply and the client never asked for the row shape: ask for it, and keep the answer to ourselves.
      s.toUpstream.push(encodeFrontendMessage({ type: "Describe", target: "P", name: m.portal }));
      s.tracker.push({ kind: "describe-portal", portal, injected: true });
      portal.described = true;
    }
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "execute", portal, run });
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
    } else {
      checked = await s.statementGate.check(info, { protocol: "function_call", oid: m.functionOid });
      if (!checked.verdict.allowed) error = denialError(checked.verdict.message, { rule: checked.verdict.decision.rule });
    }
    if (error !== null || checked === null) {
      s.toUpstream.push(s.deny.query);
      s.tracker.push({ kind: "deny-query", error: error!, sent: false });
      return;
    }
    s.toUpstream.push(m.raw);
    s.tracker.push({ kind: "function-call", run: this.newRun(info, checked, false) });
  }

  /** The ErrorResponse of the last refusal made by check() (when it returned null). */
  private lastRefusal: Uint8Array | null = null;

  /**
   * Decides one statement. EXECUTE counts as what was prepared; a statement the gateway cannot
   * resolve (EXECUTE of an unknown name, search_path unknown) is refused: returns null and
   * leaves the ErrorResponse in lastRefusal.
   */
  private async check(info: StatementInfo, details: Record<string, unknown>): Promise<(CheckedStatement & { info: StatementInfo }) | null> {
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
      if (p.info !== null) {
        effective = {
          ...info,
          classes: union(info.classes.filter((c) => c !== "execute"), p.info.classes),
          relations: union(info.relations, p.info.relations),
          functions: union(info.functions, p.info.functions),
        };
      }
    }
    if (s.searchPath.unknownBecause !== null && (effective.relations.length > 0 || effective.functions.length > 0)) {
      const message = `statement denied: the session's search_path is unknown after ${s.searchPath.unknownBecause}; SET search_path explicitly first`;
      await s.statementGate.refuse(factsOf(effective), "builtin:search-path-unknown", message, details);
      this.lastRefusal = denialError(message);
      return null;
    }
    const checked = await s.statementGate.check(effective, details);
    return { ...checked, info: effective };
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
    s.tracker.push({ kind: "bind", injected: true });
    s.tracker.push({ kind: "deny-execute", error, sent: false });
    // The injected Parse and Bind replace the unnamed statement and portal upstream.
    s.prepared.delete("");
    s.portals.delete("");
    this.skipping = true;
  }

  private newRun(info: StatementInfo, checked: CheckedStatement & { info?: StatementInfo }, single: boolean): StatementRun {
    return this.runOf(checked.info ?? info, checked.verdict.decision.rule, checked.spec, single, undefined, checked);
  }

  private runOf(
    info: StatementInfo,
    rule: string | null,
    spec: StatementRun["spec"],
    single: boolean,
    parameters?: readonly (string | null)[],
    checked?: CheckedStatement,
  ): StatementRun {
    const s = this.s;
    const needs = info.prepares !== undefined || info.sets !== undefined || info.node === "DeclareCursorStmt" || info.classes.some(isCatalogChanging);
    const onSuccess = needs
      ? () => {
          if (info.prepares !== undefined) {
            const p = info.prepares;
            s.prepared.set(p.name, { name: p.name, info: p.inner, verdict: null, spec: null, batch: -1, fields: null, described: false });
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
