// What one statement's walk has found so far: its classes, the relations and functions it
// names, the objects it defines, its setting changes and session facts, and where the rows it
// writes take their values from. The recorders here resolve each name to every object it may
// mean under the search path; finish() turns the whole into the statement's StatementInfo. The
// walk that feeds them lives in query-walker.ts and analyze-statement.ts.
import { bool, list, obj, str, stringList, type Fields } from "./ast.ts";
import type { AnalysisContext, CopyFacts, SettingChange, StatementInfo } from "./analysis.ts";
import { Literals } from "./literals.ts";
import { objectReference, splitQualified } from "./object-names.ts";
import { functionCandidates, qualifiedName, relationCandidates } from "./name-resolution.ts";
import { CopySources } from "./copy-sources.ts";
import { marker } from "./markers.ts";
import { isUtilityStatement } from "./statement-classes.ts";

/** Where in the tree the walk is: what the statement's parts there do and name. */
export interface Env {
  /** CTE names visible here; an unqualified table name in this set is the CTE, not a table. */
  readonly ctes: ReadonlySet<string>;
  /** False inside parts that do not run now (view, rule, policy and function bodies; plain EXPLAIN). */
  readonly runs: boolean;
  /**
   * Inside the definition of an object (view, rule, policy, function body): a call there runs
   * later, under whoever uses the object, so it names the function rather than calls it.
   */
  readonly stored?: boolean;
  /**
   * Column references here are not copied into written rows: the WHERE of an UPDATE or DELETE
   * and RETURNING (read, and masked, like any result) do not collect them.
   */
  readonly noCopy?: boolean;
}

/**
 * SQL/JSON syntax (PostgreSQL 16 to 18) that the gateway's parser (PostgreSQL 18) reads as its
 * own node, where an older server reads a plain call of a function of that name, which may be a
 * user's (public.json_scalar). The names count as called, so a user function by that name is
 * found in the catalog and denied like any other.
 */
export const NEWER_SYNTAX_FUNCTIONS: Readonly<Record<string, readonly string[]>> = {
  JsonScalarExpr: ["json_scalar"],
  JsonSerializeExpr: ["json_serialize"],
  JsonParseExpr: ["json"],
  JsonObjectConstructor: ["json_object"],
  JsonArrayConstructor: ["json_array"],
  JsonArrayQueryConstructor: ["json_array"],
  JsonObjectAgg: ["json_objectagg"],
  JsonArrayAgg: ["json_arrayagg"],
  JsonFuncExpr: ["json_exists", "json_query", "json_value"],
  JsonTable: ["json_table"],
  MergeSupportFunc: ["merge_action"],
};
/** Comparison operators BETWEEN stands for. */
const BETWEEN_OPERATORS = ["<", "<=", ">", ">="];
export const DML_CLASS: Readonly<Record<string, string>> = {
  InsertStmt: "insert",
  UpdateStmt: "update",
  DeleteStmt: "delete",
  MergeStmt: "merge",
};

export class StatementFacts {
  readonly classes = new Set<string>();
  readonly relations = new Set<string>();
  readonly functions = new Set<string>();
  /** Functions named as the object of DDL (CREATE/ALTER/DROP/COMMENT/GRANT … FUNCTION, a trigger's function): not run now. */
  readonly functionObjects = new Set<string>();
  /** Functions reached through a call (FuncCall, CALL). */
  readonly calledFunctions = new Set<string>();
  /** Names the statement creates or renames something into (see StatementInfo.defines). */
  readonly definedFunctions = new Set<string>();
  readonly definedRelations = new Set<string>();
  readonly definedOperators = new Set<string>();
  readonly definedTypes = new Set<string>();
  readonly writeHooks = new Set<string>();
  readonly sets: SettingChange[] = [];
  readonly literals = new Literals();
  /** Relations named with inheritance (the default) and with ONLY. */
  private readonly inherited = new Set<string>();
  private readonly onlyNamed = new Set<string>();
  /** Where the values of the rows it writes may come from (for the gate's masked-copy check). */
  protected readonly copies = new CopySources();
  /** Set by casts like 'x'::regclass (a literal naming an object, unread) and by nested walkers. */
  protected literalDependent = false;
  prepares?: { name: string; inner: StatementInfo };
  executes?: string;
  fetches?: string;
  closes?: string | null;
  deallocates?: string | null;
  listen?: string;
  notify?: string;
  copy?: CopyFacts;

  constructor(protected readonly ctx: AnalysisContext) {}

  get constantDependent(): boolean {
    return this.literals.read || this.literalDependent;
  }

