// Column masking of result rows: which columns a plan masks (by name, by origin, fail closed on
// unknown origin) and how DataRows are rewritten in text and binary formats.
import { expect, test } from "bun:test";
import { compileDetectors } from "../../../masking/detectors.ts";
import { compileMaskSpec, planColumns, withResultFormats, maskedTables, bareMaskNames, type Arena } from "./mask-plan.ts";
import type { FieldDescription } from "../protocol/backend-message.ts";
import { parseDataRow } from "../protocol/data-row.ts";
import { encodeDataRow } from "../protocol/encode.ts";

const field = (name: string, typeOid = 25, format: 0 | 1 = 0, tableOid = 0, columnAttr = 0): FieldDescription => ({ name, tableOid, columnAttr, typeOid, typeSize: -1, typeModifier: -1, format });
const spec = (columns: string[], detectors: string[] = [], unknown = false) => compileMaskSpec({ json: [], columns, detectors }, unknown, compileDetectors);
const text = (raw: Uint8Array) => parseDataRow(raw.subarray(5)).values.map((v) => (v === null ? null : new TextDecoder().decode(v)));
const origin = (schema: string, table: string, column: string) => ({ schema, table, column });

test("columns are masked by output name, by origin column name and by schema.table.column", () => {
  const fields = [field("id", 23), field("email"), field("contact", 25, 0, 100, 3), field("x", 25, 0, 200, 2)];
  const origins = [null, null, origin("sales", "customers", "email"), origin("hr", "staff", "ssn")];
  const plan = planColumns(spec(["email", "hr.staff.ssn"]), fields, origins);
  expect(text(plan.rewrite(encodeDataRow(["1", "a@b.c", "c@d.e", "123"])))).toEqual(["1", "[masked]", "[masked]", "[masked]"]);
  expect(plan.masked).toBe(3);
});

test("NULL stays NULL, and a row without masked columns comes back as the same bytes", () => {
  const plan = planColumns(spec(["email"]), [field("id", 23), field("email")], [null, null]);
  expect(text(plan.rewrite(encodeDataRow(["7", null])))).toEqual(["7", null]);
  const none = planColumns(spec(["email"]), [field("id", 23), field("name")], [null, null]);
  expect(none.passthrough).toBe(true);
  const raw = encodeDataRow(["7", "x"]);
  expect(none.rewrite(raw)).toBe(raw);
});

test("fail closed: columns of unknown origin are masked when the statement reads a masked table", () => {
  const fields = [field("id", 23, 0, 100, 1), field("?column?"), field("name", 25, 0, 100, 2)];
  const origins = [origin("sales", "customers", "id"), null, origin("sales", "customers", "name")];
  expect(text(planColumns(spec(["email"], [], true), fields, origins).rewrite(encodeDataRow(["1", "a@b.c", "Ann"])))).toEqual(["1", "[masked]", "Ann"]);
  expect(text(planColumns(spec(["email"], [], false), fields, origins).rewrite(encodeDataRow(["1", "a@b.c", "Ann"])))).toEqual(["1", "a@b.c", "Ann"]);
});

test("binary columns: text-like ones get [masked], jsonb a JSON string, others NULL", () => {
  const fields = [field("email", 1043, 1), field("email", 3802, 1), field("email", 23, 1), field("email", 114, 0)];
  const plan = planColumns(spec(["email"]), fields, [null, null, null, null]);
  const row = parseDataRow(plan.rewrite(encodeDataRow([new TextEncoder().encode("a@b.c"), new Uint8Array([1, 0x22, 0x78, 0x22]), new Uint8Array([0, 0, 0, 5]), '"a@b.c"'])).subarray(5)).values;
  expect(new TextDecoder().decode(row[0]!)).toBe("[masked]");
  expect([...row[1]!]).toEqual([1, ...new TextEncoder().encode('"[masked]"')]);
  expect(row[2]).toBeNull();
  expect(new TextDecoder().decode(row[3]!)).toBe('"[masked]"');
});

