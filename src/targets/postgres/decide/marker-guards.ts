// The checks the SQL analysis's markers ask for once the policy would let a statement run,
// where masks apply: masked values must not leave through another door.
//  - builtin:setting-leak: set_config may not take a value read from a table (SHOW,
//    current_setting and ParameterStatus would return it unmasked);
//  - builtin:masked-copy: a write may not copy a masked column into a column (or table) that
//    can then be read unmasked, nor whole rows of a table with masked columns, nor values from
//    a view or a user function, whose columns may hold masked values.
import type { Action, Decision } from "../../../core/types.ts";
import { NO_MASKS } from "../../../core/types.ts";
import type { StatementObjects } from "../catalog/catalog.ts";
import { bareMaskNames } from "../masking/mask-plan.ts";
import type { Markers } from "../sql/markers.ts";

function deny(rule: string, message: string): Decision {
  return { effect: "deny", rule, message, masks: NO_MASKS };
}

/**
 * The checks the analysis's markers ask for, on a decision that would let the statement run:
 * builtin:masked-copy and builtin:setting-leak (see the top of this file). `columnNames`: the
 * statement's tables' columns when a write copies a star or whole row (null: unknown).
 */
export function guardMarkers(decision: Decision, markers: Markers, action: Action, objects: StatementObjects, columnNames: ReadonlySet<string> | null): Decision {
  if (decision.effect === "deny" || action.request.kind !== "postgres") return decision;
  const masks = decision.masks;
  const req = action.request;
  if (markers.settingFromRows && (masks.columns.length > 0 || masks.detectors.length > 0) && (req.relations.length > 0 || (req.userFunctions?.length ?? 0) > 0)) {
    return deny(
      "builtin:setting-leak",
      "set_config with a value computed from the rows a statement reads is denied where masks apply: SHOW, current_setting and the server's ParameterStatus would return that value unmasked; give the value as a constant",
    );
  }
  if (markers.copies.length > 0 && masks.columns.length > 0) {
    const masked = bareMaskNames(masks);
    const hit = markers.copies.find((c) => c !== "*" && masked.has(c));
    if (hit !== undefined) {
      return deny("builtin:masked-copy", `the statement is denied: it writes values computed from the masked column "${hit}", which could then be read unmasked`);
    }
    if (markers.copies.includes("*") && (columnNames === null || [...masked].some((m) => columnNames.has(m)))) {
      return deny("builtin:masked-copy", "the statement is denied: it writes values from whole rows (* or a row reference) of a table with masked columns, which could then be read unmasked");
    }
    if (objects.viaRules === true || (req.userFunctions?.length ?? 0) > 0) {
      return deny(
        "builtin:masked-copy",
        "the statement is denied: it writes values computed from a view or a user function, whose columns may hold masked values that could then be read unmasked",
      );
    }
  }
  return decision;
}
