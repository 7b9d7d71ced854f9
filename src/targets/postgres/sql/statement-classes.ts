// Statement classes of utility (non-DML) statements, from the parser's node name and fields.
// DML classes (read/insert/update/delete/merge) come from the walk in analyze-statement.ts,
// because they can appear anywhere inside a statement. Unknown nodes get "other.<NodeName>".
import { bool, objectTypeName, str, type Fields } from "./ast.ts";

const TWO_PHASE: ReadonlySet<string> = new Set(["TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"]);

type ClassOf = string | readonly string[] | ((f: Fields) => string | readonly string[]);

const objtype =
  (prefix: string, key: string, fallback: string): ClassOf =>
  (f) =>
    `${prefix}.${objectTypeName(f[key]) ?? fallback}`;

/** Node → classes. Every statement node PostgreSQL 18 has is listed, so nothing falls through by accident. */
const UTILITY: Readonly<Record<string, ClassOf>> = {
  // CREATE
  CreateStmt: "ddl.create.table",
  CreateForeignTableStmt: "ddl.create.foreign_table",
  ViewStmt: "ddl.create.view",
  IndexStmt: "ddl.create.index",
  CreateSeqStmt: "ddl.create.sequence",
  CreateSchemaStmt: "ddl.create.schema",
  CreatedbStmt: "ddl.create.database",
  CreateRoleStmt: "ddl.create.role",
  CreateFunctionStmt: (f) => (bool(f, "is_procedure") ? "ddl.create.procedure" : "ddl.create.function"),
  CreateExtensionStmt: "ddl.create.extension",
  CreateTrigStmt: "ddl.create.trigger",
  CreateEventTrigStmt: "ddl.create.event_trigger",
  CreatePolicyStmt: "ddl.create.policy",
  CreateDomainStmt: "ddl.create.domain",
  CompositeTypeStmt: "ddl.create.type",
  CreateEnumStmt: "ddl.create.type",
  CreateRangeStmt: "ddl.create.type",
  DefineStmt: objtype("ddl.create", "kind", "type"),
  CreateTableSpaceStmt: "ddl.create.tablespace",
  CreateCastStmt: "ddl.create.cast",
  CreateConversionStmt: "ddl.create.conversion",
  CreateOpClassStmt: "ddl.create.opclass",
  CreateOpFamilyStmt: "ddl.create.opfamily",
  CreateAmStmt: "ddl.create.access_method",
  CreateTransformStmt: "ddl.create.transform",
  CreatePLangStmt: "ddl.create.language",
  CreateStatsStmt: "ddl.create.statistic_ext",
  CreatePublicationStmt: "ddl.create.publication",
  CreateSubscriptionStmt: "ddl.create.subscription",
  CreateFdwStmt: "ddl.create.fdw",
  CreateForeignServerStmt: "ddl.create.foreign_server",
  CreateUserMappingStmt: "ddl.create.user_mapping",
  RuleStmt: "ddl.create.rule",
  ImportForeignSchemaStmt: "ddl.create.foreign_table",
  // CREATE TABLE AS / CREATE MATERIALIZED VIEW run their query now.
  CreateTableAsStmt: (f) => [`ddl.create.${objectTypeName(f["objtype"]) ?? "table"}`, "read"],
  // ALTER
  AlterTableStmt: objtype("ddl.alter", "objtype", "table"),
  AlterTableMoveAllStmt: objtype("ddl.alter", "objtype", "table"),
  // Renaming a column or constraint alters its table (or view …), which relationType names.
  RenameStmt: (f) => {
    const t = objectTypeName(f["renameType"]);
    if (t === "column" || t === "tabconstraint") return `ddl.alter.${objectTypeName(f["relationType"]) ?? "table"}`;
    return `ddl.alter.${t ?? "object"}`;
  },
  AlterObjectSchemaStmt: objtype("ddl.alter", "objectType", "object"),
  AlterOwnerStmt: objtype("ddl.alter", "objectType", "object"),
  AlterObjectDependsStmt: objtype("ddl.alter", "objectType", "object"),
  AlterRoleStmt: "ddl.alter.role",
  AlterRoleSetStmt: "ddl.alter.role",
  AlterDatabaseStmt: "ddl.alter.database",
  AlterDatabaseSetStmt: "ddl.alter.database",
  AlterDatabaseRefreshCollStmt: "ddl.alter.database",
  AlterFunctionStmt: objtype("ddl.alter", "objtype", "function"),
  AlterSeqStmt: "ddl.alter.sequence",
  AlterDomainStmt: "ddl.alter.domain",
  AlterEnumStmt: "ddl.alter.type",
  AlterTypeStmt: "ddl.alter.type",
  AlterExtensionStmt: "ddl.alter.extension",
  AlterExtensionContentsStmt: "ddl.alter.extension",
  AlterPolicyStmt: "ddl.alter.policy",
  AlterEventTrigStmt: "ddl.alter.event_trigger",
  AlterCollationStmt: "ddl.alter.collation",
  AlterStatsStmt: "ddl.alter.statistic_ext",
  AlterOpFamilyStmt: "ddl.alter.opfamily",
  AlterOperatorStmt: "ddl.alter.operator",
  AlterTSDictionaryStmt: "ddl.alter.tsdictionary",
  AlterTSConfigurationStmt: "ddl.alter.tsconfiguration",
  AlterPublicationStmt: "ddl.alter.publication",
  AlterSubscriptionStmt: "ddl.alter.subscription",
  AlterFdwStmt: "ddl.alter.fdw",
  AlterForeignServerStmt: "ddl.alter.foreign_server",
  AlterUserMappingStmt: "ddl.alter.user_mapping",
  AlterTableSpaceOptionsStmt: "ddl.alter.tablespace",
  AlterDefaultPrivilegesStmt: "ddl.alter.default_privileges",
  AlterSystemStmt: "ddl.alter.system",
  ReassignOwnedStmt: "ddl.alter.owned",
  // DROP
  DropStmt: objtype("ddl.drop", "removeType", "object"),
  DropdbStmt: "ddl.drop.database",
  DropRoleStmt: "ddl.drop.role",
  DropTableSpaceStmt: "ddl.drop.tablespace",
  DropSubscriptionStmt: "ddl.drop.subscription",
  DropUserMappingStmt: "ddl.drop.user_mapping",
  DropOwnedStmt: "ddl.drop.owned",
  // Everything else
  TruncateStmt: "truncate",
  GrantStmt: (f) => (bool(f, "is_grant") ? "grant" : "revoke"),
  GrantRoleStmt: (f) => (bool(f, "is_grant") ? "grant" : "revoke"),
  VariableSetStmt: "set",
  VariableShowStmt: "show",
  // Two-phase commit leaves a transaction that outlives the session (holding its locks), and
  // COMMIT/ROLLBACK PREPARED finish one that any session prepared: not plain transaction control.
  TransactionStmt: (f) => (TWO_PHASE.has(str(f, "kind") ?? "") ? "transaction.prepared" : "transaction"),
  DoStmt: "procedural",
  CallStmt: "procedural",
  ExplainStmt: "explain",
  PrepareStmt: "prepare",
  ExecuteStmt: "execute",
  DeallocateStmt: "deallocate",
  ListenStmt: "listen",
  NotifyStmt: "notify",
  UnlistenStmt: "unlisten",
  VacuumStmt: (f) => (bool(f, "is_vacuumcmd") ? "vacuum" : "analyze"),
  DiscardStmt: "discard",
  LockStmt: "lock",
  ReindexStmt: "reindex",
  ClusterStmt: "cluster",
  CheckPointStmt: "checkpoint",
  LoadStmt: "load",
  RefreshMatViewStmt: "refresh_matview",
  DeclareCursorStmt: "declare_cursor",
  FetchStmt: (f) => (bool(f, "ismove") ? "move" : "fetch"),
  ClosePortalStmt: "close",
  ConstraintsSetStmt: "set_constraints",
  CommentStmt: "comment",
  SecLabelStmt: "security_label",
  // COPY's classes depend on direction and target; analyze-statement.ts adds them.
  CopyStmt: [],
};

/** Classes of a utility statement node; undefined when the node is not one we know. */
export function utilityClasses(node: string, f: Fields): readonly string[] | undefined {
  const c = UTILITY[node];
  if (c === undefined) return undefined;
  const v = typeof c === "function" ? c(f) : c;
  return typeof v === "string" ? [v] : v;
}

export function isUtilityStatement(node: string): boolean {
  return Object.hasOwn(UTILITY, node);
}