test("detectors scan text values and binary text-like values; other binary types they cannot read become NULL", () => {
  const fields = [field("note"), field("bin", 25, 1), field("n", 23, 1), field("arr", 1009, 1), field("doc", 3802, 1)];
  const plan = planColumns(spec([], ["email"]), fields, fields.map(() => null));
  const jsonb = new Uint8Array([1, ...new TextEncoder().encode('{"e":"x@y.org"}')]);
  const row = parseDataRow(plan.rewrite(encodeDataRow(["mail me at a@b.io", "c@d.io", new Uint8Array([0, 0, 0, 1]), new Uint8Array([0, 0, 0, 0]), jsonb])).subarray(5)).values;
  const dec = (v: Uint8Array | null) => (v === null ? null : new TextDecoder().decode(v));
  expect(dec(row[0]!)).toBe("mail me at [masked:email]");
  expect(dec(row[1]!)).toBe("[masked:email]");
  expect([...row[2]!]).toEqual([0, 0, 0, 1]);
  expect(row[3]).toBeNull();
  expect(row[4]![0]).toBe(1);
  expect(dec(row[4]!.subarray(1))).toBe('{"e":"[masked:email]"}');
});

test("text that is not UTF-8 is masked whole when detectors must read it", () => {
  const plan = planColumns(spec([], ["email"]), [field("note")], [null]);
  expect(text(plan.rewrite(encodeDataRow([new Uint8Array([0xff, 0xfe, 0x41])])))).toEqual(["[masked]"]);
});

test("rewriteInto writes many rows into one arena, byte-identical to rewrite()", () => {
  const fields = [field("id", 23), field("email"), field("n", 23, 1)];
  const plan = planColumns(spec(["email", "n"]), fields, [null, null, null]);
  expect(plan.rewriteInto).not.toBeNull();
  const arena: Arena = { buf: new Uint8Array(0), pos: 0 };
  const rows = [encodeDataRow(["1", "a@b.c", new Uint8Array(4)]), encodeDataRow(["22", null, null]), encodeDataRow(["333", "x", new Uint8Array(4)])];
  const spans = rows.map((r) => [plan.rewriteInto!(r, arena), arena.pos] as const);
  rows.forEach((r, i) => {
    const [s, e] = spans[i]!;
    expect([...arena.buf.subarray(s, e)]).toEqual([...plan.rewrite(r)]);
  });
  expect(text(arena.buf.subarray(spans[0]![0], spans[0]![1]))).toEqual(["1", "[masked]", null]);
});

test("a row whose column count does not match its RowDescription is refused", () => {
  const plan = planColumns(spec(["email"]), [field("email")], [null]);
  expect(() => plan.rewrite(encodeDataRow(["a", "b"]))).toThrow(/cannot mask/);
  expect(() => plan.rewriteInto!(encodeDataRow(["a", "b"]), { buf: new Uint8Array(0), pos: 0 })).toThrow(/cannot mask/);
});

test("a truncated row is refused, not passed on", () => {
  const plan = planColumns(spec(["email"]), [field("email")], [null]);
  const raw = encodeDataRow(["abcdef"]);
  const broken = raw.slice(0, raw.length - 2);
  broken[4] = broken.length - 1;
  expect(() => plan.rewriteInto!(broken, { buf: new Uint8Array(0), pos: 0 })).toThrow(/overruns/);
});

test("helpers: tables with origin masks, bare names, portal formats", () => {
  expect([...maskedTables({ json: [], columns: ["email", "Sales.Customers.Email"], detectors: [] })]).toEqual(["sales.customers"]);
  expect([...bareMaskNames({ json: [], columns: ["email", "sales.customers.ssn"], detectors: [] })]).toEqual(["email", "ssn"]);
  const f = [field("a"), field("b")];
  expect(withResultFormats(f, []).map((x) => x.format)).toEqual([0, 0]);
  expect(withResultFormats(f, [1]).map((x) => x.format)).toEqual([1, 1]);
  expect(withResultFormats(f, [0, 1]).map((x) => x.format)).toEqual([0, 1]);
});

test("what a write returns (trustOrigins false) counts as of unknown origin", () => {
  const fields = [field("name", 25, 0, 100, 2), field("id", 23, 0, 100, 1)];
  const origins = [origin("sales", "customers", "name"), origin("sales", "customers", "id")];
  const returning = compileMaskSpec({ json: [], columns: ["email"], detectors: [] }, true, compileDetectors, false);
  expect(text(planColumns(returning, fields, origins).rewrite(encodeDataRow(["ann@x.y", "1"])))).toEqual(["[masked]", "[masked]"]);
  // Reads keep trusting origins.
  expect(planColumns(spec(["email"], [], true), fields, origins).passthrough).toBe(true);
  // Origin masks still apply by origin.
  const byOrigin = compileMaskSpec({ json: [], columns: ["sales.customers.name"], detectors: [] }, false, compileDetectors, false);
  expect(text(planColumns(byOrigin, fields, origins).rewrite(encodeDataRow(["n", "1"])))).toEqual(["[masked]", "1"]);
});
