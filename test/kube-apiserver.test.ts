// Real kubectl (/usr/bin/kubectl, v1.32) against the stand-in API server of
// test/helpers/kube-apiserver: each test runs the command a person would type and checks what
// kubectl prints, and what reached the server. This is what makes the stand-in fit to stand in
// for a cluster behind the gateway in the Kubernetes target's e2e tests and benchmarks.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { startKubeApiServer } from "./helpers/kube-apiserver/index.ts";
import type { KubeApiServer } from "./helpers/kube-apiserver/index.ts";
import { waitFor, within } from "./helpers/wait.ts";

// Each test runs real kubectl processes; on a loaded machine that takes a while (no test asserts a duration).
setDefaultTimeout(120_000);

const KUBECTL = existsSync("/usr/bin/kubectl") ? "/usr/bin/kubectl" : "kubectl";

let api: KubeApiServer;
let dir: string;
let kubeconfigPath: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function env(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, KUBECONFIG: kubeconfigPath };
}

/** kubectl with a discovery cache of its own (so every run talks to this server). */
function args(a: string[]): string[] {
  return [KUBECTL, "--cache-dir", join(dir, "cache"), ...a];
}

async function kubectl(a: string[], stdin?: string): Promise<Run> {
  const p = Bun.spawn(args(a), { env: env(), stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await within(`kubectl ${a.join(" ")} to exit`, Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]));
  return { code, stdout, stderr };
}

