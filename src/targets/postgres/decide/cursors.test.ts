// The session's SQL cursors by name: when a DECLARE counts, what CLOSE and a failed DECLARE leave,
// and how protocol portals of the same name stand in.
import { expect, test } from "bun:test";
import { Cursors } from "./cursors.ts";
import type { StatementInfo } from "../sql/analysis.ts";

const declare = (name: string, relation: string): StatementInfo => ({
  classes: ["declare_cursor", "read"],
  relations: [relation],
  functions: [],
  text: `DECLARE ${name} CURSOR FOR SELECT * FROM ${relation}`,
  node: "DeclareCursorStmt",
});
const noPortal = () => null;
const relations = (c: Cursors, name: string, portal: (n: string) => StatementInfo | null = noPortal) => {
  const l = c.lookup(name, portal);
  return l.known ? l.queries.flatMap((q) => q.relations).sort() : null;
};

test("a DECLARE counts from when it is forwarded, beside what the name meant, until the server answers", () => {
  const c = new Cursors();
  const a = c.declared(declare("c", "sales.orders"));
  c.succeeded(a);
  const mark = c.mark();
  const b = c.declared(declare("c", "sales.customers"));
  // CLOSE c; DECLARE c … are on their way: either may be what c means when the FETCH runs.
  expect(relations(c, "c")).toEqual(["sales.customers", "sales.orders"]);
  c.closed("c", mark);
  expect(relations(c, "c")).toEqual(["sales.customers"]);
  c.succeeded(b);
  expect(relations(c, "c")).toEqual(["sales.customers"]);
});

test("a DECLARE that fails leaves the name as it was; CLOSE ALL forgets what came before it", () => {
  const c = new Cursors();
  c.succeeded(c.declared(declare("c", "sales.orders")));
  const again = c.declared(declare("c", "hr.salaries"));
  c.failed(again);
  expect(relations(c, "c")).toEqual(["sales.orders"]);
  const mark = c.mark();
  const later = c.declared(declare("d", "sales.customers"));
  c.closed(null, mark);
  expect(relations(c, "c")).toBeNull();
  expect(relations(c, "d")).toEqual(["sales.customers"]);
  c.succeeded(later);
});

test("names: folded as the server folds them; a name outside ASCII or unreadable counts for every FETCH", () => {
  const c = new Cursors();
  c.succeeded(c.declared({ ...declare("x", "sales.orders"), text: 'DECLARE "My Cur" CURSOR FOR SELECT 1' }));
  expect(relations(c, "My Cur")).toEqual(["sales.orders"]);
  expect(relations(c, "my cur")).toBeNull();
  c.succeeded(c.declared({ ...declare("x", "hr.salaries"), text: 'DECLARE U&"\\0063" CURSOR FOR SELECT 1' }));
  expect(relations(c, "My Cur")).toEqual(["hr.salaries", "sales.orders"]);
  // A FETCH of a name outside ASCII is not resolved at all (a single-byte server may fold it to another).
  expect(relations(c, "ünï")).toBeNull();
});

test("a protocol portal of the name stands in when no DECLARE has it; a Bind of the name takes it from a cursor", () => {
  const c = new Cursors();
  const portal = (n: string) => (n === "p" ? declare("p", "sales.orders") : null);
  expect(relations(c, "p", portal)).toEqual(["sales.orders"]);
  c.succeeded(c.declared(declare("p", "sales.customers")));
  expect(relations(c, "p", portal)).toEqual(["sales.customers"]);
  c.portalBound("p");
  expect(relations(c, "p", portal)).toEqual(["sales.orders"]);
  expect(relations(c, "q", portal)).toBeNull();
});
