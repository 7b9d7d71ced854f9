import { expect, test } from "bun:test";
import { paint, parseArgs } from "./command.ts";

test("flags with values, = form, booleans, repeated strings, aliases and positionals", () => {
  const r = parseArgs(["--config", "a.yaml", "--since=10m", "-f", "--identity", "x", "--identity", "y", "log", "--", "--raw"], {
    config: "string",
    since: "string",
    follow: "boolean",
    identity: "strings",
  }, { f: "follow" });
  expect(r.flags).toEqual({ config: "a.yaml", since: "10m", follow: true, identity: ["x", "y"] });
  expect(r.positional).toEqual(["log", "--raw"]);
});

test("unknown flags, missing values and values on booleans are usage errors", () => {
  expect(() => parseArgs(["--nope"], {})).toThrow(/unknown option/);
  expect(() => parseArgs(["--config"], { config: "string" })).toThrow(/needs a value/);
  expect(() => parseArgs(["--json=1"], { json: "boolean" })).toThrow(/takes no value/);
});

test("colour only when asked", () => {
  expect(paint({ color: false }).red("x")).toBe("x");
  expect(paint({ color: true }).red("x")).toBe("\x1b[31mx\x1b[0m");
});
