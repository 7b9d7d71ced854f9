// `gatehouse kubeconfig --target NAME`: a kubeconfig for a kind: kubernetes target. The cluster
// is the target's listen address with the gateway's certificate as its CA; the user runs
// `gatehouse token --exec-credential` as a client.authentication.k8s.io/v1 exec plugin (a
// dev-issuer token, minted per use) or, when the dev issuer is off, hands kubectl the token in an
// environment variable. kubectl --kubeconfig FILE then works with no other set-up.
import { resolve } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { loadConfig } from "../config/load.ts";
import type { KubernetesTarget } from "../config/schema.ts";
import { GatewayError } from "../core/errors.ts";
import { splitListen } from "../gate/listen.ts";
import { servingCertOf } from "../targets/kubernetes/serving-cert.ts";
import type { Command, Io } from "./command.ts";
import { parseArgs } from "./command.ts";

const USAGE = `Usage: gatehouse kubeconfig --target NAME [--config PATH] [--sub NAME] [--groups G1,G2]
                            [--token-env VAR] [--server URL] [--namespace NS] [--ttl 15m]

Prints a kubeconfig for the kind: kubernetes target NAME to stdout:
  kubectl --kubeconfig <(gatehouse kubeconfig --target prod-k8s) get pods

  --config PATH     the configuration the gateway serves (default ./gatehouse.yaml)
  --sub NAME        with the dev issuer: who the minted tokens name (default $USER)
  --groups LIST     with the dev issuer: their groups
  --token-env VAR   take the token from the environment variable VAR each time (an OIDC token or
                    a machine key); the default when identity.dev_issuer is off (GATEHOUSE_TOKEN)
  --server URL      the URL clients reach the target at (default https://<listen>)
  --namespace NS    the context's default namespace
  --ttl DURATION    with the dev issuer: each token's lifetime (default 15m)`;

/** How kubectl runs this binary: the compiled gatehouse, or bun with the entry script. */
function selfCommand(): { command: string; args: string[] } {
  const main = typeof Bun !== "undefined" ? Bun.main : "";
  if (main === "" || main.startsWith("/$bunfs") || main.startsWith("B:\\~BUN")) return { command: process.execPath, args: [] };
  return { command: process.execPath, args: [main] };
}

export async function runKubeconfig(args: readonly string[], io: Io): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    target: "string",
    config: "string",
    sub: "string",
    groups: "strings",
    "token-env": "string",
    server: "string",
    namespace: "string",
    ttl: "string",
    help: "boolean",
  });
  if (flags.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  if (positional.length > 0) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
  const name = flags.target as string | undefined;
  if (!name) throw new GatewayError("E_USAGE", "--target NAME is required: the kind: kubernetes target to connect to");
  const configPath = resolve((flags.config as string | undefined) ?? "gatehouse.yaml");
  const config = await loadConfig(configPath, { env: io.env, resolveSecrets: false });
  const target = config.targets.find((t) => t.name === name);
  if (target === undefined) throw new GatewayError("E_USAGE", `no target "${name}" in ${configPath} (targets: ${config.targets.map((t) => t.name).join(", ") || "none"})`);
  if (target.kind !== "kubernetes") throw new GatewayError("E_USAGE", `target "${name}" is kind: ${target.kind}, not kubernetes`);
  const cert = servingCertOf(target as KubernetesTarget, config.gateway.state_dir);

  const [host, port] = splitListen(target.listen);
  const reach = ["0.0.0.0", "::", ""].includes(host) ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const server = (flags.server as string | undefined) ?? `https://${reach}:${port}`;
  const tokenEnv = flags["token-env"] as string | undefined;
  const self = selfCommand();
  let execArgs: string[];
  if (tokenEnv !== undefined || !config.identity.dev_issuer) {
    execArgs = ["token", "--exec-credential", "--from-env", tokenEnv ?? "GATEHOUSE_TOKEN"];
  } else {
    const sub = (flags.sub as string | undefined) ?? io.env.USER ?? "developer";
    const groups = ((flags.groups as string[] | undefined) ?? []).join(",");
    execArgs = ["token", "--exec-credential", "--config", configPath, "--sub", sub, ...(groups ? ["--groups", groups] : []), "--ttl", (flags.ttl as string | undefined) ?? "15m"];
  }
  const ns = flags.namespace as string | undefined;
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server, "certificate-authority-data": Buffer.from(cert.certPem).toString("base64") } }],
    users: [
      {
        name: `gatehouse-${name}`,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: self.command,
            args: [...self.args, ...execArgs],
            interactiveMode: "Never",
            provideClusterInfo: false,
          },
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: `gatehouse-${name}`, ...(ns ? { namespace: ns } : {}) } }],
    "current-context": name,
  };
  io.stdout(stringifyYaml(kubeconfig));
  return 0;
}

export const kubeconfigCommand: Command = {
  name: "kubeconfig",
  summary: "print a kubeconfig for a Kubernetes target",
  usage: USAGE,
  run: (args, io) => runKubeconfig(args, io),
};
