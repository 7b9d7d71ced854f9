import { expect, test } from "bun:test";
import type { Io } from "./cli/command.ts";
import { main } from "./main.ts";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env: {}, signal: new AbortController().signal };
  const code = await main(argv, io);
  return { code, out, err };
}

test("an unknown command suggests the nearest one and points to --help, without the whole help", async () => {
  const r = await run(["verfy", "audit.log"]);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`gatehouse: unknown command "verfy"; did you mean "verify"?\nRun 'gatehouse --help' for the list of commands.\n`);
  expect(r.out).toBe("");
});

test("an unknown command with nothing near says so; names of Object's own properties are not commands", async () => {
  const r = await run(["frobnicate"]);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`gatehouse: unknown command "frobnicate"\nRun 'gatehouse --help' for the list of commands.\n`);
  const proto = await run(["constructor"]);
  expect(proto.code).toBe(2);
  expect(proto.err).toContain(`unknown command "constructor"`);
});

test("a usage error prints the one line that is wrong and where the help is", async () => {
  const r = await run(["approve"]);
  expect(r.code).toBe(2);
  expect(r.err).toBe(`gatehouse approve: missing request id\nRun 'gatehouse approve --help' for usage.\n`);
  const t = await run(["tail", "--bogus"]);
  expect(t.code).toBe(2);
  expect(t.err).toBe(`gatehouse tail: unknown option: "--bogus"\nRun 'gatehouse tail --help' for usage.\n`);
});

test("--help still prints the whole help, on stdout", async () => {
  const r = await run(["approve", "--help"]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("Usage: gatehouse approve");
});
