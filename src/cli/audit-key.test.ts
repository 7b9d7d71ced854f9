import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditKeyCommand } from "./audit-key.ts";
import type { Io } from "./command.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const value: Io = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), color: false, env: {}, signal: new AbortController().signal };
  return { io: value, out, err };
}

describe("gatehouse audit-key", () => {
  test("prints the state folder's public key (creating the key as serve would) and the same one again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-key-"));
    dirs.push(dir);
    writeFileSync(join(dir, "gatehouse.yaml"), "gateway: { state_dir: ./st }\n");
    const t = io();
    expect(await auditKeyCommand.run(["--config", join(dir, "gatehouse.yaml")], t.io)).toBe(0);
    const key = t.out.join("");
    expect(key).toMatch(/^ed25519:[A-Za-z0-9_-]{43}\n$/);
    const file = join(dir, "st", "audit-key", "ed25519.pem");
    expect(t.err.join("")).toMatch(new RegExp(`^key id [0-9a-f]{16}, private key ${file}\\n$`));
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const j = io();
    expect(await auditKeyCommand.run(["--config", dir, "--json"], j.io)).toBe(0);
    expect(JSON.parse(j.out.join(""))).toEqual({ key_id: expect.stringMatching(/^[0-9a-f]{16}$/), public_key: key.trim(), file });
    const k = io();
    expect(await auditKeyCommand.run(["--key-file", file], k.io)).toBe(0);
    expect(k.out.join("")).toBe(key);
  });

  test("a configured key file is used, relative to the config, and must exist", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-key-"));
    dirs.push(dir);
    writeFileSync(join(dir, "gatehouse.yaml"), "audit: { path: ./a.log, checkpoints: { key_file: ./keys/audit.pem } }\n");
    await expect(auditKeyCommand.run(["--config", dir], io().io)).rejects.toThrow(`audit signing key ${join(dir, "keys", "audit.pem")} does not exist`);
  });

  test("usage: exactly one of --config and --key-file", async () => {
    await expect(auditKeyCommand.run([], io().io)).rejects.toMatchObject({ code: "E_USAGE" });
    await expect(auditKeyCommand.run(["--config", "a", "--key-file", "b"], io().io)).rejects.toMatchObject({ code: "E_USAGE" });
  });
});
