// Facts for the gateway's own checks that the analysis carries among a statement's `functions`,
// so that they go wherever functions go (into a PREPARE, out of an EXECUTE, through the caches)
// without any caller knowing them. The statement gate takes them out before the policy sees the
// functions (policy rules never match on them, and audit records do not show them). Each starts
// with a NUL, which no SQL identifier can hold (query text with a NUL is refused), so a marker
// can never be mistaken for a function name.
//
//   \0op:<schema>.<operator>  an operator the statement uses, per candidate schema: the catalog
//                             reports the user-defined functions it runs (its code, restrict and
//                             join estimators), which count as called
//   \0type:<schema>.<type>    a type the statement casts to (or a PREPARE parameter's type): the
//                             user functions its casts, input functions and domain CHECKs run
//   \0copy:<column>           a write (INSERT, UPDATE, MERGE, CREATE TABLE AS, SELECT INTO) takes
//                             its values from expressions naming this column (lower-cased); "*"
//                             for a star or a whole-row reference
//   \0setting-from-rows       set_config with a value that is not a plain constant
//   \0code-rel:<schema>.<rel> CREATE TABLE … LIKE / INHERITS / PARTITION OF (or ALTER TABLE …
//                             INHERIT) copies or attaches this relation's code (defaults,
//                             CHECKs, generated columns, indexes, triggers, column types) to a
//                             table the gateway may never see (a temporary one): the user
//                             functions its writes run count as called by this statement
//   \0code-type:<schema>.<t>  a column a CREATE/ALTER TABLE declares (or OF <type>) has this
//                             type: its domain CHECKs, input functions and casts count as called
export const MARK = "\u0000";

export type MarkerKind = "op" | "type" | "copy" | "setting-from-rows" | "code-rel" | "code-type";

export function marker(kind: MarkerKind, value?: string): string {
  return value === undefined ? `${MARK}${kind}` : `${MARK}${kind}:${value}`;
}

export function isMarker(name: string): boolean {
  return name.charCodeAt(0) === 0;
}

/** A statement's hidden facts, taken out of its functions. */
export interface Markers {
  readonly operators: readonly string[];
  readonly types: readonly string[];
  /** Lower-cased column names (and "*") that a write copies values from. */
  readonly copies: readonly string[];
  readonly settingFromRows: boolean;
  /** Relations (code-rel) and types (code-type) whose code a new or altered table takes on (it runs on its writes). */
  readonly codeRelations: readonly string[];
  readonly codeTypes: readonly string[];
}

export const NO_MARKERS: Markers = Object.freeze({ operators: [], types: [], copies: [], settingFromRows: false, codeRelations: [], codeTypes: [] });

/**
 * Splits of frozen functions lists (a cached analysis's, shared by every statement of its shape):
 * made once, frozen, and the same arrays each time, so the hot path neither splits per statement
 * nor compares copies.
 */
const frozenSplits = new WeakMap<readonly string[], { functions: readonly string[]; markers: Markers }>();

/** Splits a functions list into the real functions and the markers; returns the same array when there are none. */
export function splitMarkers(functions: readonly string[]): { functions: readonly string[]; markers: Markers } {
  if (!Object.isFrozen(functions)) return split(functions);
  let done = frozenSplits.get(functions);
  if (done === undefined) {
    const { functions: real, markers } = split(functions);
    done = Object.freeze({ functions: Object.freeze(real), markers: markers === NO_MARKERS ? markers : deepFrozen(markers) });
    frozenSplits.set(functions, done);
  }
  return done;
}

function deepFrozen(m: Markers): Markers {
  for (const v of Object.values(m)) if (Array.isArray(v)) Object.freeze(v);
  return Object.freeze(m);
}

function split(functions: readonly string[]): { functions: readonly string[]; markers: Markers } {
  let any = false;
  for (const f of functions) {
    if (isMarker(f)) {
      any = true;
      break;
    }
  }
  if (!any) return { functions, markers: NO_MARKERS };
  const real: string[] = [];
  const operators: string[] = [];
  const types: string[] = [];
  const copies: string[] = [];
  const codeRelations: string[] = [];
  const codeTypes: string[] = [];
  let settingFromRows = false;
  for (const f of functions) {
    if (!isMarker(f)) {
      real.push(f);
      continue;
    }
    const colon = f.indexOf(":");
    const kind = colon < 0 ? f.slice(1) : f.slice(1, colon);
    const value = colon < 0 ? "" : f.slice(colon + 1);
    if (kind === "op") operators.push(value);
    else if (kind === "type") types.push(value);
    else if (kind === "copy") copies.push(value);
    else if (kind === "setting-from-rows") settingFromRows = true;
    else if (kind === "code-rel") codeRelations.push(value);
    else if (kind === "code-type") codeTypes.push(value);
    // An unknown kind is dropped: markers are only ever made by marker() above.
  }
  return { functions: real, markers: { operators, types, copies, settingFromRows, codeRelations, codeTypes } };
}
