import { expect, test } from "bun:test";
import { type LineVerdict, ShellLineGate } from "./shell-lines.ts";

function gate(verdict: (line: string) => LineVerdict) {
  const upstream: string[] = [];
  const told: string[] = [];
  const decided: string[] = [];
  let resumed = 0;
  const pending: (() => void)[] = [];
  const g = new ShellLineGate({
    forward: (b) => upstream.push(b.toString("latin1")),
    decide: (line) => {
      decided.push(line);
      return new Promise((resolve) => pending.push(() => resolve(verdict(line))));
    },
    tell: (t) => told.push(t),
    resume: () => resumed++,
  });
  const settle = async () => {
    while (pending.length > 0) {
      pending.shift()!();
      await Promise.resolve();
      await Promise.resolve();
    }
  };
  return { g, upstream, told, decided, settle, resumed: () => resumed };
}

test("keys go on at once; Enter waits for the line's decision, then goes on", async () => {
  const t = gate(() => ({ allowed: true, message: "" }));
  expect(t.g.write(Buffer.from("ls -l"))).toBe(true);
  expect(t.upstream.join("")).toBe("ls -l");
  expect(t.g.write(Buffer.from("a\x7f\r"))).toBe(false);
  expect(t.upstream.join("")).toBe("ls -la\x7f");
  await t.settle();
  expect(t.decided).toEqual(["ls -l"]);
  expect(t.upstream.join("")).toBe("ls -la\x7f\r");
  expect(t.resumed()).toBe(1);
});

test("a refused line is wiped upstream with ^U and the caller told; the next line is decided on its own", async () => {
  const t = gate((line) => (line.startsWith("rm") ? { allowed: false, message: "no rm" } : { allowed: true, message: "" }));
  t.g.write(Buffer.from("rm -rf x\recho ok\r"));
  await t.settle();
  expect(t.decided).toEqual(["rm -rf x", "echo ok"]);
  expect(t.upstream.join("")).toBe("rm -rf x\x15echo ok\r");
  expect(t.told.join("")).toContain("line refused: no rm");
});

test("^U, ^W and backspace edit the line; escape sequences stay in it (a line policy cannot read)", async () => {
  const t = gate(() => ({ allowed: true, message: "" }));
  t.g.write(Buffer.from("junk\x15echo one two\x17three\r"));
  await t.settle();
  t.g.write(Buffer.from("rm\x1b[A\r"));
  await t.settle();
  expect(t.decided).toEqual(["echo one three", "rm\x1b[A"]);
});

test("an empty Enter is not decided; input that arrives while a line waits is held in order", async () => {
  const t = gate(() => ({ allowed: true, message: "" }));
  t.g.write(Buffer.from("\r"));
  expect(t.decided).toEqual([]);
  expect(t.g.write(Buffer.from("a\r"))).toBe(false);
  expect(t.g.write(Buffer.from("b"))).toBe(false);
  await t.settle();
  expect(t.upstream.join("")).toBe("\ra\rb");
});

test("a line longer than the gate keeps is decided as one it cannot read, not as its start", async () => {
  const t = gate(() => ({ allowed: true, message: "" }));
  t.g.write(Buffer.from(`ls${" ".repeat(16 * 1024)}; rm -rf ~/canary\r`));
  await t.settle();
  expect(t.decided).toHaveLength(1);
  expect(t.decided[0]!.startsWith("ls ")).toBe(true);
  expect(t.decided[0]).toContain("\n");
  // The next line is decided as typed again.
  t.g.write(Buffer.from("ls\r"));
  await t.settle();
  expect(t.decided[1]).toBe("ls");
});
