// One parsed statement → its StatementInfo: a walk over the whole tree that collects every
// relation (RangeVar) and function call wherever it appears, resolves CTE names by scope, and
// derives the classes from the statement nodes it meets. Unknown nodes are walked too, so a
// relation inside a construct we never heard of is still reported.
import { GatewayError } from "../../../core/errors.ts";
import { bool, field, isFields, list, obj, objectTypeName, str, stringList, wrappedNode, type Fields } from "./ast.ts";
import type { AnalysisContext, CopyFacts, SettingChange, StatementInfo } from "./analysis.ts";
import { Literals } from "./literals.ts";
import { FUNCTION_OBJECTS, functionObjectNames, objectReference, splitQualified } from "./object-names.ts";
import { functionCandidates, qualifiedName, relationCandidates, splitIdentifierString } from "./name-resolution.ts";
import { CopySources } from "./copy-sources.ts";
import { marker } from "./markers.ts";
import { lexicallySafe, LEXICAL_SETTINGS, setConfigCall, setStatementChange, settingFunction } from "./setting-changes.ts";
import { isUtilityStatement, utilityClasses } from "./statement-classes.ts";

export interface StatementAnalysis {
  readonly info: StatementInfo;
  /**
   * True when the analysis read the value of a literal constant (A_Const): set_config's
   * arguments, SET values, nextval('seq') … Only analyses that read none may be reused for a
   * statement that differs in its constants (see analysis-cache.ts).
   */
  readonly constantDependent: boolean;
}

