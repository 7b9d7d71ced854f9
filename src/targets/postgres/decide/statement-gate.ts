// Per statement: turn the SQL analysis into an Action, have the Gate decide, audit and (for
// review) hold it, and compile the masks that apply to its results. Refusals that are not the
// policy's (SQL that cannot be parsed, an unknown prepared statement) are audited as denies too.
//
// Before deciding, the statement's names are looked up in the upstream catalog (cached there):
//  - a view (or materialized view, or a table with rules) hides what it reads: the relations
//    it is built on, recursively, join the statement's relations. So the statement's relations
//    are the named ones plus the base relations of every view among them, and an allow rule
//    must cover all of them (a rule for sales.* does not allow a view in sales over hr.*), a
//    deny rule any of them. Functions the views run join its functions.
//  - a called name that may resolve to a function that is not a built-in (OID >= 16384, or a
//    temporary function) is reported in userFunctions; builtins.ts denies it unless the
//    deciding rule names it.
//  - a relation's inheritance children and partitions join too (unless named with ONLY), and
//    the user functions behind its operators, type conversions and, for a write, its tables'
//    triggers, defaults and constraints count as called (see catalog-objects.ts);
//  - a CREATE TABLE (temporary or not) or ALTER TABLE that takes on code through LIKE, INHERITS,
//    PARTITION OF, OF <type> or its column types (the code-rel and code-type markers) counts
//    that code's user functions as called, DDL though it is: the code runs on the new table's
//    writes, which for a temporary table the catalog connection never sees. The session also
//    remembers it, so that later writes to that table (by its plain name) count it again;
//  - masks: a view's columns have no table origin (catalog.ts) and a user function hides the
//    tables it reads, so when masks apply, columns of unknown origin are masked if the
//    statement reads a table with masked columns (base tables of views included) or calls a
//    user function; a FETCH of a cursor the session does not know (cursors.ts) does not say
//    what it reads, so there too, with the masks of every cursor declared. A FETCH of a known
//    cursor carries its query's facts (statement-checker.ts) and is masked as that query is. What a write returns
//    (RETURNING) is of unknown origin too, and a masked column read through a parent table
//    (inheritance) is masked by its name.
//  - where masks apply, masked values must not leave through another door (builtin:masked-copy,
//    builtin:setting-leak): a write may not copy a masked column into a column (or table) that
//    can then be read unmasked, and set_config may not take a value read from a table (SHOW,
//    current_setting and ParameterStatus would return it unmasked).
import type { PendingRequest } from "../../../approvals/approvals.ts";
import { errorMessage } from "../../../core/errors.ts";
import type { Action, Clock, Decision, Identity, Masks, PostgresRequestFacts } from "../../../core/types.ts";
import { NO_MASKS, hasMasks } from "../../../core/types.ts";
import { auditAction, type Gate, type Verdict } from "../../../gate/gate.ts";
import { ObjectTemplate, type CanonicalValue } from "../../../audit/record-template.ts";
import type { SessionRecords } from "../../../gate/session-records.ts";
import type { Detector } from "../../../masking/detectors.ts";
import { NO_OBJECTS, splitQualified, type Catalog, type StatementObjects } from "../catalog/catalog.ts";
import { bareMaskNames, compileMaskSpec, maskedTables, type MaskSpec } from "../masking/mask-plan.ts";
import type { StatementInfo } from "../sql/analysis.ts";
import { guardMarkers } from "./marker-guards.ts";
import { NO_MARKERS, splitMarkers, type Markers } from "../sql/markers.ts";

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
  /** The session's audit record templates: decision records are built from them. */
  readonly records?: SessionRecords;
}

export interface CheckedStatement {
  readonly facts: PostgresRequestFacts;
  readonly verdict: Verdict;
  readonly spec: MaskSpec | null;
  /** known() only: the canonical JSON of auditAction(facts), for the decision record. */
  readonly action?: CanonicalValue;
}

/** The policy's view of a statement: the analysis's markers (markers.ts) are not among its functions. */
export function factsOf(info: Pick<StatementInfo, "classes" | "relations" | "functions" | "text">): PostgresRequestFacts {
  return { kind: "postgres", classes: info.classes, relations: info.relations, functions: splitMarkers(info.functions).functions, sql: info.text };
}