  finish(node: string, text: string): StatementInfo {
    if (!isUtilityStatement(node) && !(node in DML_CLASS) && node !== "SelectStmt") this.classes.add(`other.${node}`);
    if (this.classes.size === 0) this.classes.add(`other.${node}`);
    for (const m of this.copies.markers()) this.functions.add(m);
    const only = [...this.onlyNamed].filter((r) => !this.inherited.has(r)).sort();
    return {
      classes: [...this.classes].sort(),
      relations: [...this.relations].sort(),
      functions: [...this.functions].sort(),
      text,
      node,
      ...this.objectOnlyFunctions(),
      ...(only.length > 0 ? { only } : {}),
      ...this.defines(),
      ...(this.sets.length > 0 ? { sets: this.sets } : {}),
      ...(this.prepares !== undefined ? { prepares: this.prepares } : {}),
      ...(this.executes !== undefined ? { executes: this.executes } : {}),
      ...(this.fetches !== undefined ? { fetches: this.fetches } : {}),
      ...(this.closes !== undefined ? { closes: this.closes } : {}),
      ...(this.deallocates !== undefined ? { deallocates: this.deallocates } : {}),
      ...(this.listen !== undefined ? { listen: this.listen } : {}),
      ...(this.notify !== undefined ? { notify: this.notify } : {}),
      ...(this.copy !== undefined ? { copy: this.copy } : {}),
    };
  }

  private defines(): { defines?: NonNullable<StatementInfo["defines"]> } {
    const n = this.definedFunctions.size + this.definedRelations.size + this.definedOperators.size + this.definedTypes.size + this.writeHooks.size;
    if (n === 0) return {};
    const sorted = (x: Set<string>) => [...x].sort();
    return {
      defines: {
        functions: sorted(this.definedFunctions),
        relations: sorted(this.definedRelations),
        ...(this.definedOperators.size > 0 ? { operators: sorted(this.definedOperators) } : {}),
        ...(this.definedTypes.size > 0 ? { types: sorted(this.definedTypes) } : {}),
        ...(this.writeHooks.size > 0 ? { writeHooks: sorted(this.writeHooks) } : {}),
      },
    };
  }

  /** Functions only named as DDL objects, never called: the catalog check of user functions skips them. */
  private objectOnlyFunctions(): { functionObjects?: readonly string[] } {
    if (this.functionObjects.size === 0) return {};
    const only = [...this.functionObjects].filter((f) => !this.calledFunctions.has(f)).sort();
    return only.length > 0 ? { functionObjects: only } : {};
  }

  protected absorb(other: StatementFacts): void {
    for (const c of other.classes) this.classes.add(c);
    for (const r of other.relations) this.relations.add(r);
    for (const fn of other.functions) this.functions.add(fn);
    for (const fn of other.functionObjects) this.functionObjects.add(fn);
    for (const fn of other.calledFunctions) this.calledFunctions.add(fn);
    for (const fn of other.definedFunctions) this.definedFunctions.add(fn);
    for (const r of other.definedRelations) this.definedRelations.add(r);
    for (const r of other.definedOperators) this.definedOperators.add(r);
    for (const r of other.definedTypes) this.definedTypes.add(r);
    for (const r of other.writeHooks) this.writeHooks.add(r);
    for (const r of other.inherited) this.inherited.add(r);
    for (const r of other.onlyNamed) this.onlyNamed.add(r);
    this.copies.absorb(other.copies);
    this.literalDependent ||= other.constantDependent;
  }

  protected addClass(env: Env, ...classes: readonly string[]): void {
    if (!env.runs) return;
    for (const c of classes) this.classes.add(c);
  }

  // --- relations -----------------------------------------------------------------------------

  /** `target`: the table a DML statement or SELECT INTO writes; never a CTE, whatever its name. */
  protected rangeVar(f: Fields, env: Env, target: boolean): void {
    const relname = str(f, "relname");
    if (relname === undefined) return;
    const schema = str(f, "schemaname");
    this.copies.range(relname);
    this.copies.alias(obj(f, "alias"));
    if (schema === undefined && !target && env.ctes.has(relname)) return;
    if (schema === undefined && str(f, "relpersistence") === "t") {
      this.relations.add(qualifiedName("pg_temp", relname)); // CREATE TEMP TABLE / SELECT INTO TEMP
      return;
    }
    // PostgreSQL's grammar sets inh on every RangeVar but those after ONLY: without it, a
    // scan (or write) reaches the relation's inheritance children and partitions too.
    const inh = bool(f, "inh");
    for (const r of relationCandidates(schema, relname, this.ctx)) {
      this.relations.add(r);
      (inh ? this.inherited : this.onlyNamed).add(r);
    }
  }

