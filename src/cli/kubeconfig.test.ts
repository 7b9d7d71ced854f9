// gatehouse kubeconfig: the cluster (listen URL, the gateway's certificate as CA) and a user
// whose exec plugin mints dev tokens, or reads the token from the environment.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Io } from "./command.ts";
import { kubeconfigCommand } from "./kubeconfig.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-kubeconfig-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (devIssuer: boolean) => `
gateway: { state_dir: ./state }
identity: { dev_issuer: ${devIssuer} }
targets:
  - name: prod-k8s
    kind: kubernetes
    listen: "127.0.0.1:6443"
    upstream: { url: "https://10.0.0.1:6443", token: "\${env:UPSTREAM}" }
rules: []
`;

async function run(args: string[]): Promise<Record<string, any>> {
  let out = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: () => {}, color: false, env: { USER: "alice" }, signal: new AbortController().signal };
  expect(await kubeconfigCommand.run(args, io)).toBe(0);
  return parseYaml(out) as Record<string, any>;
}

test("dev issuer on: server from listen, the generated certificate as CA, gatehouse token --exec-credential as the user", async () => {
  await writeFile(join(dir, "gatehouse.yaml"), config(true));
  const k = await run(["--target", "prod-k8s", "--config", join(dir, "gatehouse.yaml"), "--groups", "developers"]);
  expect(k.clusters[0].cluster.server).toBe("https://127.0.0.1:6443");
  const ca = new X509Certificate(Buffer.from(k.clusters[0].cluster["certificate-authority-data"], "base64"));
  expect(ca.checkIP("127.0.0.1")).toBe("127.0.0.1");
  const exec = k.users[0].user.exec;
  expect(exec.apiVersion).toBe("client.authentication.k8s.io/v1");
  expect(exec.args).toContain("--exec-credential");
  expect(exec.args.join(" ")).toContain("--sub alice --groups developers");
  expect(k["current-context"]).toBe("prod-k8s");
  // The same certificate the next time (it is kept in the state folder, where the gateway reads it).
  const again = await run(["--target", "prod-k8s", "--config", join(dir, "gatehouse.yaml")]);
  expect(again.clusters[0].cluster["certificate-authority-data"]).toBe(k.clusters[0].cluster["certificate-authority-data"]);
});

test("dev issuer off: the token comes from GATEHOUSE_TOKEN (or --token-env)", async () => {
  await writeFile(join(dir, "gatehouse.yaml"), config(false));
  const k = await run(["--target", "prod-k8s", "--config", join(dir, "gatehouse.yaml")]);
  expect(k.users[0].user.exec.args.slice(-4)).toEqual(["token", "--exec-credential", "--from-env", "GATEHOUSE_TOKEN"]);
  const named = await run(["--target", "prod-k8s", "--config", join(dir, "gatehouse.yaml"), "--token-env", "K8S_GW"]);
  expect(named.users[0].user.exec.args.slice(-1)).toEqual(["K8S_GW"]);
});

test("a kubernetes target's missing TLS or CA file is a load error at its key", async () => {
  const { loadConfig } = await import("../config/load.ts");
  await writeFile(join(dir, "gatehouse.yaml"), config(true).replace('token: "${env:UPSTREAM}" }', 'token: "${env:UPSTREAM}", ca: ./missing-ca.pem }') + "");
  await expect(loadConfig(join(dir, "gatehouse.yaml"), { env: { UPSTREAM: "t" } })).rejects.toThrow(/upstream\.ca: cannot read .*missing-ca\.pem/);
});
