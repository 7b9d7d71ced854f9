import { expect, test } from "bun:test";
import { crlfEmitter } from "./relay-filters.ts";

test("crlfEmitter: bare LFs become CR LF, across chunk boundaries; CR LF stays as it is", () => {
  const out: string[] = [];
  const emit = crlfEmitter((b) => (out.push(Buffer.from(b).toString("latin1")), true));
  for (const chunk of ["a\nb", "\r", "\nc\n", "\n", "d\r\n"]) emit(Buffer.from(chunk, "latin1"));
  expect(out.join("")).toBe("a\r\nb\r\nc\r\n\r\nd\r\n");
});
