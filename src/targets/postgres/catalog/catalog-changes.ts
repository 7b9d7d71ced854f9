// Which statements touch the catalog, for the catalog fence of frontend-relay.ts: those that
// may change it (DDL, procedural code, a user function, a search_path change) hold back the
// statements behind them until they are answered, and within an extended-protocol batch a
// statement that needs the catalog is refused after one of them instead.
import type { PostgresRequestFacts } from "../../../core/types.ts";
import type { DecodedFrontendMessage } from "../protocol/frontend-message.ts";
import type { StatementInfo } from "../sql/analysis.ts";

/** DDL changes names and columns; procedural code may run DDL the gateway cannot see. */
export function isCatalogChanging(c: string): boolean {
  return c.startsWith("ddl.") || c === "procedural";
}

/** Messages whose checking waits for the catalog changes before them (CatalogFence). */
export const FENCED: ReadonlySet<DecodedFrontendMessage["type"]> = new Set(["Query", "Parse", "Bind", "Execute", "FunctionCall"]);
export const CHANGED_IN_BATCH = Object.freeze({
  rule: "builtin:catalog-changed-in-batch",
  message:
    "statement denied: an earlier statement of this batch may change the catalog (DDL, procedural code or a user function) and has not completed; send Sync after a catalog-changing statement before statements that depend on it",
});
/** Settings that change how names resolve. */
const PATH_SETTINGS: ReadonlySet<string> = new Set(["search_path", "all", "role", "session_authorization"]);

/** Whether checking the statement looks anything up in the catalog (names, or declared parameter types). */
export function needsCatalog(info: Pick<StatementInfo, "relations" | "functions">, parameterTypes: readonly number[] | undefined): boolean {
  return info.relations.length > 0 || info.functions.length > 0 || (parameterTypes?.some((t) => t !== 0) ?? false);
}

/**
 * Whether statements after this one must wait for it before they are checked: it may change
 * what names mean (DDL, procedural code, a user function, which may run DDL), or the search_path.
 */
export function changesCatalog(info: StatementInfo, facts: PostgresRequestFacts): boolean {
  return (
    info.classes.some(isCatalogChanging) ||
    (facts.userFunctions?.length ?? 0) > 0 ||
    (info.sets !== undefined && info.sets.some((c) => PATH_SETTINGS.has(c.name)))
  );
}
