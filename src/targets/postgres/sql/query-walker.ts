// The walk over queries and expressions: SELECT, INSERT, UPDATE, DELETE and MERGE with the
// scope of their CTEs, function calls (set_config, sequences), casts, operators and column
// references, recorded into the StatementFacts it extends. Every other node (utility statements
// and the catch-all walk of nodes it does not know) goes to utilityNode, which the concrete
// walker in analyze-statement.ts supplies.
import { bool, field, isFields, list, obj, str, stringList, wrappedNode, type Fields } from "./ast.ts";
import { marker } from "./markers.ts";
import { relationCandidates, splitIdentifierString } from "./name-resolution.ts";
import { plainConstant, SENSITIVE_SETTINGS, setConfigCall, settingFunction } from "./setting-changes.ts";
import { DML_CLASS, StatementFacts, type Env } from "./statement-facts.ts";

const TOP: Env = { ctes: new Set(), runs: true };
/** The view whose update rule calls set_config. */
const PG_SETTINGS = "pg_catalog.pg_settings";

/** Functions whose first argument names a sequence as text. */
const SEQUENCE_FUNCTIONS = new Set(["nextval", "currval", "setval", "pg_sequence_last_value"]);
/** Those that move the sequence: a write of it, so read-only rules do not allow them. */
const SEQUENCE_WRITERS = new Set(["nextval", "setval"]);
/** Casts that turn a string into an object reference. */
const REG_TYPES = new Set([
  "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype",
  "regnamespace", "regrole", "regconfig", "regdictionary", "regcollation",
]);
const MERGE_ACTION_CLASS: Readonly<Record<string, string>> = { CMD_INSERT: "insert", CMD_UPDATE: "update", CMD_DELETE: "delete" };

export abstract class QueryWalker extends StatementFacts {
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

  protected children(f: Fields, env: Env, skip?: ReadonlySet<string>): void {
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
      default:
        return this.utilityNode(name, f, env);
    }
  }

  /** Every node the walk over queries does not handle: utility statements and unknown nodes. */
  protected abstract utilityNode(name: string, f: Fields, env: Env): void;

  // --- CTE scope and DML -----------------------------------------------------------------------

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
      // Data-modifying CTEs run even when nothing reads them, so they count in full; their
      // RETURNING is what the rest of the statement reads, so it is a copy source.
      const query = field(c, "ctequery");
      if ((wrappedNode(query)?.name ?? "") in DML_CLASS) this.copies.carried = true;
      this.visit(query, { ...env, ctes: new Set(scope) });
      scope.add(str(c, "ctename") ?? "");
    }
    return { ...env, ctes: scope };
  }

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
    if (rel !== undefined) {
      this.rangeVar(rel, inner, true);
      if (relationCandidates(str(rel, "schemaname"), str(rel, "relname") ?? "", this.ctx).includes(PG_SETTINGS)) this.settingsWrite(f, env);
    }
    // The WHERE of an UPDATE or DELETE only picks rows, and RETURNING is a read masked like any:
    // neither puts values into the rows written, unless the statement carries them on (a
    // data-modifying CTE's RETURNING, a setval there: CopySources.carried).
    const reads = { ...inner, noCopy: true };
    for (const key of DML_READ_ONLY) this.visit(field(f, key), reads);
    this.children(f, inner, DML_HANDLED);
  }

  // --- functions and expressions -------------------------------------------------------------

  protected funcCall(f: Fields, env: Env): void {
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
    if (name === "setval" && env.runs) {
      this.copies.writes = true;
      // Even in a WHERE or RETURNING: what it is given is stored.
      this.copies.carried = true;
    }
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
    this.copies.reference(f, env.noCopy === true);
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

  /**
   * A write of pg_catalog.pg_settings: its update rule calls set_config(name, setting, false)
   * for each row, so it counts as set_config of any sensitive setting (the rows it picks are
   * not followed), and the search_path is unknown once it ran.
   */
  private settingsWrite(f: Fields, env: Env): void {
    this.addClass(env, "set");
    for (const name of SENSITIVE_SETTINGS) this.functions.add(settingFunction(name));
    const values = list(f, "targetList").map((t) => field(wrappedNode(t)?.fields ?? {}, "val"));
    if (!values.every(plainConstant)) this.functions.add(marker("setting-from-rows"));
    if (env.runs) this.sets.push({ name: "search_path", value: null, local: false, opaque: true });
  }

  /** set_config(…): class "set", pseudo functions for policy, and the change when it runs. */
  private setConfig(args: readonly unknown[], env: Env): void {
    this.addClass(env, "set");
    const { pseudoFunctions, change } = setConfigCall(args, this.literals);
    for (const fn of pseudoFunctions) this.functions.add(fn);
    if (env.runs && change !== null) this.sets.push(change);
  }
}

const SELECT_HANDLED: ReadonlySet<string> = new Set(["withClause", "intoClause", "larg", "rarg", "lockingClause"]);
const DML_READ_ONLY = ["whereClause", "returningList", "returningClause"] as const;
const DML_HANDLED: ReadonlySet<string> = new Set(["withClause", "relation", ...DML_READ_ONLY]);
const NAME_KEY: ReadonlySet<string> = new Set(["name"]);
