// The console's client script is kept as TypeScript text: escapes in it must reach the browser as
// written (a plain template literal turned the regex /\s+/ into /s+/ and the live announcement
// "gatehouse-test-client wants SQL" into "gatehou e-te t-client want SQL").
import { expect, test } from "bun:test";
import { CONSOLE_JS } from "./layout.ts";

test("the client script keeps its backslash escapes", () => {
  expect(CONSOLE_JS).toContain(String.raw`.replace(/\s+/g," ")`);
  // It parses as JavaScript.
  expect(() => new Function(CONSOLE_JS)).not.toThrow();
  // The announcement collapses white space and nothing else.
  const collapse = new Function("t", String.raw`return t.replace(/\s+/g," ").trim();`) as (t: string) => string;
  expect(collapse(" gatehouse-test-client\n  wants SQL on sales-db ")).toBe("gatehouse-test-client wants SQL on sales-db");
});
