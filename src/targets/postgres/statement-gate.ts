// Per statement: turn the SQL analysis into an Action, have the Gate decide, audit and (for
// review) hold it, and compile the masks that apply to its results. Refusals that are not the
// policy's (SQL that cannot be parsed, an unknown prepared statement) are audited as denies too.
import type { PendingRequest } from "../../approvals/approvals.ts";
import type { Action, Clock, Decision, Identity, Masks, PostgresRequestFacts } from "../../core/types.ts";
import { NO_MASKS, hasMasks } from "../../core/types.ts";
import type { Gate, Verdict } from "../../gate/gate.ts";
import type { Detector } from "../../masking/detectors.ts";
import type { Catalog } from "./catalog.ts";
import { bareMaskNames, compileMaskSpec, maskedTables, type MaskSpec } from "./masking.ts";
import type { StatementInfo } from "./sql/analysis.ts";

export interface StatementGateDeps {
  readonly gate: Gate;
  readonly target: string;
  readonly identity: Identity;
  readonly session: string;
  readonly clock: Clock;
  readonly adjust: (decision: Decision, action: Action) => Decision;
  readonly catalog: Catalog;
  readonly compileDetectors: (names: readonly string[]) => Detector;
  /** Tells the client what a held statement waits for. */
  readonly onHold: (p: PendingRequest) => void;
}

export interface CheckedStatement {
  readonly facts: PostgresRequestFacts;
  readonly verdict: Verdict;
  readonly spec: MaskSpec | null;
}

export function factsOf(info: Pick<StatementInfo, "classes" | "relations" | "functions" | "text">): PostgresRequestFacts {
  return { kind: "postgres", classes: info.classes, relations: info.relations, functions: info.functions, sql: info.text };
}

export class StatementGate {
  private hold: AbortController | null = null;
  private readonly specs = new Map<string, MaskSpec>();
  /** Masks of every cursor declared in this session: FETCH does not say which cursor's query it reads, so all apply. */
  private cursorMasks: { columns: Set<string>; detectors: Set<string>; unknownOrigin: boolean } | null = null;

  constructor(private readonly deps: StatementGateDeps) {}

  /** Decides one statement (with its effective facts: EXECUTE already replaced by what was prepared). */
  async check(info: StatementInfo, details: Record<string, unknown>): Promise<CheckedStatement> {
    const facts = factsOf(info);
    const verdict = await this.decide(facts, details, this.deps.adjust);
    let masks: Masks = verdict.allowed ? verdict.masks : NO_MASKS;
    let unknownOrigin = false;
    if (verdict.allowed && info.node === "FetchStmt" && this.cursorMasks !== null) {
      masks = {
        json: masks.json,
        columns: [...new Set([...masks.columns, ...this.cursorMasks.columns])],
        detectors: [...new Set([...masks.detectors, ...this.cursorMasks.detectors])],
      };
      unknownOrigin = this.cursorMasks.unknownOrigin;
    }
    // A COPY … TO that got this far was checked by builtin:copy-masked: its masks name other tables.
    const copyOut = info.classes.includes("copy.to");
    if (!verdict.allowed || copyOut || !hasMasks(masks) || (masks.columns.length === 0 && masks.detectors.length === 0)) {
      return { facts, verdict, spec: null };
    }
    unknownOrigin ||= await this.readsMaskedTable(masks, facts.relations);
    return { facts, verdict, spec: this.spec(masks, unknownOrigin) };
  }

  /** Audits a refusal that is not the policy's and returns its verdict (always a deny). */
  async refuse(facts: PostgresRequestFacts, rule: string, message: string, details: Record<string, unknown>): Promise<Verdict> {
    const forced: Decision = { effect: "deny", rule, message, masks: NO_MASKS };
    return await this.decide(facts, details, () => forced);
  }

  /** A DECLARE CURSOR with masks ran: its masks now apply to every FETCH of the session. */
  rememberCursor(spec: MaskSpec, masks: Masks): void {
    const c = (this.cursorMasks ??= { columns: new Set(), detectors: new Set(), unknownOrigin: false });
    for (const m of masks.columns) c.columns.add(m);
    for (const d of masks.detectors) c.detectors.add(d);
    c.unknownOrigin ||= spec.unknownOriginMasked;
  }

  /** A cancel request or the client going away ends a wait for approval. */
  cancelHold(): void {
    this.hold?.abort();
  }

  private async decide(facts: PostgresRequestFacts, details: Record<string, unknown>, adjust: StatementGateDeps["adjust"]): Promise<Verdict> {
    const hold = new AbortController();
    this.hold = hold;
    try {
      return await this.deps.gate.check(
        { identity: this.deps.identity, target: this.deps.target, request: facts, time: this.deps.clock.now() },
        { session: this.deps.session, details, adjust, onHold: this.deps.onHold, signal: hold.signal },
      );
    } finally {
      if (this.hold === hold) this.hold = null;
    }
  }

  /**
   * Whether the statement reads a table with masked columns, so that result columns of unknown
   * origin (expressions) must be masked too. A catalog failure counts as yes (fail closed).
   */
  private async readsMaskedTable(masks: Masks, relations: readonly string[]): Promise<boolean> {
    if (relations.length === 0) return false;
    const tables = maskedTables(masks);
    for (const r of relations) if (tables.has(r.toLowerCase())) return true;
    const bare = bareMaskNames(masks);
    if (bare.size === 0) return false;
    try {
      const cols = await this.deps.catalog.columnsOf(relations);
      for (const t of cols.values()) {
        if (t === null) continue;
        for (const name of t.columns.values()) if (bare.has(name.toLowerCase())) return true;
      }
      return false;
    } catch {
      return true;
    }
  }

  private spec(masks: Masks, unknownOrigin: boolean): MaskSpec {
    const key = `${unknownOrigin ? 1 : 0}${JSON.stringify(masks.columns)}${JSON.stringify(masks.detectors)}`;
    let s = this.specs.get(key);
    if (s === undefined) {
      s = compileMaskSpec(masks, unknownOrigin, this.deps.compileDetectors);
      if (this.specs.size > 100) this.specs.clear();
      this.specs.set(key, s);
    }
    return s;
  }
}
