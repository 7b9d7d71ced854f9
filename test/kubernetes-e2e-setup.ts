// Shared by the Kubernetes e2e tests: the stand-in API server, the compiled gateway with a
// kind: kubernetes target in front of it (the seed prod-approval rules plus `rules`), a
// kubeconfig made by `gatehouse kubeconfig`, and real kubectl run with it.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startKubeApiServer, type KubeApiServer } from "./helpers/kube-apiserver/index.ts";
import { BINARY, makeTempDir, runCli, startGatewayProcess, type GatewayProcess } from "./helpers/gateway.ts";

export const SEED_RULES = readFileSync(resolve(import.meta.dir, "../policies/prod-approval/gatehouse.yaml"), "utf8");

export interface KubeSetup {
  readonly api: KubeApiServer;
  readonly gw: GatewayProcess;
  readonly dir: string;
  /** kubectl as `sub` in `groups`, through the gateway. */
  kubectl(args: string[], opts?: { sub?: string; groups?: string[]; stdin?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** A kubeconfig path for this identity (made once by gatehouse kubeconfig). */
  kubeconfig(sub: string, groups: string[]): Promise<string>;
  token(sub: string, groups: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** `identity`: the YAML of the identity section's flow map (default `{ dev_issuer: true }`; keep dev_issuer for token/kubeconfig). */
export async function startKubeSetup(opts: { target?: string[]; rules?: string; identity?: string; apiOptions?: Parameters<typeof startKubeApiServer>[0] } = {}): Promise<KubeSetup> {
  const api = await startKubeApiServer({ namespaces: ["staging", "production"], ...opts.apiOptions });
  const dir = makeTempDir("gatehouse-kube-");
  writeFileSync(join(dir, "upstream-ca.pem"), api.caPem);
  const extra = (opts.target ?? []).map((l) => `    ${l}\n`).join("");
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: ${opts.identity ?? "{ dev_issuer: true }"}
targets:
  - name: prod-k8s
    kind: kubernetes
    listen: "127.0.0.1:0"
    upstream:
      url: ${api.url}
      ca: ./upstream-ca.pem
      token: \${env:KUBE_UPSTREAM_TOKEN}
${extra}rules:
${opts.rules ?? ""}${SEED_RULES.slice(SEED_RULES.indexOf("rules:\n") + "rules:\n".length)}`;
  const gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml }, dir, env: { KUBE_UPSTREAM_TOKEN: api.token } });
  const configs = new Map<string, string>();
  const setup: KubeSetup = {
    api,
    gw,
    dir,
    async kubeconfig(sub, groups) {
      const key = `${sub}:${groups.join(",")}`;
      const known = configs.get(key);
      if (known) return known;
      const r = await runCli(["kubeconfig", "--target", "prod-k8s", "--config", gw.configPath, "--server", `https://127.0.0.1:${gw.port("prod-k8s")}`, "--sub", sub, ...(groups.length ? ["--groups", groups.join(",")] : [])], { cwd: dir });
      if (r.code !== 0) throw new Error(`gatehouse kubeconfig failed: ${r.stderr}`);
      const path = join(dir, `kubeconfig-${sub}`);
      writeFileSync(path, r.stdout);
      configs.set(key, path);
      return path;
    },
    async kubectl(args, o = {}) {
      const path = await setup.kubeconfig(o.sub ?? "alice", o.groups ?? ["developers"]);
      const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", join(dir, "kube-cache"), ...args], {
        cwd: dir,
        env: { ...process.env, HOME: dir, NO_COLOR: "1", ...o.env },
        stdin: o.stdin !== undefined ? new TextEncoder().encode(o.stdin) : "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { code, stdout, stderr };
    },
    async token(sub, groups) {
      const r = await runCli(["token", "--config", gw.configPath, "--sub", sub, ...(groups.length ? ["--groups", groups.join(",")] : [])], { cwd: dir });
      if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    async stop() {
      gw.cleanup();
      await api.stop();
    },
  };
  return setup;
}

export { BINARY };
