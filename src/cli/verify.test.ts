import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../audit/log.ts";
import type { Io } from "./command.ts";
import { verifyCommand } from "./verify.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function logWith(n: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-verify-cli-"));
  dirs.push(dir);
  const path = join(dir, "audit.log");
  const log = await openAuditLog({ path });
  for (let i = 0; i < n; i++) await log.append({ type: "request", details: { i } });
  await log.close();
  return path;
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const value: Io = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), color: false, env: {}, signal: new AbortController().signal };
  return { io: value, out, err };
}

describe("gatehouse verify", () => {
  test("exit 0 and the record count for an intact log", async () => {
    const path = await logWith(4);
    const t = io();
    expect(await verifyCommand.run([path], t.io)).toBe(0);
    expect(t.out.join("")).toBe(
      "ok: 4 records, chain intact\n" +
        "checkpoints: 0, signatures NOT checked: no key (give --key, from `gatehouse audit-key`, or --config)\n" +
        "no checkpoint in the log\nnot yet checkpointed: 4 records\n",
    );
    const j = io();
    expect(await verifyCommand.run([path, "--json"], j.io)).toBe(0);
    expect(JSON.parse(j.out.join(""))).toEqual({ ok: true, records: 4, checkpoints: 0, signatures: "not checked", last_checkpoint: null, not_checkpointed: 4, keys: [] });
  });

  test("exit 1 with file:line and the problem for a damaged log", async () => {
    const path = await logWith(4);
    writeFileSync(path, readFileSync(path, "utf8").replace('"i":2', '"i":5'));
    const t = io();
    expect(await verifyCommand.run([path], t.io)).toBe(1);
    expect(t.out.join("")).toMatch(new RegExp(`^FAILED: ${path.replace(/[.]/g, "\\.")}:3 \\(seq 3\\): hash mismatch: record says [0-9a-f]{64}, computed [0-9a-f]{64}\\n2 records before it are intact\\n$`));
    const j = io();
    expect(await verifyCommand.run(["--json", path], j.io)).toBe(1);
    expect(JSON.parse(j.out.join(""))).toMatchObject({ ok: false, file: path, line: 3, seq: 3, records: 2 });
  });

  test("exit 2 for bad usage; --help prints the usage", async () => {
    for (const args of [[], ["a", "b"], ["--jsn", "x"]]) {
      const t = io();
      expect(await verifyCommand.run(args, t.io)).toBe(2);
      expect(t.err.join("")).toContain("Usage: gatehouse verify");
    }
    const h = io();
    expect(await verifyCommand.run(["--help"], h.io)).toBe(0);
    expect(h.out.join("")).toContain("Usage: gatehouse verify [LOG] [--config PATH]");
  });
});