interface Env {
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

const TOP: Env = { ctes: new Set(), runs: true };

/** Functions whose first argument names a sequence as text. */
const SEQUENCE_FUNCTIONS = new Set(["nextval", "currval", "setval", "pg_sequence_last_value"]);
/** Those that move the sequence: a write of it, so read-only rules do not allow them. */
const SEQUENCE_WRITERS = new Set(["nextval", "setval"]);
/**
 * SQL/JSON syntax (PostgreSQL 16 to 18) that the gateway's parser (PostgreSQL 18) reads as its
 * own node, where an older server reads a plain call of a function of that name, which may be a
 * user's (public.json_scalar). The names count as called, so a user function by that name is
 * found in the catalog and denied like any other.
 */
const NEWER_SYNTAX_FUNCTIONS: Readonly<Record<string, readonly string[]>> = {
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
/** Casts that turn a string into an object reference. */
const REG_TYPES = new Set([
  "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype",
  "regnamespace", "regrole", "regconfig", "regdictionary", "regcollation",
]);
const DML_CLASS: Readonly<Record<string, string>> = {
  InsertStmt: "insert",
  UpdateStmt: "update",
  DeleteStmt: "delete",
  MergeStmt: "merge",
};
const MERGE_ACTION_CLASS: Readonly<Record<string, string>> = { CMD_INSERT: "insert", CMD_UPDATE: "update", CMD_DELETE: "delete" };

export function analyzeStatement(stmt: unknown, text: string, ctx: AnalysisContext): StatementAnalysis {
  const top = wrappedNode(stmt);
  if (top === null) throw new GatewayError("E_INTERNAL", "parser returned a statement that is not a node");
  const w = new Walker(ctx);
  w.statement(top.name, top.fields);
  return { info: w.finish(top.name, text), constantDependent: w.constantDependent };
}

class Walker {
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
  private readonly copies = new CopySources();
  /** Set by casts like 'x'::regclass (a literal naming an object, unread) and by nested walkers. */
  private literalDependent = false;
  prepares?: { name: string; inner: StatementInfo };
  executes?: string;
  deallocates?: string | null;
  listen?: string;
  notify?: string;
  copy?: CopyFacts;

  constructor(private readonly ctx: AnalysisContext) {}

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

  private absorb(other: Walker): void {
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

  private addClass(env: Env, ...classes: readonly string[]): void {
    if (!env.runs) return;
    for (const c of classes) this.classes.add(c);
  }

  /** The top of a statement: a query on its own reads, even a bare VALUES list. */
  statement(name: string, f: Fields): void {
    if (name === "SelectStmt") this.select(f, TOP, true);
    else this.node(name, f, TOP);
  }

  visit(v: unknown, env: Env): void {
    if (Array.isArray(v)) {
      for (const item of v) this.visit(item, env);
      return;
    }
    if (!isFields(v)) return;
    const n = wrappedNode(v);
    if (n !== null) {
      this.node(n.name, n.fields, env);
      return;
    }
    // An unwrapped struct. Only RangeVar has a relname in a raw parse tree.
    if (typeof v["relname"] === "string") {
      this.rangeVar(v, env, false);
      return;
    }
    this.children(v, env);
  }

  private children(f: Fields, env: Env, skip?: ReadonlySet<string>): void {
    for (const key in f) {
      if (skip !== undefined && skip.has(key)) continue;
      const v = f[key];
      if (typeof v === "object" && v !== null) this.visit(v, env);
    }
  }

  node(name: string, f: Fields, env: Env): void {
    switch (name) {
      case "A_Const":
        return; // its value is read only through constant(), which records that it was
      case "RangeVar":
        return this.rangeVar(f, env, false);
      case "SelectStmt":
        return this.select(f, env, false);
      case "InsertStmt":
      case "UpdateStmt":
      case "DeleteStmt":
      case "MergeStmt":
        return this.dml(name, f, env);
      case "FuncCall":
        return this.funcCall(f, env);
      case "TypeCast":
        return this.typeCast(f, env);
      case "ColumnRef":
        return this.columnRef(f, env);
      case "A_Expr":
        this.operator(list(f, "name"), str(f, "kind"));
        return this.children(f, env, NAME_KEY);
      case "SubLink":
        this.operator(list(f, "operName"));
        return this.children(f, env, new Set(["operName"]));
      case "SortBy":
        this.operator(list(f, "useOp"));
        return this.children(f, env, new Set(["useOp"]));
      case "ColumnDef":
        // A column's default and generation expressions run later, on writes: they name
        // functions but add no class (nextval in a DEFAULT does not make CREATE TABLE a write).
        return this.children(f, { ...env, runs: false });
      case "RangeSubselect":
      case "RangeFunction":
      case "RangeTableFunc":
      case "JsonTable": {
        const alias = str(obj(f, "alias") ?? {}, "aliasname");
        if (alias !== undefined) this.copies.range(alias);
        if (name === "JsonTable") this.newerSyntax(name);
        return this.children(f, env);
      }
      case "JoinExpr":
        this.copies.alias(obj(f, "alias"));
        return this.children(f, env);
      case "DefineStmt":
      case "CreateCastStmt":
      case "CreateDomainStmt":
      case "AlterDomainStmt":
      case "CreateStmt":
      case "AlterTableStmt":
        this.definesImplicitCode(name, f);
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        return this.children(f, env);
      case "AlterRoleSetStmt":
      case "AlterDatabaseSetStmt":
      case "AlterSystemStmt": {
        // Defaults for later sessions, not a change of this one; a lexical setting still counts.
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        const set = obj(f, "setstmt");
        if (set !== undefined) {
          const change = setStatementChange(set, this.literals);
          const kind = str(set, "kind");
          if (LEXICAL_SETTINGS.has(change.name) && kind !== "VAR_RESET" && kind !== "VAR_RESET_ALL" && !lexicallySafe(change.name, change.value)) {
            this.functions.add(settingFunction(change.name));
          }
        }
        return this.children(f, env, new Set(["setstmt"]));
      }
      case "CallStmt": {
        this.addClass(env, "procedural");
        const call = obj(f, "funccall");
        if (call !== undefined) this.funcCall(call, env);
        return;
      }
      case "ExplainStmt":
        return this.explain(f, env);
      case "PrepareStmt":
        return this.prepare(f, env);
      case "DoStmt":
        // The body is code the gateway cannot see into (dynamic EXECUTE included): it may call
        // any function and run any statement. A pseudo function names it, so that the default
        // deny list holds unless a rule allows DO blocks by name.
        this.addClass(env, "procedural");
        this.functions.add(`pg_catalog.do(${doLanguage(f)})`);
        return;
      case "DeallocateStmt":
        this.addClass(env, "deallocate");
        // PostgreSQL 18's tree marks DEALLOCATE ALL with isall; older ones leave the name out.
        if (env.runs) this.deallocates = bool(f, "isall") || str(f, "name") === undefined ? null : (str(f, "name") ?? null);
        return;
      case "ExecuteStmt":
        this.addClass(env, "execute");
        this.executes = str(f, "name") ?? "";
        return this.visit(field(f, "params"), env);
      case "CopyStmt":
        return this.copyStmt(f, env);
      case "VariableSetStmt":
        return this.setStmt(f, env);
      case "DiscardStmt":
        this.addClass(env, "discard");
        if (env.runs && str(f, "target") === "DISCARD_ALL") this.sets.push({ name: "all", value: null, local: false });
        return;
      case "ListenStmt":
        this.addClass(env, "listen");
        this.listen = str(f, "conditionname") ?? "";
        return;
      case "NotifyStmt":
        this.addClass(env, "notify");
        this.notify = str(f, "conditionname") ?? "";
        return;
      case "DropStmt":
        return this.drop(f, env);
      case "CreateTableAsStmt": {
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        if (env.runs) this.copies.writes = true;
        // CREATE TABLE … AS EXECUTE p copies whatever p selects, which this statement does not show.
        if (wrappedNode(field(f, "query"))?.name === "ExecuteStmt") this.copies.wholeRows();
        const rel = obj(obj(f, "into") ?? {}, "rel");
        if (rel !== undefined) {
          this.rangeVar(rel, env, true);
          this.defineRelation(rel);
        }
        return this.visit(field(f, "query"), env);
      }
      case "ViewStmt":
      case "RuleStmt":
      case "CreatePolicyStmt":
      case "AlterPolicyStmt":
        // Their queries and conditions run later, under whoever uses the object: relations
        // and functions count now, classes do not.
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        if (name === "ViewStmt" || name === "RuleStmt") this.defineRelation(obj(f, name === "ViewStmt" ? "view" : "relation"));
        return this.children(f, { ...env, runs: false, stored: true });
      case "CreateFunctionStmt":
      case "CreateTrigStmt":
      case "CreateEventTrigStmt": {
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        this.functionName(list(f, "funcname"), true);
        if (name === "CreateFunctionStmt") this.defineFunction(stringList(list(f, "funcname")));
        if (name === "CreateTrigStmt") this.hookWrites(obj(f, "relation"));
        return this.children(f, { ...env, runs: false, stored: true }, new Set(["funcname"]));
      }
      case "AlterFunctionStmt":
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        return this.functionFromNames(functionObjectNames(field(f, "func")), true);
      case "GrantStmt": {
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        const type = objectTypeName(f["objtype"]);
        if (str(f, "targtype") === "ACL_TARGET_OBJECT" && type !== undefined && FUNCTION_OBJECTS.has(type)) {
          for (const o of list(f, "objects")) this.functionFromNames(functionObjectNames(o), true);
          return;
        }
        // Tables and sequences come as RangeVar; schemas, databases, roles … as plain names.
        return this.visit(field(f, "objects"), env);
      }
      case "CommentStmt":
      case "SecLabelStmt":
      case "AlterObjectSchemaStmt":
      case "AlterOwnerStmt":
      case "AlterObjectDependsStmt":
      case "RenameStmt": {
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        const type = objectTypeName(f["objtype"] ?? f["objectType"] ?? f["renameType"]);
        if (type !== undefined) this.objectReference(type, field(f, "object"));
        if (type !== undefined && (name === "RenameStmt" || name === "AlterObjectSchemaStmt")) this.defineMoved(type, f);
        return this.children(f, env, new Set(["object"]));
      }
      case "CreateSchemaStmt": {
        this.addClass(env, "ddl.create.schema");
        // PostgreSQL puts the new schema first on the search path while it creates the elements.
        const schema = str(f, "schemaname") ?? str(obj(f, "authrole") ?? {}, "rolename");
        if (schema === undefined) return this.visit(field(f, "schemaElts"), env);
        const sub = new Walker({ ...this.ctx, searchPath: [schema, ...this.ctx.searchPath] });
        sub.visit(field(f, "schemaElts"), env);
        return this.absorb(sub);
      }
      case "DeclareCursorStmt":
        this.addClass(env, "declare_cursor");
        return this.visit(field(f, "query"), env);
      default: {
        if (name in NEWER_SYNTAX_FUNCTIONS) this.newerSyntax(name);
        const classes = utilityClasses(name, f);
        if (classes !== undefined) this.addClass(env, ...classes);
        return this.children(f, env);
      }
    }
  }

  // --- relations and CTE scope ------------------------------------------------------------

  /** `target`: the table a DML statement or SELECT INTO writes; never a CTE, whatever its name. */
  private rangeVar(f: Fields, env: Env, target: boolean): void {
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

  /**
   * DDL that attaches code later statements run without naming it, or gives a table children:
   * what it defines (StatementInfo.defines), so that a statement sent behind it counts it.
   */
  private definesImplicitCode(name: string, f: Fields): void {
    switch (name) {
      case "DefineStmt": {
        const kind = str(f, "kind");
        const names = stringList(list(f, "defnames"));
        if (names === null || names.length === 0) return;
        const { schema, name: object } = splitQualified(names);
        if (kind === "OBJECT_OPERATOR") {
          for (const c of functionCandidates(schema, object, this.ctx)) this.definedOperators.add(c);
          // FUNCTION = f (and RESTRICT, JOIN) come as type names.
          for (const d of list(f, "definition")) {
            const el = wrappedNode(d);
            if (el === null || !["function", "procedure", "restrict", "join"].includes(str(el.fields, "defname") ?? "")) continue;
            const t = wrappedNode(el.fields["arg"]);
            if (t !== null && t.name === "TypeName") this.functionFromNames(stringList(list(t.fields, "names")), true);
          }
        } else if (kind === "OBJECT_TYPE") {
          for (const c of functionCandidates(schema, object, this.ctx)) this.definedTypes.add(c);
        }
        return;
      }
      case "CreateCastStmt": {
        this.typeDefined(stringList(list(obj(f, "targettype") ?? {}, "names")));
        const fn = obj(f, "func");
        if (fn !== undefined) this.functionFromNames(stringList(list(fn, "objname")), true);
        return;
      }
      case "CreateDomainStmt":
        return this.typeDefined(stringList(list(f, "domainname")));
      case "AlterDomainStmt":
        return this.typeDefined(stringList(list(f, "typeName")));
      case "CreateStmt":
        // CREATE TABLE … PARTITION OF p / INHERITS (p): p's scans reach the new table.
        for (const p of list(f, "inhRelations")) this.defineRelation(wrappedNode(p)?.fields);
        return;
      case "AlterTableStmt":
        for (const c of list(f, "cmds")) {
          const cmd = wrappedNode(c)?.fields ?? {};
          const sub = str(cmd, "subtype") ?? "";
          if (sub === "AT_AddInherit") this.defineRelation(wrappedNode(cmd["def"])?.fields);
          else if (sub === "AT_AttachPartition") this.defineRelation(obj(f, "relation"));
          else if (WRITE_HOOK_COMMANDS.has(sub) || sub.startsWith("AT_Enable")) this.hookWrites(obj(f, "relation"));
        }
        return;
    }
  }

  private typeDefined(names: readonly string[] | null): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const c of functionCandidates(schema, name, this.ctx)) this.definedTypes.add(c);
  }

  /** A relation whose writes will run code this statement attaches (a trigger, a default, a constraint). */
  private hookWrites(rv: Fields | undefined): void {
    const relname = rv === undefined ? undefined : str(rv, "relname");
    if (relname === undefined) return;
    for (const r of relationCandidates(rv === undefined ? undefined : str(rv, "schemaname"), relname, this.ctx)) this.writeHooks.add(r);
  }

  /** A function this statement creates: where it may land, per the search path. */
  private defineFunction(names: readonly string[] | null, newSchema?: string, newName?: string): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    const s = newSchema ?? schema;
    for (const c of functionCandidates(s, newName ?? name, this.ctx)) this.definedFunctions.add(c);
  }

  /** A relation this statement creates (a view, a rule's table, CREATE TABLE/MATERIALIZED VIEW AS). */
  private defineRelation(rv: Fields | undefined, newSchema?: string, newName?: string): void {
    const relname = newName ?? (rv === undefined ? undefined : str(rv, "relname"));
    if (relname === undefined) return;
    const schema = newSchema ?? (rv === undefined ? undefined : str(rv, "schemaname"));
    for (const r of relationCandidates(schema, relname, this.ctx)) this.definedRelations.add(r);
  }

  /** ALTER … RENAME TO / SET SCHEMA of a function or relation: the name it will have. */
  private defineMoved(type: string, f: Fields): void {
    const newName = str(f, "newname");
    const newSchema = str(f, "newschema");
    if (newName === undefined && newSchema === undefined) return;
    if (FUNCTION_OBJECTS.has(type)) return this.defineFunction(functionObjectNames(field(f, "object")), newSchema, newName);
    if (!MOVABLE_RELATIONS.has(type)) return; // a column, a constraint …: the relation keeps its name
    const rv = obj(f, "relation");
    if (rv !== undefined) this.defineRelation(rv, newSchema, newName);
  }

  /** A name list (["t"], ["s","t"], ["db","s","t"]) naming a relation. */
  private relationFromNames(names: readonly string[] | null): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    for (const r of relationCandidates(schema, name, this.ctx)) this.relations.add(r);
  }