interface KnownDecision {
  readonly policy: string;
  readonly epoch: number;
  readonly version: number;
  readonly types: string;
  readonly checked: CheckedStatement;
  /** The audit action of checked.facts with its text left open, made at the first reuse. */
  action?: ObjectTemplate<"sql">;
  /** checked with its canonical action, for a reuse with the same text (a Bind). */
  same?: CheckedStatement;
}

/** The decision record's action of these facts, every member but the statement's text fixed. */
function actionTemplate(facts: PostgresRequestFacts): ObjectTemplate<"sql"> {
  const { sql: _sql, ...fixed } = auditAction(facts) as Record<string, unknown>;
  return new ObjectTemplate(fixed, ["sql"]);
}

/** Shapes kept per session; all are dropped at once when it fills (a session rarely runs more). */
const MAX_KNOWN = 256;

function typesKey(types: readonly number[] | undefined): string {
  return types === undefined || types.length === 0 ? "" : types.join(",");
}

/** Classes of statements that write rows whose values come from expressions. */
const ROW_WRITES: ReadonlySet<string> = new Set(["insert", "update", "merge"]);
/** Classes of statements that fire a table's triggers and defaults. */
export const FIRES_TRIGGERS: ReadonlySet<string> = new Set(["insert", "update", "delete", "merge", "truncate", "copy.from"]);

export class StatementGate {
  private hold: AbortController | null = null;
  private readonly specs = new Map<string, MaskSpec>();
  /**
   * Functions and relations this session's allowed statements create (analysis `defines`): a
   * statement pipelined behind a CREATE is checked before the CREATE ran and the catalog knows
   * the new object. A defined function counts as user-defined; reading a defined relation
   * counts as touching everything its defining statement touched. Code a statement attached
   * to an operator, a type or a table's writes ("op:", "type:", "write:" + name) counts as
   * called, as that statement's functions, where a later statement uses it. Kept for the session.
   */
  private readonly defined = {
    functions: new Set<string>(),
    relations: new Map<string, { relations: readonly string[]; functions: readonly string[] }>(),
    code: new Map<string, readonly string[]>(),
  };
  /**
   * Bumped whenever `defined` or `cursorMasks` change: a decision made before may not hold after.
   */
  private sessionVersion = 0;
  /**
   * Statements allowed a moment ago, by analysis (see known()): the object is a statement's
   * analysis as the analysis cache shares it, so one object means equal classes, relations,
   * functions and the rest (everything but the text) under one search_path and user.
   */
  private readonly knownShapes = new Map<object, KnownDecision>();
  /** Masks of every cursor declared in this session: FETCH does not say which cursor's query it reads, so all apply. */
  private cursorMasks: { columns: Set<string>; detectors: Set<string>; unknownOrigin: boolean } | null = null;

  constructor(private readonly deps: StatementGateDeps) {}

  /**
   * Decides one statement (with its effective facts: EXECUTE already replaced by what was prepared).
   * `parameterTypes`: the type OIDs a protocol Parse declares for its parameters (0: unspecified);
   * Bind converts values to them, which runs a domain's CHECKs and a user type's input function.
   * `resolvedFetch`: the statement is a FETCH/MOVE already given its cursor's query's facts.
   */
  async check(statement: StatementInfo, details: Record<string, unknown>, parameterTypes?: readonly number[], resolvedFetch = false, shape?: object): Promise<CheckedStatement> {
    // What a decision to keep for known() depends on, as it stood before anything was looked up.
    const before = shape === undefined ? null : { policy: this.deps.gate.policyNow(), epoch: this.deps.catalog.epoch, version: this.sessionVersion };
    const checked = await this.decideStatement(statement, details, parameterTypes, resolvedFetch);
    if (before !== null && shape !== undefined) {
      const v = checked.verdict;
      const keep =
        before.policy.reusable &&
        v.allowed &&
        v.decision.effect === "allow" &&
        v.approvalId === undefined &&
        v.policyHash === before.policy.hash &&
        !resolvedFetch &&
        statement.node !== "FetchStmt" &&
        statement.defines === undefined &&
        before.epoch === this.deps.catalog.epoch &&
        before.version === this.sessionVersion;
      if (keep) {
        if (this.knownShapes.size >= MAX_KNOWN) this.knownShapes.clear();
        this.knownShapes.set(shape, { policy: before.policy.hash, epoch: before.epoch, version: before.version, types: typesKey(parameterTypes), checked });
      } else this.knownShapes.delete(shape);
    }
    return checked;
  }

