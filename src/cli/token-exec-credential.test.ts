// gatehouse token --exec-credential: what kubectl's exec credential plugin protocol expects.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import type { Io } from "./command.ts";
import { tokenCommand } from "./token.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-exec-cred-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env, signal: new AbortController().signal };
  const code = await tokenCommand.run(args, io);
  return { code, out, err };
}

test("a dev token as an ExecCredential (client.authentication.k8s.io/v1) with its expiry, and nothing on stderr", async () => {
  const r = await run(["--exec-credential", "--sub", "alice", "--groups", "developers", "--ttl", "10m", "--state-dir", dir]);
  expect(r.code).toBe(0);
  expect(r.err).toBe("");
  const cred = JSON.parse(r.out) as { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } };
  expect(cred.apiVersion).toBe("client.authentication.k8s.io/v1");
  expect(cred.kind).toBe("ExecCredential");
  const claims = decodeJwt(cred.status.token);
  expect(claims.sub).toBe("alice");
  // RFC 3339 without fractions, as Go's metav1.Time parses it, at the token's exp.
  expect(cred.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(Date.parse(cred.status.expirationTimestamp) / 1000).toBe(claims.exp!);
});

test("--from-env VAR: the token in the environment, as an ExecCredential; unset is a usage error", async () => {
  const r = await run(["--exec-credential", "--from-env", "MY_TOKEN"], { MY_TOKEN: "gh_machine_key_1\n" });
  expect(JSON.parse(r.out)).toEqual({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: "gh_machine_key_1" } });
  await expect(run(["--exec-credential", "--from-env", "MY_TOKEN"])).rejects.toThrow(/MY_TOKEN is not set/);
  await expect(run(["--from-env", "MY_TOKEN"], { MY_TOKEN: "x" })).rejects.toThrow(/goes with --exec-credential/);
});
