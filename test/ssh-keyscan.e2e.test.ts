// End to end: `gatehouse ssh-keyscan` against a real sshd prints the host key line to pin, and
// a gateway pinned with exactly that line logs in upstream.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { utils } from "ssh2";
import { runCli } from "./helpers/gateway.ts";
import { devToken, runSsh, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";

setDefaultTimeout(60_000);

let sshd: SshdInstance;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

test("prints the server's key as a host_key line and its fingerprint; the pin it gives works", async () => {
  const r = await runCli(["ssh-keyscan", `127.0.0.1:${sshd.port}`]);
  expect(r.code).toBe(0);
  const wanted = sshd.hostPublicKey.split(" ").slice(0, 2).join(" ");
  expect(r.stdout).toBe(`host_key: "${wanted}"\n`);
  const fp = Bun.spawnSync(["ssh-keygen", "-lf", "-"], { stdin: new TextEncoder().encode(`${sshd.hostPublicKey}\n`) }).stdout.toString().split(" ")[1];
  expect(r.stderr).toContain(`127.0.0.1:${sshd.port} ssh-ed25519 ${fp}`);
  const pin = /host_key: "(.*)"/.exec(r.stdout)![1]!;
  const g = await startSshGateway(sshd, { rules: "  - name: all\n    effect: allow\n", upstreamHostKey: pin });
  try {
    const ssh = await runSsh(g, { token: await devToken(g, "alice", "agents") }, [], { command: "echo pinned" });
    expect(ssh.stdout).toBe("pinned\n");
  } finally {
    await g.gw.stop();
    g.gw.cleanup();
  }
});

test("a port nothing listens on is exit 1 with the reason; bad usage is exit 2", async () => {
  const closed = await runCli(["ssh-keyscan", "127.0.0.1:1"]);
  expect(closed.code).toBe(1);
  expect(closed.stderr).toContain("cannot read the host key of 127.0.0.1:1");
  expect((await runCli(["ssh-keyscan"])).code).toBe(2);
  expect((await runCli(["ssh-keyscan", "host:port"])).code).toBe(2);
});

test("a server with two host keys: a gateway pinned to the RSA one (in a list of pins) asks for it and logs in", async () => {
  const two = await startSshd({ rsaHostKey: true });
  // A rotation: the current (RSA) key and the next one (an ed25519 key the host does not have yet).
  const next = utils.generateKeyPairSync("ed25519").public;
  const g = await startSshGateway(two, { rules: "  - name: all\n    effect: allow\n", upstreamHostKey: [two.rsaHostPublicKey!.split(" ").slice(0, 2).join(" "), next] });
  try {
    const ssh = await runSsh(g, { token: await devToken(g, "alice", "agents") }, [], { command: "echo rsa-pinned" });
    expect(ssh.stderr).toBe("");
    expect(ssh.stdout).toBe("rsa-pinned\n");
  } finally {
    await g.gw.stop();
    g.gw.cleanup();
    await two.stop();
  }
});
