// The "kubelet": where a pod's processes run. exec starts a fresh process per request; attach
// joins the container's main process (its command and args, default `sh`), started on first
// attach and kept until the pod is deleted, its output also written to the container's log.
// Port-forward targets are real local ports a test maps per pod and container port.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PodLogs } from "./logs.ts";
import { PodProcess } from "./pod-process.ts";
import type { KubeObject } from "./store.ts";

export interface PortTarget {
  readonly host: string;
  readonly port: number;
}

export class PodRuntime {
  private readonly mains = new Map<string, PodProcess>();
  private readonly execs = new Map<string, Set<PodProcess>>();
  private readonly ports = new Map<string, PortTarget>();

  constructor(
    private readonly workDir: string,
    private readonly logs: PodLogs,
  ) {}

  private env(pod: KubeObject, container: KubeObject, home: string): Record<string, string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      HOSTNAME: pod.metadata.name,
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      KUBERNETES_SERVICE_PORT: "443",
    };
    for (const e of (container.env ?? []) as KubeObject[]) if (typeof e.value === "string") env[e.name] = e.value;
    return env;
  }

  private home(pod: KubeObject): string {
    const dir = join(this.workDir, pod.metadata.namespace, pod.metadata.name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  exec(pod: KubeObject, container: KubeObject, argv: string[], tty: boolean, stdin: boolean): PodProcess {
    const home = this.home(pod);
    const p = new PodProcess({ argv, cwd: home, env: this.env(pod, container, home), tty, stdin });
    const k = `${pod.metadata.namespace}/${pod.metadata.name}`;
    let set = this.execs.get(k);
    if (!set) this.execs.set(k, (set = new Set()));
    set.add(p);
    void p.ended.then(() => set.delete(p));
    return p;
  }

  /** The container's main process, started on first use. */
  main(pod: KubeObject, container: KubeObject): PodProcess {
    const k = `${pod.metadata.namespace}/${pod.metadata.name}/${container.name}`;
    const existing = this.mains.get(k);
    if (existing) return existing;
    const argv = [...((container.command as string[] | undefined) ?? ["sh"]), ...((container.args as string[] | undefined) ?? [])];
    const home = this.home(pod);
    const p = new PodProcess({ argv, cwd: home, env: this.env(pod, container, home), tty: container.tty === true, stdin: container.stdin !== false });
    const decoder = new TextDecoder();
    p.onOutput((_id, data) => this.logs.append(pod.metadata.namespace, pod.metadata.name, container.name, decoder.decode(data).replace(/\n$/, "")));
    this.mains.set(k, p);
    void p.ended.then(() => {
      this.mains.delete(k);
      this.logs.end(pod.metadata.namespace, pod.metadata.name, container.name);
    });
    return p;
  }

  mapPort(ns: string, pod: string, podPort: number, target: PortTarget): void {
    this.ports.set(`${ns}/${pod}/${podPort}`, target);
  }

  portTarget(ns: string, pod: string, podPort: number): PortTarget | undefined {
    return this.ports.get(`${ns}/${pod}/${podPort}`);
  }

  /** Output read from live processes, and how many wait for a slow reader now. */
  outputStats(): { bytesOut: number; paused: number } {
    let bytesOut = 0;
    let paused = 0;
    const all = [...this.mains.values(), ...[...this.execs.values()].flatMap((s) => [...s])];
    for (const p of all) {
      bytesOut += p.bytesOut;
      if (p.paused) paused++;
    }
    return { bytesOut, paused };
  }

  podDeleted(ns: string, pod: string): void {
    for (const [k, p] of this.mains) if (k.startsWith(`${ns}/${pod}/`)) p.kill();
    for (const p of this.execs.get(`${ns}/${pod}`) ?? []) p.kill();
    for (const k of [...this.ports.keys()]) if (k.startsWith(`${ns}/${pod}/`)) this.ports.delete(k);
  }

  stopAll(): void {
    for (const p of this.mains.values()) p.kill();
    for (const set of this.execs.values()) for (const p of set) p.kill();
  }
}