  /**
   * WITH: returns the scope for the statement body. Without RECURSIVE a CTE sees only the ones
   * before it (a reference to its own name inside it is the real table); with RECURSIVE all.
   */
  private enterWith(withClause: Fields | undefined, env: Env): Env {
    if (withClause === undefined) return env;
    const ctes = list(withClause, "ctes").map((c) => wrappedNode(c)?.fields ?? {});
    const recursive = bool(withClause, "recursive");
    const scope = new Set(env.ctes);
    if (recursive) for (const c of ctes) scope.add(str(c, "ctename") ?? "");
    for (const c of ctes) {
      this.copies.range(str(c, "ctename") ?? "");
      // Data-modifying CTEs run even when nothing reads them, so they count in full.
      this.visit(field(c, "ctequery"), { ...env, ctes: new Set(scope) });
      scope.add(str(c, "ctename") ?? "");
    }
    return { ...env, ctes: scope };
  }

  // --- DML ---------------------------------------------------------------------------------

  private select(f: Fields, env: Env, top: boolean): void {
    const inner = this.enterWith(obj(f, "withClause"), env);
    // A bare VALUES list inside INSERT reads no stored data; a query on its own always counts as read.
    if (top || list(f, "valuesLists").length === 0) this.addClass(env, "read");
    if (list(f, "lockingClause").length > 0) this.addClass(env, "lock_rows");
    const into = obj(f, "intoClause");
    if (into !== undefined) {
      this.addClass(env, "ddl.create.table");
      if (env.runs) this.copies.writes = true;
      const rel = obj(into, "rel");
      if (rel !== undefined) this.rangeVar(rel, inner, true);
    }
    for (const arm of ["larg", "rarg"]) {
      const a = obj(f, arm);
      if (a !== undefined) this.select(a, inner, false);
    }
    // lockingClause is skipped: FOR UPDATE OF x names FROM items (often aliases), not tables.
    this.children(f, inner, SELECT_HANDLED);
  }

