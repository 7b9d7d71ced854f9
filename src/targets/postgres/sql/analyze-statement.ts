// One parsed statement → its StatementInfo: a walk over the whole tree that collects every
// relation (RangeVar) and function call wherever it appears, resolves CTE names by scope, and
// derives the classes from the statement nodes it meets. Unknown nodes are walked too, so a
// relation inside a construct we never heard of is still reported. This file holds the entry
// point and the utility statements (DDL, session commands, COPY, PREPARE, EXPLAIN); queries and
// expressions are walked in query-walker.ts, and what the walk finds is kept in statement-facts.ts.
import { GatewayError } from "../../../core/errors.ts";
import { bool, field, list, obj, objectTypeName, str, stringList, wrappedNode, type Fields } from "./ast.ts";
import type { AnalysisContext, StatementInfo } from "./analysis.ts";
import { FUNCTION_OBJECTS, functionObjectNames, splitQualified } from "./object-names.ts";
import { functionCandidates } from "./name-resolution.ts";
import { lexicallySafe, LEXICAL_SETTINGS, reportsSetting, setStatementChange, settingFunction } from "./setting-changes.ts";
import { utilityClasses } from "./statement-classes.ts";
import { NEWER_SYNTAX_FUNCTIONS, type Env } from "./statement-facts.ts";
import { QueryWalker } from "./query-walker.ts";

export interface StatementAnalysis {
  readonly info: StatementInfo;
  /**
   * True when the analysis read the value of a literal constant (A_Const): set_config's
   * arguments, SET values, nextval('seq') … Only analyses that read none may be reused for a
   * statement that differs in its constants (see analysis-cache.ts).
   */
  readonly constantDependent: boolean;
}

export function analyzeStatement(stmt: unknown, text: string, ctx: AnalysisContext): StatementAnalysis {
  const top = wrappedNode(stmt);
  if (top === null) throw new GatewayError("E_INTERNAL", "parser returned a statement that is not a node");
  const w = new Walker(ctx);
  w.statement(top.name, top.fields);
  return { info: w.finish(top.name, text), constantDependent: w.constantDependent };
}

class Walker extends QueryWalker {
  protected utilityNode(name: string, f: Fields, env: Env): void {
    switch (name) {
      case "ColumnDef":
        // A column's default and generation expressions run later, on writes: they name
        // functions but add no class (nextval in a DEFAULT does not make CREATE TABLE a write).
        return this.children(f, { ...env, runs: false });
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
      case "FetchStmt":
        // FETCH and MOVE are decided by the query of the cursor they name (statement-checker.ts).
        this.addClass(env, ...(utilityClasses(name, f) ?? []));
        if (env.runs) this.fetches = str(f, "portalname") ?? "";
        return;
      case "ClosePortalStmt":
        this.addClass(env, "close");
        if (env.runs) this.closes = str(f, "portalname") ?? null;
        return;
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
      case "CreateStmt": {
        // CREATE TABLE … PARTITION OF p / INHERITS (p): p's scans reach the new table.
        for (const p of list(f, "inhRelations")) this.defineRelation(wrappedNode(p)?.fields);
        // The code the new table takes on from its parents, LIKE sources and column types runs
        // on its writes, which for a temporary table the gateway cannot look up: it counts now.
        for (const p of list(f, "inhRelations")) this.codeFromRelation(wrappedNode(p)?.fields);
        this.codeFromType(obj(f, "ofTypename"));
        for (const e of list(f, "tableElts")) {
          const el = wrappedNode(e);
          if (el?.name === "TableLikeClause") this.codeFromRelation(obj(el.fields, "relation"));
          else if (el?.name === "ColumnDef") this.codeFromType(obj(el.fields, "typeName"));
        }
        // Later writes to it run that code (and its defaults and CHECKs).
        this.hookWrites(obj(f, "relation"));
        return;
      }
      case "AlterTableStmt":
        for (const c of list(f, "cmds")) {
          const cmd = wrappedNode(c)?.fields ?? {};
          const sub = str(cmd, "subtype") ?? "";
          const def = wrappedNode(cmd["def"]);
          if (def?.name === "ColumnDef") this.codeFromType(obj(def.fields, "typeName"));
          if (sub === "AT_AddInherit") this.codeFromRelation(def?.fields);
          else if (sub === "AT_AddOf") this.codeFromType(def?.fields);
          if (sub === "AT_AddInherit") this.defineRelation(wrappedNode(cmd["def"])?.fields);
          else if (sub === "AT_AttachPartition") this.defineRelation(obj(f, "relation"));
          else if (WRITE_HOOK_COMMANDS.has(sub) || sub.startsWith("AT_Enable")) this.hookWrites(obj(f, "relation"));
        }
        return;
    }
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
    // Plain EXPLAIN only plans: the inner statement's relations and functions count, and so do
    // its classes, for EXPLAIN is decided by what it explains (a rule that may not DELETE may
    // not EXPLAIN DELETE either), but nothing else it would do when run (its setting changes,
    // the rows it writes). EXPLAIN ANALYZE runs it, so everything counts.
    this.visit(field(f, "query"), { ...env, runs: env.runs && analyze });
    const query = wrappedNode(field(f, "query"));
    if (env.runs && !analyze && query !== null) {
      const inner = new Walker(this.ctx);
      inner.statement(query.name, query.fields);
      this.addClass(env, ...inner.finish(query.name, "").classes);
      this.literalDependent ||= inner.constantDependent;
    }
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
    // Decided by what it prepares: its classes count, as its relations and functions do.
    this.addClass(env, ...info.classes);
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
    // A setting that is not an ordinary session setting is named, so that a rule must allow it.
    if (reportsSetting(change.name, change.opaque === true ? null : change.value)) this.functions.add(settingFunction(change.name));
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
