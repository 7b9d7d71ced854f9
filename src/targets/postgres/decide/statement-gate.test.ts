// The statement gate's own checks on the analysis's markers: masked values copied by a write,
// and set_config taking a value read from a table, where masks apply.
import { expect, test } from "bun:test";
import type { Action, Decision } from "../../../core/types.ts";
import { NO_MASKS } from "../../../core/types.ts";
import { NO_OBJECTS } from "../catalog/catalog.ts";
import { guardMarkers } from "./marker-guards.ts";
import { factsOf } from "./statement-gate.ts";
import { marker, NO_MARKERS, splitMarkers, type Markers } from "../sql/markers.ts";

const allow = (columns: string[] = [], detectors: string[] = []): Decision => ({ effect: "allow", rule: "r", message: "ok", masks: { json: [], columns, detectors } });
const action = (relations: string[], userFunctions: string[] = []): Action => ({
  identity: { method: "dev", subject: "s", issuer: "dev", groups: [] },
  target: "db",
  request: { kind: "postgres", classes: ["update"], relations, functions: [], ...(userFunctions.length > 0 ? { userFunctions } : {}) },
  time: 0,
});
const m = (...ms: string[]): Markers => splitMarkers(["pg_catalog.f", ...ms]).markers;

test("markers are split from the functions, and never reach the policy's facts", () => {
  const fns = ["pg_catalog.lower", marker("op", "public.==="), marker("copy", "email"), marker("setting-from-rows"), marker("type", "public.t")];
  const { functions, markers } = splitMarkers(fns);
  expect(functions).toEqual(["pg_catalog.lower"]);
  expect(markers).toEqual({ operators: ["public.==="], types: ["public.t"], copies: ["email"], settingFromRows: true, codeRelations: [], codeTypes: [] });
  const code = splitMarkers(["pg_catalog.lower", marker("code-rel", "sales.tickets"), marker("code-type", "public.d")]);
  expect(code.functions).toEqual(["pg_catalog.lower"]);
  expect(code.markers).toMatchObject({ codeRelations: ["sales.tickets"], codeTypes: ["public.d"] });
  expect(splitMarkers(["a.b"]).markers).toBe(NO_MARKERS);
  expect(factsOf({ classes: ["read"], relations: [], functions: fns, text: "x" }).functions).toEqual(["pg_catalog.lower"]);
});

test("a write copying a masked column is denied where column masks apply", () => {
  const copy = m(marker("copy", "email"), marker("copy", "id"));
  expect(guardMarkers(allow(["email"]), copy, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny", rule: "builtin:masked-copy" });
  expect(guardMarkers(allow(["sales.customers.email"]), copy, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny" });
  expect(guardMarkers(allow(["ssn"]), copy, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "allow" });
  expect(guardMarkers(allow(), copy, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "allow" });
  const d: Decision = { effect: "deny", rule: "x", message: "no", masks: NO_MASKS };
  expect(guardMarkers(d, copy, action([]), NO_OBJECTS, null)).toBe(d);
});

test("a star or whole-row copy is denied when a table read has a masked column (or its columns are unknown)", () => {
  const star = m(marker("copy", "*"));
  expect(guardMarkers(allow(["email"]), star, action(["sales.customers"]), NO_OBJECTS, new Set(["id", "email"]))).toMatchObject({ effect: "deny" });
  expect(guardMarkers(allow(["email"]), star, action(["sales.orders"]), NO_OBJECTS, new Set(["id", "note"]))).toMatchObject({ effect: "allow" });
  expect(guardMarkers(allow(["email"]), star, action(["sales.orders"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny" });
});

test("a write from a view or a user function is denied where column masks apply", () => {
  const copy = m(marker("copy", "contact"));
  expect(guardMarkers(allow(["email"]), copy, action(["sales.customer_contacts", "sales.customers"]), { ...NO_OBJECTS, viaRules: true }, null)).toMatchObject({
    effect: "deny",
    rule: "builtin:masked-copy",
  });
  expect(guardMarkers(allow(["email"]), copy, action(["sales.orders"], ["public.f"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny" });
});

test("set_config with a value read from rows is denied where masks apply and the statement reads a relation", () => {
  const set = m(marker("setting-from-rows"));
  expect(guardMarkers(allow(["email"]), set, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny", rule: "builtin:setting-leak" });
  expect(guardMarkers(allow([], ["email"]), set, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "deny" });
  expect(guardMarkers(allow(["email"]), set, action([]), NO_OBJECTS, null)).toMatchObject({ effect: "allow" });
  expect(guardMarkers(allow(), set, action(["sales.customers"]), NO_OBJECTS, null)).toMatchObject({ effect: "allow" });
});
