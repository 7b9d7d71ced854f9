import { expect, test } from "bun:test";
import { editDistance, nearest } from "./suggest.ts";

const COMMANDS = ["serve", "check", "test", "schema", "token", "tail", "verify", "replay", "requests", "approve", "deny", "version"];

test("edit distance counts insertions, deletions, substitutions and swapped neighbours as one step each", () => {
  expect(editDistance("verify", "verify")).toBe(0);
  expect(editDistance("verfy", "verify")).toBe(1);
  expect(editDistance("tial", "tail")).toBe(1);
  expect(editDistance("aprove", "approve")).toBe(1);
  expect(editDistance("", "deny")).toBe(4);
  expect(editDistance("kitten", "sitting")).toBe(3);
});

test("the nearest command is suggested when it is near; nonsense gets nothing", () => {
  expect(nearest("verfy", COMMANDS)).toBe("verify");
  expect(nearest("tial", COMMANDS)).toBe("tail");
  expect(nearest("aprove", COMMANDS)).toBe("approve");
  expect(nearest("requets", COMMANDS)).toBe("requests");
  expect(nearest("Serve", COMMANDS)).toBe("serve");
  expect(nearest("req", COMMANDS)).toBe("requests");
  expect(nearest("frobnicate", COMMANDS)).toBeUndefined();
  expect(nearest("xy", COMMANDS)).toBeUndefined();
});
