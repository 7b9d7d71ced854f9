// A FunctionCall message decided as the SQL call would be: set_config's setting and change.
import { expect, test } from "bun:test";
import type { FunctionCall } from "../protocol/frontend-message.ts";
import type { StatementInfo } from "../sql/analysis.ts";
import { withSetConfig } from "./function-call.ts";

const enc = new TextEncoder();
const base: StatementInfo = { classes: ["function_call"], relations: [], functions: ["pg_catalog.set_config"], text: "FunctionCall pg_catalog.set_config", node: "FunctionCall" };
const call = (args: (Uint8Array | null)[], argumentFormats: (0 | 1)[] = []): FunctionCall => ({ type: "FunctionCall", functionOid: 2078, argumentFormats, arguments: args, resultFormat: 0 });

test("set_config by FunctionCall reports the setting it changes and the change, like the SQL call", () => {
  const info = withSetConfig(base, call([enc.encode("search_path"), enc.encode("hr, pg_catalog"), enc.encode("false")]));
  expect(info.classes).toEqual(["function_call", "set"]);
  expect(info.functions).toContain("pg_catalog.set_config(search_path)");
  expect(info.sets).toEqual([{ name: "search_path", value: "hr, pg_catalog", local: false }]);
  // Binary format: a boolean is one byte.
  const local = withSetConfig(base, call([enc.encode("Search_Path"), enc.encode("hr"), new Uint8Array([1])], [1]));
  expect(local.sets).toEqual([{ name: "search_path", value: "hr", local: true }]);
});

test("an unreadable name counts as every sensitive setting, and the path becomes unknown", () => {
  const info = withSetConfig(base, call([null, enc.encode("hr"), enc.encode("f")]));
  expect(info.functions).toEqual(expect.arrayContaining(["pg_catalog.set_config(search_path)", "pg_catalog.set_config(role)", "pg_catalog.set_config(client_encoding)"]));
  expect(info.sets).toEqual([{ name: "search_path", value: null, local: false, opaque: true }]);
  const noValue = withSetConfig(base, call([enc.encode("search_path"), null, enc.encode("f")]));
  expect(noValue.sets?.[0]?.opaque).toBe(true);
});