  private dml(name: string, f: Fields, env: Env): void {
    const inner = this.enterWith(obj(f, "withClause"), env);
    this.addClass(env, DML_CLASS[name] ?? `other.${name}`);
    if (list(obj(f, "returningClause") ?? {}, "exprs").length > 0) this.addClass(env, "read");
    if (name === "InsertStmt" && str(obj(f, "onConflictClause") ?? {}, "action") === "ONCONFLICT_UPDATE") {
      this.addClass(env, "update");
    }
    if (name === "MergeStmt") {
      for (const c of list(f, "mergeWhenClauses")) {
        const cls = MERGE_ACTION_CLASS[str(wrappedNode(c)?.fields ?? {}, "commandType") ?? ""];
        if (cls !== undefined) this.addClass(env, cls);
      }
    }
    if (env.runs && name !== "DeleteStmt") this.copies.writes = true;
    const rel = obj(f, "relation");
    if (rel !== undefined) this.rangeVar(rel, inner, true);
    // The WHERE of an UPDATE or DELETE only picks rows, and RETURNING is a read masked like any:
    // neither puts values into the rows written.
    const reads = { ...inner, noCopy: true };
    for (const key of DML_READ_ONLY) this.visit(field(f, key), reads);
    this.children(f, inner, DML_HANDLED);
  }

