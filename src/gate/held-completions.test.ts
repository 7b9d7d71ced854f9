import { expect, test } from "bun:test";
import { ObjectTemplate } from "../audit/record-template.ts";
import { canonicalJson } from "../audit/canonical-json.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { HeldCompletions } from "./held-completions.ts";

const ENTRY = new ObjectTemplate({}, ["decision", "rows", "tag"]);
type Item = { decision: number; rows: number; tag?: string };

function held(waitMs: number) {
  const alone: Item[][] = [];
  const h = new HeldCompletions<Item>((i) => ENTRY.fill(i), (items) => alone.push([...items]), waitMs);
  return { h, alone };
}

test("take() gives everything held as one canonical array, in order, and holds nothing after", () => {
  const { h, alone } = held(60_000);
  expect(h.take()).toBeUndefined();
  h.hold({ decision: 7, rows: 1, tag: "SELECT 1" });
  h.hold({ decision: 7, rows: 0 });
  const taken = h.take()!;
  expect(taken.json).toBe(canonicalJson([{ decision: 7, rows: 1, tag: "SELECT 1" }, { decision: 7, rows: 0 }]));
  expect(h.take()).toBeUndefined();
  h.flush();
  expect(alone).toEqual([]); // taken ones are never written again
});

test("what no record takes is written on its own after the wait, once", async () => {
  const { h, alone } = held(1);
  h.hold({ decision: 1, rows: 1 });
  h.hold({ decision: 2, rows: 2 });
  await waitFor("the held completions written on their own", () => (alone.length > 0 ? true : null));
  expect(alone).toEqual([[{ decision: 1, rows: 1 }, { decision: 2, rows: 2 }]]);
  expect(h.take()).toBeUndefined();
  // A later one starts a new wait.
  h.hold({ decision: 3, rows: 3 });
  await waitFor("the next one", () => (alone.length > 1 ? true : null));
  expect(alone[1]).toEqual([{ decision: 3, rows: 3 }]);
});

test("flush() writes what is held at once (the session ends); nothing is held after it", () => {
  const { h, alone } = held(60_000);
  h.hold({ decision: 4, rows: 1 });
  h.flush();
  expect(alone).toEqual([[{ decision: 4, rows: 1 }]]);
  expect(h.size).toBe(0);
  h.flush();
  expect(alone.length).toBe(1);
});
