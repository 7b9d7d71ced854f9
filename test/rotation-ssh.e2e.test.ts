// End to end: the SSH target's upstream private key comes from ${file:…}. A second key is added
// to the sshd's authorized_keys, written to the file, and the first key removed upstream: the
// session open through the gateway goes on, a new session logs in with the new key, and the audit
// log records the rotation without the key. Compiled binary, real sshd and ssh.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, sshLogin, startSshGateway, type SshGateway } from "./helpers/ssh-gateway.ts";
import { startSshd, type SshdInstance } from "./helpers/sshd.ts";
import { within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let token: string;

beforeAll(async () => {
  sshd = await startSshd();
  g = await startSshGateway(sshd, {
    rules: `
  - name: agents
    groups: [agents]
    targets: [web]
    effect: allow
`,
  });
  token = await devToken(g, "alice", "agents");
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

test("a new upstream key: the open session goes on, a new session logs in with the new key, the rotation is recorded", async () => {
  // A session that waits for its input: it is open across the whole rotation.
  const { args, env } = sshLogin(g, { token });
  const open = Bun.spawn(["ssh", ...args, "deploy@127.0.0.1", "echo ready; read line; echo \"got $line\""], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = open.stdout.getReader();
  let out = "";
  const dec = new TextDecoder();
  const readUntil = async (text: string) => {
    while (!out.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the open session ended before printing ${JSON.stringify(text)}: ${JSON.stringify(out)}`);
      out += dec.decode(value);
    }
  };
  await within("the open session to be logged in upstream", readUntil("ready\n"));
  const first = await runSsh(g, { token }, [], { command: "echo before" });
  expect(first.stdout).toBe("before\n");

  const keyFile = join(g.gw.dir, "new_key");
  const made = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rotated", "-f", keyFile]);
  expect(made.exitCode).toBe(0);
  const authorized = join(sshd.dir, "authorized_keys");
  const oldLine = readFileSync(authorized, "utf8");
  const newLine = readFileSync(`${keyFile}.pub`, "utf8");
  // During the rotation the server accepts both keys.
  writeFileSync(authorized, oldLine + newLine);

  const upstreamKey = join(g.gw.dir, "upstream_key");
  writeFileSync(`${upstreamKey}.tmp`, readFileSync(keyFile), { mode: 0o600 });
  renameSync(`${upstreamKey}.tmp`, upstreamKey);
  const records = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "secret.rotated"), "a secret.rotated record");
  expect(records.find((r) => r.type === "secret.rotated")!.details).toEqual({
    reference: "${file:./upstream_key}",
    keys: ["targets.web.upstream.private_key"],
    targets: ["web"],
    cause: "file",
  });

  // The old key no longer logs in upstream: a new session must be using the new one.
  writeFileSync(authorized, newLine);
  const fresh = await runSsh(g, { token }, [], { command: "echo after" });
  expect(fresh.stderr).not.toContain("refused");
  expect(fresh.stdout).toBe("after\n");
  expect(fresh.code).toBe(0);

  open.stdin.write("still here\n");
  await open.stdin.end();
  await within("the open session to answer", readUntil("got still here\n"));
  const code = await within("the open session to finish", open.exited);
  expect(out).toBe("ready\ngot still here\n");
  expect(code).toBe(0);

  const audit = readFileSync(g.gw.auditPath, "utf8");
  const secretLine = readFileSync(keyFile, "utf8").split("\n")[1]!;
  expect(audit).not.toContain(secretLine);
  expect(g.gw.logs()).not.toContain(secretLine);
  rmSync(keyFile);
});