  // --- functions -----------------------------------------------------------------------------

  private funcCall(f: Fields, env: Env): void {
    const names = stringList(list(f, "funcname"));
    this.functionName(list(f, "funcname"), env.stored === true);
    const name = names?.[names.length - 1];
    const args = list(f, "args");
    if (name === "set_config") this.setConfig(args, env);
    else if (name === "pg_notify") this.addClass(env, "notify");
    else if (name !== undefined && SEQUENCE_FUNCTIONS.has(name) && args.length > 0) this.sequenceCall(name, args[0], env);
    this.children(f, env, new Set(["funcname"]));
  }

  /**
   * nextval/setval/currval('schema.seq'): the sequence is a relation the statement touches, and
   * nextval and setval write it. The name may sit in casts ('s'::regclass, 's'::text::regclass);
   * any other argument (an expression, a column, an OID) names a sequence the gateway cannot see,
   * reported as the pseudo function <name>(computed), on the default deny list.
   */
  private sequenceCall(name: string, arg: unknown, env: Env): void {
    if (SEQUENCE_WRITERS.has(name)) this.addClass(env, "update");
    // setval stores a value that later reads return (currval, last_value): a write of rows' values.
    if (name === "setval" && env.runs) this.copies.writes = true;
    let v = arg;
    for (let n = wrappedNode(v); n !== null && (n.name === "TypeCast" || n.name === "CollateClause"); n = wrappedNode(v)) v = n.fields["arg"];
    const seq = this.literals.string(v);
    const names = seq === null ? null : splitIdentifierString(seq, ".");
    if (names === null || names.length === 0) {
      this.functions.add(`pg_catalog.${name}(computed)`);
      return;
    }
    this.relationFromNames(names);
  }