/** A long-running kubectl (logs -f, get -w, port-forward) whose output a test watches. */
function spawnKubectl(a: string[]) {
  const p = Bun.spawn(args(a), { env: env(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { stdout: "", stderr: "" };
  const pump = async (s: ReadableStream<Uint8Array>, k: "stdout" | "stderr") => {
    const d = new TextDecoder();
    for await (const c of s) out[k] += d.decode(c, { stream: true });
  };
  const done = Promise.all([pump(p.stdout, "stdout"), pump(p.stderr, "stderr")]);
  return { proc: p, out, done };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kube-apiserver-test-"));
  api = await startKubeApiServer({
    namespaces: ["team-a", "locked"],
    authorize: (a) => (a.namespace === "locked" ? "the test's authorizer refuses everything in locked" : true),
    accessReview: (spec) => ({ allowed: !(spec.resourceAttributes?.verb === "delete" && spec.resourceAttributes?.resource === "secrets") }),
  });
  kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, api.kubeconfig({ namespace: "team-a" }));
  api.addPod("team-a", "web", { labels: { app: "web" } });
});

afterAll(async () => {
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("kubectl against the stand-in API server", () => {
  test("get pods: the server's Table as kubectl prints it (NAME READY STATUS RESTARTS AGE)", async () => {
    const r = await kubectl(["get", "pods"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(lines[1]).toMatch(/^web\s+1\/1\s+Running\s+0\s+\d+[smh]/);
    const listed = api.requests.find((q) => q.path === "/api/v1/namespaces/team-a/pods" && q.method === "GET");
    expect(listed?.accept).toContain("application/json;as=Table;v=v1;g=meta.k8s.io");
    // Discovery went through the aggregated document kubectl 1.32 asks for first.
    expect(api.requests.some((q) => q.path === "/api" && q.accept.includes("as=APIGroupDiscoveryList"))).toBe(true);
  });

  test("get -o wide and short names: the priority-1 columns and 'po'", async () => {
    const r = await kubectl(["get", "po", "-o", "wide"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/);
    expect(r.stdout).toMatch(/web\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.0\.\d+\s+node-1\s+<none>\s+<none>/);
  });

  test("get -o yaml: the stored object with uid, resourceVersion and creationTimestamp", async () => {
    const r = await kubectl(["get", "pod", "web", "-o", "yaml"]);
    expect(r.code).toBe(0);
    const pod = parseYaml(r.stdout);
    const stored = api.get("v1", "Pod", "team-a", "web")!;
    expect(pod.kind).toBe("Pod");
    expect(pod.apiVersion).toBe("v1");
    expect(pod.metadata.uid).toBe(stored.metadata.uid);
    expect(pod.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    expect(pod.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(pod.status.phase).toBe("Running");
  });

  test("describe pod: kubectl's describe page, events listed by involvedObject", async () => {
    const r = await kubectl(["describe", "pod", "web"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Name:\s+web$/m);
    expect(r.stdout).toMatch(/^Namespace:\s+team-a$/m);
    expect(r.stdout).toMatch(/^Status:\s+Running$/m);
    expect(r.stdout).toMatch(/^Containers:\n\s+main:/m);
    expect(r.stdout).toMatch(/^Events:\s+<none>$/m);
    expect(api.requests.some((q) => q.path === "/api/v1/namespaces/team-a/events" && q.query.includes("involvedObject.name%3Dweb"))).toBe(true);
  });

  test("apply -f creates a deployment, then changes it with a strategic merge patch", async () => {
    const file = join(dir, "api-deploy.yaml");
    const doc = (replicas: number, value: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: nginx:1.27
        env:
        - {name: MODE, value: "${value}"}
`;
    writeFileSync(file, doc(2, "one"));
    const created = await kubectl(["apply", "-f", file]);
    expect(created.stderr).toBe("");
    expect(created.stdout).toBe("deployment.apps/api created\n");
    writeFileSync(file, doc(3, "two"));
    const changed = await kubectl(["apply", "-f", file]);
    expect(changed.stdout).toBe("deployment.apps/api configured\n");
    const d = api.get("apps/v1", "Deployment", "team-a", "api")!;
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.spec.containers[0].env).toEqual([{ name: "MODE", value: "two" }]);
    expect(d.metadata.generation).toBe(2);
    expect(d.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]).toContain('"replicas":3');
    const patch = api.requests.find((q) => q.method === "PATCH" && q.path === "/apis/apps/v1/namespaces/team-a/deployments/api");
    expect(patch?.contentType).toBe("application/strategic-merge-patch+json");
    // Validation is the server's (OpenAPI v3 says PATCH takes fieldValidation), not a schema download.
    expect(patch?.query).toContain("fieldValidation=Strict");
    const table = await kubectl(["get", "deploy", "api"]);
    expect(table.stdout).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\napi\s+3\/3\s+3\s+3\s+\S+\n$/);
    const rollout = await kubectl(["rollout", "status", "deployment/api"]);
    expect(rollout.stdout).toBe('deployment "api" successfully rolled out\n');
  });

  test("apply --server-side and scale: apply patches with a field manager, the scale subresource", async () => {
    const file = join(dir, "cm.yaml");
    writeFileSync(file, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n");
    const r = await kubectl(["apply", "--server-side", "-f", file]);
    expect(r.stdout).toBe("configmap/settings serverside-applied\n");
    const cm = api.get("v1", "ConfigMap", "team-a", "settings")!;
    expect(cm.data).toEqual({ level: "debug" });
    expect(cm.metadata.managedFields.some((m: { manager: string; operation: string }) => m.manager === "kubectl" && m.operation === "Apply")).toBe(true);
    expect(api.requests.some((q) => q.method === "PATCH" && q.contentType === "application/apply-patch+yaml")).toBe(true);
    const scaled = await kubectl(["scale", "deployment/api", "--replicas=5"]);
    expect(scaled.stdout).toBe("deployment.apps/api scaled\n");
    expect(api.get("apps/v1", "Deployment", "team-a", "api")!.spec.replicas).toBe(5);
  });

  test("get --chunk-size: pages with continue tokens, all items printed once", async () => {
    for (const n of ["page-1", "page-2", "page-3", "page-4", "page-5"]) api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: n, namespace: "team-a" }, data: { n } });
    const r = await kubectl(["get", "configmaps", "--chunk-size=2", "-o", "name"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("configmap/page-"))).toEqual(["configmap/page-1", "configmap/page-2", "configmap/page-3", "configmap/page-4", "configmap/page-5"]);
    expect(api.requests.filter((q) => q.path === "/api/v1/namespaces/team-a/configmaps" && q.query.includes("continue=")).length).toBeGreaterThanOrEqual(2);
  });

  test("--dry-run=server: the same answer, nothing changed", async () => {
    const before = api.store.resourceVersion;
    const created = await kubectl(["create", "configmap", "ghost", "--from-literal=a=b", "--dry-run=server", "-o", "yaml"]);
    expect(created.code).toBe(0);
    expect(parseYaml(created.stdout).data).toEqual({ a: "b" });
    expect(api.get("v1", "ConfigMap", "team-a", "ghost")).toBeUndefined();
    const deleted = await kubectl(["delete", "pod", "web", "--dry-run=server"]);
    expect(deleted.stdout).toBe('pod "web" deleted (server dry run)\n');
    expect(api.get("v1", "Pod", "team-a", "web")).toBeDefined();
    expect(api.store.resourceVersion).toBe(before);
  });

  test("delete: kubectl deletes, waits for the pod to go, and then gets NotFound", async () => {
    api.addPod("team-a", "doomed");
    const r = await kubectl(["delete", "pod", "doomed"]);
    expect(r.stdout).toBe('pod "doomed" deleted\n');
    expect(r.code).toBe(0);
    expect(api.get("v1", "Pod", "team-a", "doomed")).toBeUndefined();
    const gone = await kubectl(["get", "pod", "doomed"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe('Error from server (NotFound): pods "doomed" not found\n');
  });

  test("Status errors as kubectl prints them: AlreadyExists, Invalid, Forbidden, Unauthorized", async () => {
    expect((await kubectl(["create", "configmap", "dup"])).code).toBe(0);
    const dup = await kubectl(["create", "configmap", "dup"]);
    expect(dup.stderr).toBe('error: failed to create configmap: configmaps "dup" already exists\n');
    const bad = join(dir, "bad-pod.yaml");
    writeFileSync(bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers: []\n");
    const invalid = await kubectl(["apply", "-f", bad]);
    expect(invalid.stderr).toContain('The Pod "bad" is invalid: spec.containers: Required value');
    const forbidden = await kubectl(["get", "pods", "-n", "locked"]);
    expect(forbidden.stderr).toBe(
      'Error from server (Forbidden): pods is forbidden: User "gatehouse-upstream" cannot list resource "pods" in API group "" in the namespace "locked": the test\'s authorizer refuses everything in locked\n',
    );
    const wrong = join(dir, "wrong-token");
    writeFileSync(wrong, api.kubeconfig({ token: "not-the-token" }));
    const p = Bun.spawn(args(["get", "pods"]), { env: { ...env(), KUBECONFIG: wrong }, stdout: "pipe", stderr: "pipe" });
    const stderr = await new Response(p.stderr).text();
    expect(await p.exited).toBe(1);
    expect(stderr).toContain("error: You must be logged in to the server (Unauthorized)");
  });

  test("a client certificate signed by the server's CA authenticates instead of the token", async () => {
    const certConfig = join(dir, "cert-kubeconfig");
    writeFileSync(certConfig, api.kubeconfig({ clientCertificate: true, namespace: "team-a" }));
    const p = Bun.spawn(args(["get", "pod", "web", "-o", "name"]), { env: { ...env(), KUBECONFIG: certConfig }, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await within("kubectl with a client certificate to exit", Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]));
    expect(stderr).toBe("");
    expect(stdout).toBe("pod/web\n");
    expect(code).toBe(0);
    const seen = api.requests.filter((q) => q.path === "/api/v1/namespaces/team-a/pods/web").at(-1);
    expect(seen?.clientCertificate).toBe("gatehouse-upstream");
    expect(seen?.authorization).toBe("");
  });

  test("impersonation: kubectl --as acts as that user (the authorizer and the Forbidden message see alice)", async () => {
    const r = await kubectl(["get", "pods", "-n", "locked", "--as", "alice", "--as-group", "devs"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith('Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "locked"');
    const seen = api.requests.filter((q) => q.path === "/api/v1/namespaces/locked/pods").at(-1);
    expect([...(seen?.impersonate ?? [])].sort()).toEqual(["impersonate-group: devs", "impersonate-user: alice"]);
  });

  test("logs -f streams new lines until the test ends the container's log", async () => {
    api.appendLog("team-a", "web", "main", "first line");
    const k = spawnKubectl(["logs", "-f", "web"]);
    await waitFor("kubectl logs -f to print the first line", () => k.out.stdout.includes("first line\n"));
    api.appendLog("team-a", "web", "main", "second line");
    await waitFor("kubectl logs -f to print the line written after it started", () => k.out.stdout.includes("second line\n"));
    api.endLogs("team-a", "web");
    expect(await within("kubectl logs -f to exit once the log ends", k.proc.exited)).toBe(0);
    await k.done;
    expect(k.out.stdout).toBe("first line\nsecond line\n");
  });

  test("exec with stdin: echo hi | kubectl exec -i web -- cat, over WebSocket v5", async () => {
    const r = await kubectl(["exec", "-i", "web", "--", "cat"], "hi\n");
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hi\n");
    expect(r.code).toBe(0);
    const ws = api.requests.filter((q) => q.path === "/api/v1/namespaces/team-a/pods/web/exec").at(-1);
    expect(ws?.upgrade.toLowerCase()).toBe("websocket");
    expect(ws?.websocketProtocol.split(",").map((s) => s.trim())[0]).toBe("v5.channel.k8s.io");
  });

  test("exec exit codes: stdout and stderr apart, the exit code from the status channel", async () => {
    const r = await kubectl(["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\ncommand terminated with exit code 3\n");
    expect(r.code).toBe(3);
  });

  test("exec -it: a shell on a pty inside tmux, with resizes", async () => {
    const sock = `kube-apiserver-test-${process.pid}`;
    const exitFile = join(dir, "exec-it.exit");
    const cmd = `${args(["exec", "-it", "web", "--", "sh"]).join(" ")}; echo $? > ${exitFile}`;
    const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a], { env: { ...env(), TERM: "xterm" } });
    expect(tmux("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", cmd).exitCode).toBe(0);
    const screen = () => tmux("capture-pane", "-p").stdout.toString();
    try {
      await waitFor("a shell prompt from kubectl exec -it", () => /^\S*[#$]\s*$/m.test(screen()));
      tmux("send-keys", "stty size; tty; echo $HOSTNAME", "Enter");
      await waitFor("stty size to show the tmux pane's size 30 100", () => /^30 100$/m.test(screen()));
      expect(screen()).toMatch(/^\/dev\/pts\/\d+$/m);
      expect(screen()).toMatch(/^web$/m);
      tmux("resize-window", "-x", "120", "-y", "40");
      tmux("send-keys", "clear; stty size", "Enter");
      await waitFor("stty size to show the resized pane 40 120", () => /^40 120$/m.test(screen()));
      tmux("send-keys", "exit 7", "Enter");
      await waitFor("kubectl exec -it to exit with the shell's status", () => existsSync(exitFile) && readFileSync(exitFile, "utf8").trim() !== "");
      expect(readFileSync(exitFile, "utf8").trim()).toBe("7");
    } finally {
      tmux("kill-server");
    }
  }, 120_000);

  test("attach: kubectl attach -i joins the container's main process", async () => {
    api.addPod("team-a", "catter", { command: ["cat"] });
    const r = await kubectl(["attach", "-i", "catter"], "through attach\n");
    expect(r.stdout).toContain("through attach\n");
    expect(r.code).toBe(0);
  });

  test("kubectl debug: an ephemeral container patched in through pods/ephemeralcontainers, then attached", async () => {
    api.addPod("team-a", "debuggee");
    const r = await kubectl(["debug", "-i", "debuggee", "--image=busybox", "--profile=general", "--", "sh"], "echo inside the debugger\nexit\n");
    expect(r.stdout).toContain("inside the debugger\n");
    expect(r.code).toBe(0);
    const pod = api.get("v1", "Pod", "team-a", "debuggee")!;
    expect(pod.spec.ephemeralContainers).toHaveLength(1);
    expect(pod.spec.ephemeralContainers[0].image).toBe("busybox");
    expect(pod.status.ephemeralContainerStatuses[0].state.running).toBeDefined();
    const patch = api.requests.find((q) => q.method === "PATCH" && q.path === "/api/v1/namespaces/team-a/pods/debuggee/ephemeralcontainers");
    expect(patch?.contentType).toBe("application/strategic-merge-patch+json");
  });

  test("port-forward carries an HTTP request to the pod's port (SPDY tunnelled in a WebSocket)", async () => {
    const app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`pod app saw ${req.method} ${new URL(req.url).pathname}\n`) });
    api.mapPort("team-a", "web", 8080, app.port!);
    const k = spawnKubectl(["port-forward", "pod/web", ":8080"]);
    try {
      const m = await waitFor("kubectl port-forward to say where it listens", () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(k.out.stdout));
      const local = Number(m[1]);
      const res = await fetch(`http://127.0.0.1:${local}/hello/there`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("pod app saw GET /hello/there\n");
      const second = await fetch(`http://127.0.0.1:${local}/again`, { method: "POST", body: "x" });
      expect(await second.text()).toBe("pod app saw POST /again\n");
      const pf = api.requests.find((q) => q.path === "/api/v1/namespaces/team-a/pods/web/portforward");
      expect(pf?.websocketProtocol).toContain("SPDY/3.1+portforward.k8s.io");
      expect(k.out.stderr).toBe("");
    } finally {
      k.proc.kill();
      await k.proc.exited;
      void app.stop(true);
    }
  });

  test("pods/proxy relays an HTTP request to the pod's port (kubectl get --raw)", async () => {
    const app = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`proxied ${new URL(req.url).pathname}${new URL(req.url).search}\n`) });
    api.mapPort("team-a", "web", 9090, app.port!);
    try {
      const r = await kubectl(["get", "--raw", "/api/v1/namespaces/team-a/pods/web:9090/proxy/status?full=1"]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("proxied /status?full=1\n");
      const refused = await kubectl(["get", "--raw", "/api/v1/namespaces/team-a/pods/web:9999/proxy/"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/Error from server \(ServiceUnavailable\): error trying to reach service: dial tcp 10\.244\.0\.\d+:9999: connect: connection refused/);
    } finally {
      void app.stop(true);
    }
  });

  test("SPDY is refused with a message naming the kubectl setting (kubectl told not to use WebSockets)", async () => {
    const run = async (a: string[], extra: Record<string, string>) => {
      const p = Bun.spawn(args(a), { env: { ...env(), ...extra }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await within(`kubectl ${a.join(" ")} to exit`, Promise.all([new Response(p.stderr).text(), p.exited]));
      return { stderr, code };
    };
    const exec = await run(["exec", "web", "--", "true"], { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" });
    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain("Error from server (BadRequest): this API server stand-in does not accept SPDY upgrades for exec: use WebSockets");
    const pf = await run(["port-forward", "pod/web", ":8080"], { KUBECTL_PORT_FORWARD_WEBSOCKETS: "false" });
    expect(pf.code).toBe(1);
    expect(pf.stderr).toContain("error upgrading connection: this API server stand-in does not accept SPDY upgrades for portforward");
    expect(api.requests.some((q) => q.upgrade.toUpperCase().startsWith("SPDY/3.1"))).toBe(true);
  });

  test("auth can-i: SelfSubjectAccessReview (sent as protobuf) answered yes and no", async () => {
    const yes = await kubectl(["auth", "can-i", "create", "deployments"]);
    expect(yes.stdout).toBe("yes\n");
    expect(yes.code).toBe(0);
    const no = await kubectl(["auth", "can-i", "delete", "secrets"]);
    expect(no.stdout).toBe("no\n");
    expect(no.code).toBe(1);
    const review = api.requests.find((q) => q.path === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    expect(review?.contentType).toBe("application/vnd.kubernetes.protobuf");
  });

  test("get --watch prints the change made after it started", async () => {
    const k = spawnKubectl(["get", "pods", "--watch"]);
    try {
      await waitFor("kubectl get --watch to print the current pods", () => /^web\s+1\/1\s+Running/m.test(k.out.stdout));
      await waitFor("kubectl get --watch to have its watch open", () => api.requests.some((q) => q.path === "/api/v1/namespaces/team-a/pods" && q.query.includes("watch=true")));
      api.addPod("team-a", "newcomer");
      await waitFor("kubectl get --watch to print the new pod", () => /^newcomer\s+1\/1\s+Running\s+0/m.test(k.out.stdout));
      const del = await kubectl(["delete", "pod", "newcomer"]);
      expect(del.code).toBe(0);
      // Graceful deletion as a watcher sees it: Terminating first.
      await waitFor("kubectl get --watch to print the pod Terminating", () => /^newcomer\s+1\/1\s+Terminating/m.test(k.out.stdout));
    } finally {
      k.proc.kill();
      await k.proc.exited;
    }
  });
});