  /**
   * The decision check() made for this shape (see knownShapes), when everything it depended on is
   * as it was: the policy (by hash, and no rule depends on the time), the catalog cache (its
   * epoch), what this session defined and declared, the declared parameter types. The identity
   * is the session's. Synchronous; null: decide it with check().
   */
  known(shape: object, statement: StatementInfo, parameterTypes?: readonly number[]): CheckedStatement | null {
    const k = this.knownShapes.get(shape);
    if (k === undefined) return null;
    const policy = this.deps.gate.policyNow();
    if (!policy.reusable || k.policy !== policy.hash || k.epoch !== this.deps.catalog.epoch || k.version !== this.sessionVersion || k.types !== typesKey(parameterTypes)) {
      this.knownShapes.delete(shape);
      return null;
    }
    const c = k.checked;
    const action = (k.action ??= actionTemplate(c.facts));
    if (c.facts.sql === statement.text) return (k.same ??= { ...c, action: action.fill({ sql: c.facts.sql }) });
    return { facts: { ...c.facts, sql: statement.text }, verdict: c.verdict, spec: c.spec, action: action.fill({ sql: statement.text }) };
  }

  /**
   * recordKnown with the write left to the end of the event-loop turn (Gate.queueKnown): the
   * verdict, and the write to wait for before forwarding; null: use recordKnown.
   */
  queueKnown(checked: CheckedStatement, details: Record<string, unknown>, completed?: CanonicalValue): { readonly verdict: Verdict; readonly written: Promise<void> | null } | null {
    if (this.deps.records === undefined) return null;
    return this.deps.gate.queueKnown(
      { identity: this.deps.identity, target: this.deps.target, request: checked.facts, time: this.deps.clock.now() },
      checked.verdict,
      { session: this.deps.session, details, records: this.deps.records, ...(checked.action !== undefined ? { action: checked.action } : {}), ...(completed !== undefined ? { completed } : {}) },
    );
  }

  /** The seq of the record queueKnown or recordKnown just appended (-1: the sink gave none). */
  get lastSeq(): number {
    return this.deps.gate.lastSeq;
  }

  /**
   * Audits a decision known() returned, as check() audits its own; a failed write denies. The
   * verdict at once when the record is written already (see Gate.recordKnown).
   */
  recordKnown(checked: CheckedStatement, details: Record<string, unknown>, completed?: CanonicalValue): Verdict | Promise<Verdict> {
    return this.deps.gate.recordKnown(
      { identity: this.deps.identity, target: this.deps.target, request: checked.facts, time: this.deps.clock.now() },
      checked.verdict,
      {
        session: this.deps.session,
        details,
        ...(this.deps.records ? { records: this.deps.records } : {}),
        ...(checked.action !== undefined ? { action: checked.action } : {}),
        ...(completed !== undefined ? { completed } : {}),
      },
    );
  }

