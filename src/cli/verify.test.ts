import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../audit/log.ts";
import { loadAuditSigningKey } from "../audit/signing-key.ts";
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
    expect(JSON.parse(j.out.join(""))).toEqual({ ok: true, records: 4, checkpoints: 0, signatures: "not checked", last_checkpoint: null, not_checkpointed: 4, recordings: 0, keys: [] });
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
      // One line saying what is wrong and where help is, not the whole usage.
      expect(t.err.join("")).toContain("Run 'gatehouse verify --help' for usage.");
      expect(t.err.join("")).not.toContain("Usage: gatehouse verify");
    }
    const h = io();
    expect(await verifyCommand.run(["--help"], h.io)).toBe(0);
    expect(h.out.join("")).toContain("Usage: gatehouse verify [LOG] [--config PATH]");
  });
});

describe("gatehouse verify: checkpoints", () => {
  /** A config folder whose gateway wrote `n` records with a checkpoint every 4 and one at close. */
  async function gateway(n: number) {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-verify-cp-"));
    dirs.push(dir);
    writeFileSync(join(dir, "gatehouse.yaml"), "gateway: { state_dir: ./state }\naudit: { path: ./state/audit/audit.log }\n");
    const key = await loadAuditSigningKey(join(dir, "state"), undefined);
    const path = join(dir, "state", "audit", "audit.log");
    const log = await openAuditLog({ path, checkpoints: { key, everyRecords: 1_000_000 } });
    for (let i = 1; i <= n; i++) {
      await log.append({ type: "request", details: { i } });
      if (i % 4 === 0) await log.checkpoint();
    }
    const latest = (await log.checkpoint())!;
    await log.close();
    return { dir, path, key, latest };
  }
  const cut = (path: string, keep: number) => writeFileSync(path, readFileSync(path, "utf8").split("\n").slice(0, keep).map((l) => l + "\n").join(""));

  test("--config finds the log and the state folder's key and says which key it trusted", async () => {
    const g = await gateway(6);
    const t = io();
    expect(await verifyCommand.run(["--config", g.dir], t.io)).toBe(0);
    const out = t.out.join("");
    expect(out).toStartWith("ok: 8 records, chain intact\n");
    expect(out).toContain(`checkpoints: 2, every signature valid; trusted key ${g.key.publicKey.id} (${g.key.publicKey.text}) from ${g.key.path}\n`);
    expect(out).toContain(`last checkpoint: seq 7, hash ${g.latest.hash}, signed ${g.latest.time} by key ${g.key.publicKey.id}\nnot yet checkpointed: 0 records\n`);
  });

  test("--key as text or a file; a log signed by another key fails", async () => {
    const g = await gateway(6);
    const other = await gateway(1);
    const keyFile = join(other.dir, "pub.txt");
    writeFileSync(keyFile, other.key.publicKey.text + "\n");
    expect(await verifyCommand.run([g.path, "--key", g.key.publicKey.text], io().io)).toBe(0);
    for (const wrong of [other.key.publicKey.text, keyFile]) {
      const t = io();
      expect(await verifyCommand.run([g.path, "--key", wrong], t.io)).toBe(1);
      expect(t.out.join("")).toBe(`FAILED: ${g.path}:5 (seq 5): checkpoint signed by key ${g.key.publicKey.id}, not by the trusted key ${other.key.publicKey.id}\n4 records before it are intact\n`);
    }
    // --key wins over the configuration's key.
    expect(await verifyCommand.run(["--config", g.dir, "--key", other.key.publicKey.text], io().io)).toBe(1);
  });

  test("--checkpoint from the admin API and --head: pass on the log, fail once its tail is cut", async () => {
    const g = await gateway(6);
    const saved = join(g.dir, "checkpoint.json");
    writeFileSync(saved, JSON.stringify(g.latest));
    const ok = io();
    expect(await verifyCommand.run(["--config", g.dir, "--checkpoint", saved], ok.io)).toBe(0);
    expect(ok.out.join("")).toContain(`saved head: seq 7 is in the log with hash ${g.latest.hash}: nothing up to it was cut or rewritten\n`);
    expect(await verifyCommand.run([g.path, "--head", `7:${g.latest.hash}`], io().io)).toBe(0);

    cut(g.path, 6); // the last record and the checkpoint after it
    expect(await verifyCommand.run(["--config", g.dir], io().io)).toBe(0); // the chain alone cannot tell
    for (const args of [["--checkpoint", saved], ["--head", `7:${g.latest.hash}`]]) {
      const t = io();
      expect(await verifyCommand.run(["--config", g.dir, ...args], t.io)).toBe(1);
      expect(t.out.join("")).toBe(`FAILED: ${g.path}: the log was cut or rewritten: it ends at seq 6, but the saved head is seq 7 (1 record(s) missing from the end)\n6 records before it are intact\n`);
    }
    const j = io();
    expect(await verifyCommand.run(["--config", g.dir, "--checkpoint", saved, "--json"], j.io)).toBe(1);
    expect(JSON.parse(j.out.join(""))).toMatchObject({ ok: false, records: 6, problem: expect.stringMatching(/^the log was cut or rewritten/) });
  });

  test("a saved checkpoint with a bad signature, or without a key to check it, is refused", async () => {
    const g = await gateway(3);
    const saved = join(g.dir, "checkpoint.json");
    writeFileSync(saved, JSON.stringify({ ...g.latest, seq: g.latest.seq + 1 }));
    const t = io();
    expect(await verifyCommand.run(["--config", g.dir, "--checkpoint", saved], t.io)).toBe(1);
    expect(t.out.join("")).toStartWith(`FAILED: ${saved}: the saved checkpoint is not valid: bad signature by key ${g.key.publicKey.id}`);
    const u = io();
    expect(await verifyCommand.run([g.path, "--checkpoint", saved], u.io)).toBe(2);
    expect(u.err.join("")).toStartWith("gatehouse verify: --checkpoint needs a trusted key to check its signature: give --key or --config");
    for (const args of [[g.path, "--head", "7"], [g.path, "--head", "1:x"], [g.path, "--head", "1:" + "0".repeat(64), "--checkpoint", saved]]) {
      expect(await verifyCommand.run(args, io().io)).toBe(2);
    }
  });
});
