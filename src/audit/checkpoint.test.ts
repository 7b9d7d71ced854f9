import { describe, expect, test } from "bun:test";
import { tempLogs } from "./audit-test-helpers.ts";
import { checkpointMessage, checkpointProblem, parseCheckpoint, signCheckpoint } from "./checkpoint.ts";
import { loadAuditSigningKey } from "./signing-key.ts";

const tempDir = tempLogs("gatehouse-checkpoint-", "state");
const HASH = "ab".repeat(32);
const TIME = "2026-12-06T20:00:00.123Z";

describe("checkpoint signatures", () => {
  test("the signed bytes are the documented lines, with the domain prefix and the key id", () => {
    expect(checkpointMessage("0123456789abcdef", 42, HASH, TIME).toString("ascii")).toBe(
      `gatehouse audit checkpoint v1\n0123456789abcdef\n42\n${HASH}\n${TIME}\n`,
    );
  });

  test("a checkpoint checks out with its key, and any changed field breaks the signature", async () => {
    const key = await loadAuditSigningKey(tempDir(), undefined);
    const cp = signCheckpoint(key, { seq: 42, hash: HASH }, TIME);
    expect(cp).toMatchObject({ seq: 42, hash: HASH, time: TIME, key_id: key.publicKey.id });
    expect(parseCheckpoint(JSON.parse(JSON.stringify(cp)))).toEqual({ ok: true, checkpoint: cp });
    expect(checkpointProblem(cp, [key.publicKey])).toBeNull();
    for (const changed of [{ seq: 43 }, { hash: "cd".repeat(32) }, { time: "2026-12-06T20:00:00.124Z" }]) {
      expect(checkpointProblem({ ...cp, ...changed }, [key.publicKey])).toMatch(/^bad signature by key [0-9a-f]{16}: the checkpoint or the head it signs was altered$/);
    }
    const sig = Buffer.from(cp.signature, "base64url");
    sig[10]! ^= 1;
    expect(checkpointProblem({ ...cp, signature: sig.toString("base64url") }, [key.publicKey])).toStartWith("bad signature");
  });

  test("a checkpoint by another key fails, even when it is a valid signature", async () => {
    const ours = await loadAuditSigningKey(tempDir(), undefined);
    const theirs = await loadAuditSigningKey(tempDir(), undefined);
    const cp = signCheckpoint(theirs, { seq: 1, hash: HASH }, TIME);
    expect(checkpointProblem(cp, [ours.publicKey])).toBe(`signed by key ${theirs.publicKey.id}, not by the trusted key ${ours.publicKey.id}`);
    // Claiming our key id does not help: the signature is checked with our key.
    expect(checkpointProblem({ ...cp, key_id: ours.publicKey.id }, [ours.publicKey])).toStartWith("bad signature");
    expect(checkpointProblem(cp, [ours.publicKey, theirs.publicKey])).toBeNull();
  });

  test("malformed checkpoints say which field is wrong; extra fields are dropped", () => {
    const good = { seq: 1, hash: HASH, time: TIME, key_id: "0123456789abcdef", signature: "A".repeat(86) };
    expect(parseCheckpoint({ ...good, note: "saved by cron" })).toEqual({ ok: true, checkpoint: good });
    expect(parseCheckpoint(null)).toMatchObject({ ok: false, problem: expect.stringMatching(/^\/: Expected object/) });
    const { hash: _dropped, ...noHash } = good;
    expect(parseCheckpoint(noHash)).toEqual({ ok: false, problem: "/hash: Expected required property" });
    for (const [field, bad] of [["seq", "1"], ["seq", -1], ["hash", "x"], ["time", "2026-12-06T20:00:00Z"], ["key_id", "KEY"], ["signature", "short"]] as const) {
      expect(parseCheckpoint({ ...good, [field]: bad })).toMatchObject({ ok: false, problem: expect.stringMatching(new RegExp(`^/${field}: `)) });
    }
  });
});
