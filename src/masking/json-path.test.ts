import { describe, expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import { compileJsonPaths, parseJsonPath, type JsonPathCursor } from "./json-path.ts";

/** Every location (as "a.0.b") that the paths select in `value`, by walking it with cursors. */
function selected(paths: readonly string[], value: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown, cursor: JsonPathCursor, at: readonly (string | number)[]) => {
    if (cursor.selected) {
      out.push(at.length === 0 ? "$" : at.join("."));
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        const next = cursor.child(i, v.length);
        if (next) visit(item, next, [...at, i]);
      });
    } else if (v !== null && typeof v === "object") {
      for (const [k, item] of Object.entries(v)) {
        const next = cursor.child(k, 0);
        if (next) visit(item, next, [...at, k]);
      }
    }
  };
  visit(value, compileJsonPaths(paths).root(), []);
  return out;
}

const doc = {
  name: "n",
  email: "top@example.com",
  "x-api-key": "k",
  "0": "zero-key",
  items: [
    { id: 1, email: "a@example.com", card: { number: "4242" } },
    { id: 2, email: "b@example.com", tags: ["t1", "t2"] },
  ],
  nested: { deeper: { email: "c@example.com", list: [{ email: "d@example.com" }] } },
};

describe("parseJsonPath", () => {
  test.each([
    ["$", []],
    ["$.a", [{ descendant: false, selector: { kind: "name", name: "a" } }]],
    ["$['x-api-key']", [{ descendant: false, selector: { kind: "name", name: "x-api-key" } }]],
    ['$["a b"]', [{ descendant: false, selector: { kind: "name", name: "a b" } }]],
    ["$['it\\'s']", [{ descendant: false, selector: { kind: "name", name: "it's" } }]],
    ["$['\\u00e9']", [{ descendant: false, selector: { kind: "name", name: "é" } }]],
    ["$[0]", [{ descendant: false, selector: { kind: "index", index: 0 } }]],
    ["$[-1]", [{ descendant: false, selector: { kind: "index", index: -1 } }]],
    ["$[ * ]", [{ descendant: false, selector: { kind: "wildcard" } }]],
    ["$.*", [{ descendant: false, selector: { kind: "wildcard" } }]],
    ["$..email", [{ descendant: true, selector: { kind: "name", name: "email" } }]],
    ["$..*", [{ descendant: true, selector: { kind: "wildcard" } }]],
    ["$..[0]", [{ descendant: true, selector: { kind: "index", index: 0 } }]],
    ["$.héllo_2", [{ descendant: false, selector: { kind: "name", name: "héllo_2" } }]],
  ] as const)("%p", (path, segments) => {
    expect(parseJsonPath(path)).toEqual(segments as never);
  });

  test.each([
    ["", 0],
    ["a.b", 0],
    ["$.", 2],
    ["$..", 3],
    ["$.a.", 4],
    ["$.x-api-key", 3],
    ["$.1abc", 2],
    ["$[", 2],
    ["$[1", 3],
    ["$[01]", 3],
    ["$[-0]", 2],
    ["$['a", 2],
    ["$['a\\q']", 4],
    ["$[a]", 2],
    ["$ .a", 1],
    ["$.a[*]b", 6],
    ["$...a", 3],
  ] as const)("%p is refused at position %p", (path, position) => {
    let caught: unknown;
    try {
      parseJsonPath(path);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    const error = caught as GatewayError;
    expect(error.code).toBe("E_MASK");
    expect(error.message).toContain(`"${path}"`);
    expect(error.message).toContain(`at position ${position}`);
    expect(error.details).toEqual({ path, position });
  });
});

describe("compileJsonPaths", () => {
  test.each([
    [["$.name"], ["name"]],
    [["$['x-api-key']"], ["x-api-key"]],
    [["$['0']"], ["0"]], // a member named "0", not an index
    [["$.items[0].email"], ["items.0.email"]],
    [["$.items[-1].id"], ["items.1.id"]],
    [["$.items[5].id"], []],
    [["$.items[*].email"], ["items.0.email", "items.1.email"]],
    [["$.items.*.id"], ["items.0.id", "items.1.id"]],
    [["$.items[*].tags[*]"], ["items.1.tags.0", "items.1.tags.1"]],
    [["$.items[*].card"], ["items.0.card"]], // a whole subtree
    [["$..email"], ["email", "items.0.email", "items.1.email", "nested.deeper.email", "nested.deeper.list.0.email"]],
    [["$.nested..email"], ["nested.deeper.email", "nested.deeper.list.0.email"]],
    [["$..list[0]"], ["nested.deeper.list.0"]],
    [["$..[0]"], ["items.0", "items.1.tags.0", "nested.deeper.list.0"]],
    [["$.name", "$.items[1]"], ["name", "items.1"]],
    [["$.name[0]"], []], // a string has no elements
    [["$.items.email"], []], // an array has no members
    [["$.missing.deep"], []],
    [["$"], ["$"]],
  ] as const)("%p", (paths, locations) => {
    expect(selected(paths, doc).sort()).toEqual([...locations].sort());
  });

  test("the shallowest selection wins: nothing below a selected value is visited", () => {
    expect(selected(["$.nested", "$..email"], doc).sort()).toEqual(["email", "items.0.email", "items.1.email", "nested"]);
  });

  test("a cursor is null where no path can select anything further", () => {
    const root = compileJsonPaths(["$.items[*].email"]).root();
    expect(root.child("name", 0)).toBeNull();
    expect(root.child("items", 0)?.child(0, 2)?.child("id", 0)).toBeNull();
    expect(root.child("items", 0)?.child(0, 2)?.child("email", 0)?.selected).toBe(true);
  });

  test("an invalid path among several is refused when compiling", () => {
    expect(() => compileJsonPaths(["$.a", "$.b["])).toThrow('invalid JSON path "$.b["');
  });
});
