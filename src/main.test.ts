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

test("a reader that closes the pipe early ends the command quietly (tail | head -1)", async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(process.env.TMPDIR ?? "/tmp", "gatehouse-epipe-"));
  try {
    const { openAuditLog } = await import("./audit/log.ts");
    const log = await openAuditLog({ path: join(dir, "audit.log"), durability: "batch" });
    for (let i = 0; i < 3000; i++) await log.append({ type: "request", details: { i, pad: "x".repeat(200) } });
    await log.close();
    writeFileSync(join(dir, "g.yaml"), `audit: { path: ${join(dir, "audit.log")} }\n`);
    const proc = Bun.spawn(["bash", "-c", `"${process.execPath}" src/main.ts tail --config "${join(dir, "g.yaml")}" | head -1; exit \${PIPESTATUS[0]}`], {
      cwd: join(import.meta.dir, ".."),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(out.split("\n").filter(Boolean)).toHaveLength(1);
    expect(err).toBe("");
    expect(code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