  /** A name list (["t"], ["s","t"], ["db","s","t"]) naming a relation. */
  protected relationFromNames(names: readonly string[] | null): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const r of relationCandidates(schema, name, this.ctx)) this.relations.add(r);
  }

  // --- what the statement defines --------------------------------------------------------------

  protected typeDefined(names: readonly string[] | null): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const c of functionCandidates(schema, name, this.ctx)) this.definedTypes.add(c);
  }

  /** A relation whose writes will run code this statement attaches (a trigger, a default, a constraint). */
  protected hookWrites(rv: Fields | undefined): void {
    const relname = rv === undefined ? undefined : str(rv, "relname");
    if (relname === undefined) return;
    const schema = rv === undefined ? undefined : str(rv, "schemaname");
    // CREATE TEMP TABLE t: the session's own pg_temp.t, which later statements name as plain t.
    if (schema === undefined && rv !== undefined && str(rv, "relpersistence") === "t") this.writeHooks.add(qualifiedName("pg_temp", relname));
    for (const r of relationCandidates(schema, relname, this.ctx)) this.writeHooks.add(r);
  }

  /** A function this statement creates: where it may land, per the search path. */
  protected defineFunction(names: readonly string[] | null, newSchema?: string, newName?: string): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    const s = newSchema ?? schema;
    for (const c of functionCandidates(s, newName ?? name, this.ctx)) this.definedFunctions.add(c);
  }

  /** A relation this statement creates (a view, a rule's table, CREATE TABLE/MATERIALIZED VIEW AS). */
  protected defineRelation(rv: Fields | undefined, newSchema?: string, newName?: string): void {
    const relname = newName ?? (rv === undefined ? undefined : str(rv, "relname"));
    if (relname === undefined) return;
    const schema = newSchema ?? (rv === undefined ? undefined : str(rv, "schemaname"));
    for (const r of relationCandidates(schema, relname, this.ctx)) this.definedRelations.add(r);
  }

  // --- functions, operators and types ----------------------------------------------------------

  /** An operator by its name list (["="], ["public", "==="]): a marker per schema it may resolve in. */
  protected operator(nameList: readonly unknown[], kind?: string): void {
    const names = stringList(nameList);
    if (names === null || names.length === 0) return;
    if (kind !== undefined && kind.includes("BETWEEN")) {
      for (const op of BETWEEN_OPERATORS) for (const c of functionCandidates(undefined, op, this.ctx)) this.functions.add(marker("op", c));
      return;
    }
    const { schema, name } = splitQualified(names);
    for (const c of functionCandidates(schema, name, this.ctx)) this.functions.add(marker("op", c));
  }

  /** A type the statement converts values to: its casts, input functions and domain checks run. */
  typeName(t: Fields | undefined): void {
    if (t === undefined) return;
    const names = stringList(list(t, "names"));
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const c of functionCandidates(schema, name, this.ctx)) this.functions.add(marker("type", c));
  }

  /**
   * A relation whose code (defaults, CHECKs, generated columns, indexes, triggers, column types)
   * a table takes on through LIKE, INHERITS or PARTITION OF: it runs on that table's writes,
   * which the gateway may not see as writes of this relation (a temporary table), so it counts now.
   */
  protected codeFromRelation(rv: Fields | undefined): void {
    const relname = rv === undefined ? undefined : str(rv, "relname");
    if (relname === undefined) return;
    for (const r of relationCandidates(rv === undefined ? undefined : str(rv, "schemaname"), relname, this.ctx)) this.functions.add(marker("code-rel", r));
  }

  /** A column type a table declares (or OF <type>): its domain CHECKs and input functions run on the table's writes. */
  protected codeFromType(t: Fields | undefined): void {
    if (t === undefined) return;
    const names = stringList(list(t, "names"));
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const c of functionCandidates(schema, name, this.ctx)) this.functions.add(marker("code-type", c));
  }

  /** SQL/JSON syntax an older server reads as a function call: those names count as called. */
  protected newerSyntax(node: string): void {
    for (const fn of NEWER_SYNTAX_FUNCTIONS[node] ?? []) this.functionFromNames([fn]);
  }

  protected functionName(nameList: readonly unknown[], asObject = false): void {
    this.functionFromNames(stringList(nameList), asObject);
  }

  /** asObject: the statement names the function as the object of DDL and does not call it. */
  protected functionFromNames(names: readonly string[] | null, asObject = false): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    const into = asObject ? this.functionObjects : this.calledFunctions;
    for (const c of functionCandidates(schema, name, this.ctx)) {
      this.functions.add(c);
      into.add(c);
    }
  }

  /** The object of DROP / COMMENT ON / ALTER … RENAME / OWNER / SET SCHEMA, when it is a function or a relation. */
  protected objectReference(type: string, object: unknown): void {
    const ref = objectReference(type, object);
    if (ref?.kind === "function") this.functionFromNames(ref.names, true);
    else if (ref?.kind === "relation") this.relationFromNames(ref.names);
  }
}