  /** A column reference: its last name (or a star) is what a write may copy. */
  private columnRef(f: Fields, env: Env): void {
    if (env.noCopy !== true) this.copies.reference(f);
  }

  /** An operator by its name list (["="], ["public", "==="]): a marker per schema it may resolve in. */
  private operator(nameList: readonly unknown[], kind?: string): void {
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

  /** SQL/JSON syntax an older server reads as a function call: those names count as called. */
  private newerSyntax(node: string): void {
    for (const fn of NEWER_SYNTAX_FUNCTIONS[node] ?? []) this.functionFromNames([fn]);
  }

  private functionName(nameList: readonly unknown[], asObject = false): void {
    this.functionFromNames(stringList(nameList), asObject);
  }

  /** asObject: the statement names the function as the object of DDL and does not call it. */
  private functionFromNames(names: readonly string[] | null, asObject = false): void {
    if (names === null || names.length === 0) return;
    const { schema, name } = splitQualified(names);
    const into = asObject ? this.functionObjects : this.calledFunctions;
    for (const c of functionCandidates(schema, name, this.ctx)) {
      this.functions.add(c);
      into.add(c);
    }
  }

  /** The object of DROP / COMMENT ON / ALTER … RENAME / OWNER / SET SCHEMA, when it is a function or a relation. */
  private objectReference(type: string, object: unknown): void {
    const ref = objectReference(type, object);
    if (ref?.kind === "function") this.functionFromNames(ref.names, true);
    else if (ref?.kind === "relation") this.relationFromNames(ref.names);
  }

  private typeCast(f: Fields, env: Env): void {
    const typeNames = stringList(list(obj(f, "typeName") ?? {}, "names"));
    const last = typeNames?.[typeNames.length - 1];
    // 'sales.x'::regclass looks an object up by a name held in a literal. Not dangerous in
    // itself, but the statement's meaning then depends on that literal.
    if (last !== undefined && REG_TYPES.has(last)) this.literalDependent = true;
    this.typeName(obj(f, "typeName"));
    this.children(f, env);
  }

  /** set_config(…): class "set", pseudo functions for policy, and the change when it runs. */
  private setConfig(args: readonly unknown[], env: Env): void {
    this.addClass(env, "set");
    const { pseudoFunctions, change } = setConfigCall(args, this.literals);
    for (const fn of pseudoFunctions) this.functions.add(fn);
    if (env.runs && change !== null) this.sets.push(change);
  }

  // --- utility statements -------------------------------------------------------------------

  private explain(f: Fields, env: Env): void {
    this.addClass(env, "explain");
    let analyze = false;
    for (const o of list(f, "options")) {
      const d = wrappedNode(o);
      if (d === null || d.name !== "DefElem") continue;
      const opt = (str(d.fields, "defname") ?? "").toLowerCase();
      if (opt === "analyze" || opt === "analyse") analyze = this.literals.option(field(d.fields, "arg"));
    }
    // Plain EXPLAIN only plans: the inner statement's relations and functions count, its
    // classes do not. EXPLAIN ANALYZE runs it, so everything counts.
    this.visit(field(f, "query"), { ...env, runs: env.runs && analyze });
  }

  private prepare(f: Fields, env: Env): void {
    this.addClass(env, "prepare");
    const query = wrappedNode(field(f, "query"));
    if (query === null) return;
    const inner = new Walker(this.ctx);
    // Parameters are converted to their declared types when EXECUTE binds them.
    for (const t of list(f, "argtypes")) inner.typeName(wrappedNode(t)?.fields);
    inner.statement(query.name, query.fields);
    const info = inner.finish(query.name, "");
    // The inner text is the whole PREPARE: the parser gives no location for the query alone.
    this.prepares = { name: str(f, "name") ?? "", inner: info };
    this.literalDependent ||= inner.constantDependent;
    for (const r of info.relations) this.relations.add(r);
    for (const fn of info.functions) this.functions.add(fn);
  }

  private copyStmt(f: Fields, env: Env): void {
    const from = bool(f, "is_from");
    const program = bool(f, "is_program");
    const file = str(f, "filename") !== undefined;
    this.copy = { direction: from ? "from" : "to", program, stdio: !file };
    this.addClass(env, from ? "copy.from" : "copy.to");
    if (program) this.addClass(env, "copy.program");
    else if (file) this.addClass(env, "copy.file"); // a file on the database server
    const rel = obj(f, "relation");
    if (rel !== undefined) {
      // COPY t TO reads t; COPY t FROM inserts into it. COPY (query) gets its classes from the query.
      this.addClass(env, from ? "insert" : "read");
      this.rangeVar(rel, env, true);
    }
    this.visit(field(f, "query"), env);
    this.visit(field(f, "whereClause"), env);
  }

  private setStmt(f: Fields, env: Env): void {
    this.addClass(env, "set");
    const change = setStatementChange(f, this.literals);
    // RESET ALL (name "all") returns to what the session started with, which was checked then.
    if (!lexicallySafe(change.name, change.opaque === true ? null : change.value)) this.functions.add(settingFunction(change.name));
    if (env.runs) this.sets.push(change);
  }

  private drop(f: Fields, env: Env): void {
    this.addClass(env, ...(utilityClasses("DropStmt", f) ?? []));
    const type = objectTypeName(f["removeType"]);
    if (type === undefined) return;
    for (const o of list(f, "objects")) this.objectReference(type, o);
  }
}

/** DO [LANGUAGE name] code: the language, plpgsql when the statement names none. */
function doLanguage(f: Fields): string {
  for (const a of list(f, "args")) {
    const d = wrappedNode(a);
    if (d === null || d.name !== "DefElem" || str(d.fields, "defname") !== "language") continue;
    const lang = str(wrappedNode(field(d.fields, "arg"))?.fields ?? {}, "sval");
    // Odd characters could only make a name no rule matches; keep the pseudo name readable.
    return lang !== undefined && /^[A-Za-z0-9_]+$/.test(lang) ? lang.toLowerCase() : "unknown";
  }
  return "plpgsql";
}

/** ALTER TABLE commands that attach code writes run: defaults, constraints, column types (with their domains). */
const WRITE_HOOK_COMMANDS: ReadonlySet<string> = new Set(["AT_ColumnDefault", "AT_AddColumn", "AT_AddConstraint", "AT_AlterColumnType", "AT_CookedColumnDefault"]);

const MOVABLE_RELATIONS: ReadonlySet<string> = new Set(["table", "view", "matview", "foreign_table"]);

const SELECT_HANDLED: ReadonlySet<string> = new Set(["withClause", "intoClause", "larg", "rarg", "lockingClause"]);
const DML_READ_ONLY = ["whereClause", "returningList", "returningClause"] as const;
const DML_HANDLED: ReadonlySet<string> = new Set(["withClause", "relation", ...DML_READ_ONLY]);
const NAME_KEY: ReadonlySet<string> = new Set(["name"]);