  private async decideStatement(statement: StatementInfo, details: Record<string, unknown>, parameterTypes: readonly number[] | undefined, resolvedFetch: boolean): Promise<CheckedStatement> {
    // A FETCH whose cursor the session knows carries that cursor's query (statement-checker.ts)
    // and is masked as that query is; any other FETCH may read any cursor.
    const blindFetch = statement.node === "FetchStmt" && !resolvedFetch;
    const split = splitMarkers(statement.functions);
    const markers = split.markers;
    const info = split.functions === statement.functions ? statement : { ...statement, functions: split.functions };
    let facts = factsOf(info);
    let objects: StatementObjects = NO_OBJECTS;
    let columnNames: ReadonlySet<string> | null = null;
    try {
      const found = this.objectsOf(info, markers, parameterTypes?.filter((t) => t !== 0) ?? []);
      objects = found instanceof Promise ? await found : found;
      facts = withObjects(facts, objects);
      // A star or whole-row copy takes every column: which names do the statement's tables have?
      if (markers.copies.includes("*")) columnNames = await this.columnNames(facts.relations);
    } catch (e) {
      const message = `statement denied: the gateway cannot read the database catalog to look through views and functions: ${errorMessage(e)}`;
      return { facts, verdict: await this.refuse(facts, "builtin:catalog-unavailable", message, details), spec: null };
    }
    const adjust: StatementGateDeps["adjust"] =
      markers === NO_MARKERS ? this.deps.adjust : (d, a) => guardMarkers(this.deps.adjust(d, a), markers, a, objects, columnNames);
    const verdict = await this.decide(facts, details, adjust);
    if (verdict.allowed && info.defines !== undefined) this.remember(info.defines, facts);
    let masks: Masks = verdict.allowed ? verdict.masks : NO_MASKS;
    let unknownOrigin = false;
    if (verdict.allowed && blindFetch && this.cursorMasks !== null) {
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
    // A FETCH names a cursor, not what it reads; a user function hides the tables it reads.
    unknownOrigin ||= blindFetch || (facts.userFunctions?.length ?? 0) > 0;
    unknownOrigin ||= await this.readsMaskedTable(masks, facts.relations);
    masks = inheritedMasks(masks, objects.inherited);
    const trustOrigins = !info.classes.some((c) => ROW_WRITES.has(c));
    return { facts, verdict, spec: this.spec(masks, unknownOrigin, trustOrigins) };
  }

  /** Lower-cased names of the columns of these relations; null when one of them is unknown to the catalog. */
  private async columnNames(relations: readonly string[]): Promise<ReadonlySet<string> | null> {
    const out = new Set<string>();
    const cols = await this.deps.catalog.columnsOf(relations.filter((r) => !r.startsWith("pg_temp")));
    for (const t of cols.values()) {
      if (t === null) return null;
      for (const name of t.columns.values()) out.add(name.toLowerCase());
    }
    return out;
  }

  private remember(defines: NonNullable<StatementInfo["defines"]>, facts: PostgresRequestFacts): void {
    this.sessionVersion++;
    for (const f of defines.functions) this.defined.functions.add(f);
    // Added to what was defined before: two statements may attach to the same name (two partitions of one parent).
    for (const r of defines.relations) {
      const before = this.defined.relations.get(r);
      const relations = facts.relations.filter((x) => x !== r);
      this.defined.relations.set(r, {
        relations: before === undefined ? relations : [...new Set([...before.relations, ...relations])],
        functions: before === undefined ? facts.functions : [...new Set([...before.functions, ...facts.functions])],
      });
    }
    const code = [
      ...(defines.operators ?? []).map((o) => `op:${o}`),
      ...(defines.types ?? []).map((t) => `type:${t}`),
      ...(defines.writeHooks ?? []).map((r) => `write:${r}`),
    ];
    // The user functions the catalog found count too (the code a CREATE TABLE … LIKE copied).
    const attached = [...facts.functions, ...(facts.userFunctions ?? [])];
    if (attached.length === 0) return;
    const tempNames = (defines.writeHooks ?? []).filter(isTempRelation).map((r) => `write-temp:${bareName(r)}`);
    for (const k of [...code, ...tempNames]) this.defined.code.set(k, [...new Set([...(this.defined.code.get(k) ?? []), ...attached])]);
  }

  /** The statement's names looked up in the catalog: synchronous when all are cached. */
  private objectsOf(info: StatementInfo, markers: Markers, typeOids: readonly number[]): StatementObjects | Promise<StatementObjects> {
    if (info.relations.length === 0 && info.functions.length === 0 && markers.operators.length === 0 && markers.types.length === 0 && typeOids.length === 0) {
      return NO_OBJECTS;
    }
    const found = this.namedObjectsOf(info, markers, typeOids);
    if (markers.codeRelations.length === 0 && markers.codeTypes.length === 0) return found;
    // Code a new or altered table takes on (LIKE, INHERITS, PARTITION OF, its column types) runs
    // on its writes, which the gateway may never see as such (a temporary table): it counts as
    // called now, even by DDL, which otherwise only names objects.
    const later = this.laterCodeOf(markers);
    const merge = (o: StatementObjects, l: StatementObjects): StatementObjects => {
      if (l.userFunctions.length === 0 && l.functions.length === 0) return o;
      return {
        ...o,
        functions: [...new Set([...o.functions, ...l.functions])].sort(),
        userFunctions: [...new Set([...o.userFunctions, ...l.userFunctions])].sort(),
      };
    };
    if (found instanceof Promise || later instanceof Promise) return Promise.all([found, later]).then(([o, l]) => merge(o, l));
    return merge(found, later);
  }

  /** The user code a table takes on from the relations and types its code markers name (see markers.ts). */
  private laterCodeOf(markers: Markers): StatementObjects | Promise<StatementObjects> {
    const sessionCode = new Set<string>();
    const keys = [
      ...markers.codeRelations.flatMap((r) => [`write:${r}`, `write-temp:${bareName(r)}`]),
      ...markers.codeTypes.map((t) => `type:${t}`),
    ];
    for (const k of keys) for (const f of this.defined.code.get(k) ?? []) sessionCode.add(f);
    for (const r of markers.codeRelations) for (const f of this.defined.relations.get(r)?.functions ?? []) sessionCode.add(f);
    const calls = [...sessionCode];
    const user = calls.filter((f) => this.defined.functions.has(f));
    const found = this.deps.catalog.objectsOf(markers.codeRelations, calls, { types: markers.codeTypes, writes: true });
    const add = (o: StatementObjects): StatementObjects => ({
      ...o,
      functions: [...new Set([...o.functions, ...calls])].sort(),
      userFunctions: [...new Set([...o.userFunctions, ...user])].sort(),
    });
    return found instanceof Promise ? found.then(add) : add(found);
  }

  private namedObjectsOf(info: StatementInfo, markers: Markers, typeOids: readonly number[]): StatementObjects | Promise<StatementObjects> {
    const named = info.functionObjects;
    const calls = named === undefined ? info.functions : info.functions.filter((f) => !named.includes(f));
    const extra = {
      ...(info.only !== undefined ? { only: info.only } : {}),
      ...(markers.operators.length > 0 ? { operators: markers.operators } : {}),
      ...(markers.types.length > 0 ? { types: markers.types } : {}),
      ...(typeOids.length > 0 ? { typeOids } : {}),
      ...(info.classes.some((c) => FIRES_TRIGGERS.has(c)) ? { writes: true } : {}),
    };
    let found: StatementObjects | Promise<StatementObjects>;
    if (this.defined.functions.size === 0 && this.defined.relations.size === 0 && this.defined.code.size === 0) {
      found = this.deps.catalog.objectsOf(info.relations, calls, extra);
    } else {
      // What this session defined stands in for what the catalog may not show yet.
      const extraRelations = new Set<string>();
      const extraFunctions = new Set<string>();
      for (const r of info.relations) {
        const d = this.defined.relations.get(r);
        if (d === undefined) continue;
        for (const x of d.relations) if (!info.relations.includes(x)) extraRelations.add(x);
        for (const f of d.functions) if (!calls.includes(f)) extraFunctions.add(f);
      }
      const uses = [
        ...markers.operators.map((o) => `op:${o}`),
        ...markers.types.map((t) => `type:${t}`),
        ...(extra.writes === true ? info.relations.map((r) => `write:${r}`) : []),
        // A write to a temporary table this session made, or through a view over one, runs the
        // code it was made with, whatever schema the statement's name resolves to for the gateway.
        ...(extra.writes === true ? [...info.relations, ...extraRelations].map((r) => `write-temp:${bareName(r)}`) : []),
      ];
      for (const k of uses) for (const f of this.defined.code.get(k) ?? []) if (!calls.includes(f)) extraFunctions.add(f);
      const allCalls = extraFunctions.size === 0 ? calls : [...calls, ...extraFunctions];
      const user = allCalls.filter((f) => this.defined.functions.has(f));
      const fromCatalog = this.deps.catalog.objectsOf([...info.relations, ...extraRelations], allCalls, extra);
      const add = (o: StatementObjects): StatementObjects => {
        if (extraRelations.size === 0 && extraFunctions.size === 0 && user.length === 0) return o;
        const bases = new Set([...o.bases, ...extraRelations]);
        const functions = new Set([...o.functions, ...extraFunctions]);
        return {
          ...o,
          bases: [...bases].sort(),
          functions: [...functions].sort(),
          userFunctions: [...new Set([...o.userFunctions, ...user])].sort(),
        };
      };
      found = fromCatalog instanceof Promise ? fromCatalog.then(add) : add(fromCatalog);
    }
    if (!info.classes.every(namesOnly)) return found;
    // DDL on a view (DROP VIEW v, ALTER, GRANT, COMMENT) does not run what the view runs.
    const strip = (o: StatementObjects): StatementObjects =>
      o.functions.length === 0 && o.userFunctions.length === 0 ? o : { ...o, functions: [], userFunctions: o.userFunctions.filter((f) => calls.includes(f)) };
    return found instanceof Promise ? found.then(strip) : strip(found);
  }

  /** Audits a refusal that is not the policy's and returns its verdict (always a deny). */
  async refuse(facts: PostgresRequestFacts, rule: string, message: string, details: Record<string, unknown>): Promise<Verdict> {
    const forced: Decision = { effect: "deny", rule, message, masks: NO_MASKS };
    return await this.decide(facts, details, () => forced);
  }

  /** A DECLARE CURSOR with masks ran: its masks now apply to every FETCH of the session. */
  rememberCursor(spec: MaskSpec, masks: Masks): void {
    this.sessionVersion++;
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
        { session: this.deps.session, details, adjust, onHold: this.deps.onHold, signal: hold.signal, ...(this.deps.records ? { records: this.deps.records } : {}) },
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

  private spec(masks: Masks, unknownOrigin: boolean, trustOrigins: boolean): MaskSpec {
    const key = `${unknownOrigin ? 1 : 0}${trustOrigins ? 1 : 0}${JSON.stringify(masks.columns)}${JSON.stringify(masks.detectors)}`;
    let s = this.specs.get(key);
    if (s === undefined) {
      s = compileMaskSpec(masks, unknownOrigin, this.deps.compileDetectors, trustOrigins);
      if (this.specs.size > 100) this.specs.clear();
      this.specs.set(key, s);
    }
    return s;
  }
}

function isTempRelation(name: string): boolean {
  const schema = splitQualified(name)?.[0];
  return schema !== undefined && (schema === "pg_temp" || /^pg_temp_[0-9]+$/.test(schema));
}

/** The relation part of "schema.name". */
function bareName(name: string): string {
  return splitQualified(name)?.[1] ?? name;
}

/** Classes of statements that name objects without running them. */
export function namesOnly(c: string): boolean {
  return c.startsWith("ddl.") || c === "grant" || c === "revoke" || c === "comment" || c === "security_label";
}

/** The facts with what the catalog found behind the names: base relations, the functions views run, user functions. */
function withObjects(facts: PostgresRequestFacts, o: StatementObjects): PostgresRequestFacts {
  if (o === NO_OBJECTS) return facts;
  return {
    ...facts,
    relations: o.bases.length === 0 ? facts.relations : [...facts.relations, ...o.bases],
    functions: o.functions.length === 0 ? facts.functions : [...facts.functions, ...o.functions],
    ...(o.userFunctions.length > 0 ? { userFunctions: o.userFunctions } : {}),
  };
}

/**
 * An origin mask on an inheritance child or partition (hr.staff.note) reached through its parent:
 * the parent's scan reports the parent as the origin, so the column is masked by its name too.
 */
function inheritedMasks(masks: Masks, inherited: readonly string[] | undefined): Masks {
  if (inherited === undefined || inherited.length === 0) return masks;
  const children = new Set(inherited.map((r) => r.toLowerCase()));
  const extra: string[] = [];
  for (const c of masks.columns) {
    const parts = c.toLowerCase().split(".");
    if (parts.length >= 3 && children.has(parts.slice(0, -1).join("."))) extra.push(parts[parts.length - 1]!);
  }
  return extra.length === 0 ? masks : { ...masks, columns: [...new Set([...masks.columns, ...extra])] };
}
