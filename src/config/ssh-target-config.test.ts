// The `kind: ssh` target's configuration: what the schema and the cross-checks accept and refuse.
import { expect, test } from "bun:test";
import { utils } from "ssh2";
import { GatewayError } from "../core/errors.ts";
import { loadConfigFromSources } from "./load.ts";

const hostPub = utils.generateKeyPairSync("ed25519").public;
const callerPub = utils.generateKeyPairSync("ed25519").public;

const fromText = (text: string) => loadConfigFromSources([{ file: "policies/x.yaml", text }], { baseDir: "/etc/gatehouse", env: { UP_PW: "secret" } });

function yaml(upstream: string, extra = "", identity = ""): string {
  return `${identity}targets:
  - name: web
    kind: ssh
    listen: 127.0.0.1:2222
${extra}    upstream:
${upstream}`;
}
const UP = `      host: 127.0.0.1
      port: 22
      user: deploy
      password: "\${env:UP_PW}"
      host_key: "${hostPub}"
`;

async function failure(text: string): Promise<string> {
  try {
    await fromText(text);
  } catch (e) {
    if (e instanceof GatewayError) return e.message;
    throw e;
  }
  throw new Error("expected the load to fail");
}

test("a target with a password, a pinned key, a users map, an env list and a relative host_key loads", async () => {
  const config = await fromText(yaml(UP, `    host_key: keys/gw_host_key\n    users: { deploy: deploy, ops: root }\n    env: [LANG, "LC_*", APP_MODE]\n    exec_output_limit: 1MB\n    record_input: false\n`));
  const t = config.targets[0]!;
  expect(t.kind).toBe("ssh");
  if (t.kind !== "ssh") return;
  // Relative to the folder of the file that declares it.
  expect(t.host_key).toEndWith("/policies/keys/gw_host_key");
  expect(t.host_key!.startsWith("/")).toBe(true);
  expect(t.upstream.password).toBe("secret");
  expect(t.users).toEqual({ deploy: "deploy", ops: "root" });
});

test("the upstream login needs exactly one of private_key and password", async () => {
  expect(await failure(yaml(UP.replace(/ {6}password.*\n/, "")))).toContain(`targets[0].upstream: the upstream login needs exactly one of "private_key" and "password"`);
  expect(await failure(yaml(`${UP}      private_key: "x"\n`))).toContain("exactly one of");
});

test("host_key is required (no trust on first use) and must be a key line or a SHA256 fingerprint", async () => {
  expect(await failure(yaml(UP.replace(/ {6}host_key.*\n/, "")))).toContain("host_key");
  expect(await failure(yaml(UP.replace(/host_key: .*/, `host_key: "MD5:aa:bb"`)))).toContain(`targets[0].upstream.host_key: host_key "MD5:aa:bb" is neither`);
  await fromText(yaml(UP.replace(/host_key: .*/, `host_key: "SHA256:${"A".repeat(43)}"`)));
});

test("host_key may be a list (a key rotation); a bad entry is placed at its index", async () => {
  await fromText(yaml(UP.replace(/host_key: .*/, `host_key: ["${hostPub}", "SHA256:${"B".repeat(43)}"]`)));
  expect(await failure(yaml(UP.replace(/host_key: .*/, `host_key: ["${hostPub}", "nonsense"]`)))).toContain("targets[0].upstream.host_key[1]: host_key \"nonsense\" is neither");
});

test("env may not name a variable that changes what runs upstream", async () => {
  expect(await failure(yaml(UP, `    env: [LANG, LD_PRELOAD]\n`))).toContain(`targets[0].env[1]: "LD_PRELOAD" cannot be allowed`);
  expect(await failure(yaml(UP, `    env: [BASH_ENV]\n`))).toContain(`"BASH_ENV" cannot be allowed`);
});

test("machine identities may carry SSH public keys; a line that is not one is refused", async () => {
  const identity = (line: string) => `identity:\n  machine_keys:\n    - { name: bot, sha256: "${"a".repeat(64)}", groups: [agents], ssh_public_keys: ["${line}"] }\n`;
  await fromText(yaml(UP, "", identity(callerPub)));
  const wrongType = callerPub.replace("ssh-ed25519", "ssh-rsa");
  expect(await failure(yaml(UP, "", identity(wrongType)))).toContain("identity.machine_keys[0].ssh_public_keys[0]: not an OpenSSH public key line");
});
