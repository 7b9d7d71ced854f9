// kubectl exec and attach through the gateway's WebSocket relay, with real kubectl 1.32 against
// the stand-in API server: stdin, exit codes, output capture, a shell on a pty in tmux with a
// resize (recorded as asciicast v2, played by asciinema, checked by gatehouse verify), attach,
// a refusal before the upgrade, and the review that kubectl shows in production.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;

beforeAll(async () => {
  const rules = `  - name: no-exec-in-vault
    targets: [prod-*]
    kubernetes: { verbs: [exec, attach], names: [vault] }
    effect: deny
    message: the vault pod is not entered by hand
`;
  k = await startKubeSetup({ target: ["record_input: true"], rules });
  k.api.addPod("staging", "web", { containers: ["app"] });
  k.api.addPod("staging", "catter", { command: ["cat"] });
  k.api.addPod("staging", "vault", { containers: ["app"] });
  k.api.addPod("production", "web", { containers: ["app"] });
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

type Details = Record<string, unknown>;
const detailsOf = (r: AuditRecord | undefined) => (r?.details ?? {}) as Details;

/** The request record of the n-th exec (or attach) whose action matches. */
async function execRecord(what: string, match: (r: AuditRecord) => boolean): Promise<AuditRecord> {
  const all = await auditRecordsWhen(k.gw.auditPath, (rs) => rs.some((r) => r.type === "request" && match(r)), what);
  return all.filter((r) => r.type === "request" && match(r)).at(-1)!;
}

const commandIs = (cmd: string[]) => (r: AuditRecord) => JSON.stringify((r.action as { command?: string[] }).command) === JSON.stringify(cmd);

test("echo hi | kubectl exec -i web -- cat: stdin reaches the process, its output comes back, exit 0; the record has the bytes and the captured output", async () => {
  const r = await k.kubectl(["exec", "-i", "web", "-n", "staging", "--", "cat"], { stdin: "hi\n" });
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("hi\n");
  expect(r.code).toBe(0);
  const rec = await execRecord("the request record of exec cat", commandIs(["cat"]));
  const d = detailsOf(rec);
  expect(d).toMatchObject({ status: 101, websocket: "v5.channel.k8s.io", exit_status: 0, stdin_bytes: 3, stdout_bytes: 3, stderr_bytes: 0, tty: false });
  const out = (d["output"] as { stdout: { file: string; sha256: string; bytes: number } }).stdout;
  expect(out.bytes).toBe(3);
  expect(readFileSync(out.file, "utf8")).toBe("hi\n");
  // The caller's credential never reached the cluster: the upgrade went with the gateway's.
  const up = k.api.requests.filter((q) => q.path === "/api/v1/namespaces/staging/pods/web/exec").at(-1)!;
  expect(up.authorization).toBe(`Bearer ${k.api.token}`);
  expect(up.upgrade.toLowerCase()).toBe("websocket");
}, 60_000);

test("exit codes: kubectl exec exits with the command's status; stderr comes back on its own stream", async () => {
  const r = await k.kubectl(["exec", "web", "-n", "staging", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
  expect(r.stdout).toBe("out\n");
  expect(r.stderr).toContain("err\n");
  expect(r.code).toBe(3);
  const rec = await execRecord("the request record of exit 3", commandIs(["sh", "-c", "echo out; echo err >&2; exit 3"]));
  expect(detailsOf(rec)).toMatchObject({ exit_status: 3, stdout_bytes: 4, stderr_bytes: 4 });
}, 60_000);

test("a large output (8 MiB) arrives whole and its hash is in the record", async () => {
  const r = await k.kubectl(["exec", "web", "-n", "staging", "--", "sh", "-c", "head -c 8388608 /dev/zero | tr '\\0' x"]);
  expect(r.code).toBe(0);
  expect(r.stdout.length).toBe(8 * 1024 * 1024);
  const rec = await execRecord("the request record of the 8 MiB exec", (x) => ((x.action as { command?: string[] }).command ?? []).join(" ").includes("8388608"));
  const out = (detailsOf(rec)["output"] as { stdout: { sha256: string; bytes: number; truncated: boolean } }).stdout;
  expect(out.bytes).toBe(8 * 1024 * 1024);
  expect(out.sha256).toBe(new Bun.CryptoHasher("sha256").update("x".repeat(8 * 1024 * 1024)).digest("hex"));
  expect(out.truncated).toBe(true); // past exec_output_limit (1 MiB): only the hash of the rest
}, 60_000);

test("kubectl exec -it -- sh in tmux: a pty, a resize, exit 7; recorded as asciicast v2 (input too: record_input), played by asciinema, checked by gatehouse verify", async () => {
  const sock = `gatehouse-kube-exec-${process.pid}`;
  const exitFile = join(k.dir, "exec-it.exit");
  const path = await k.kubeconfig("alice", ["developers"]);
  const cmd = `kubectl --kubeconfig ${path} --cache-dir ${join(k.dir, "kube-cache")} exec -it web -n staging -- sh; echo $? > ${exitFile}`;
  const env = { ...process.env, HOME: k.dir, TERM: "xterm" };
  const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a], { env });
  expect(tmux("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", cmd).exitCode).toBe(0);
  const screen = () => tmux("capture-pane", "-p").stdout.toString();
  try {
    await waitFor("a shell prompt from kubectl exec -it through the gateway", () => /^\S*[#$]\s*$/m.test(screen()));
    tmux("send-keys", "stty size; echo typed-$HOSTNAME", "Enter");
    await waitFor("stty size to show the pane's size 30 100", () => /^30 100$/m.test(screen()));
    await waitFor("the shell's echo", () => /^typed-web$/m.test(screen()));
    tmux("resize-window", "-x", "120", "-y", "40");
    tmux("send-keys", "clear; stty size", "Enter");
    await waitFor("stty size to show the resized pane 40 120", () => /^40 120$/m.test(screen()));
    tmux("send-keys", "exit 7", "Enter");
    await waitFor("kubectl exec -it to exit", () => existsSync(exitFile) && readFileSync(exitFile, "utf8").trim() !== "");
    expect(readFileSync(exitFile, "utf8").trim()).toBe("7");
  } finally {
    tmux("kill-server");
  }
  const rec = await execRecord("the request record of exec -it sh", (x) => commandIs(["sh"])(x) && (x.action as { namespace?: string }).namespace === "staging" && detailsOf(x)["tty"] === true);
  const d = detailsOf(rec);
  expect(d).toMatchObject({ exit_status: 7, tty: true });
  expect(d["resizes"]).toBeGreaterThanOrEqual(2);
  const cast = d["recording"] as { file: string; sha256: string; bytes: number; events: number; truncated: boolean };
  expect(cast.truncated).toBe(false);
  const text = readFileSync(cast.file, "utf8");
  expect(new Bun.CryptoHasher("sha256").update(text).digest("hex")).toBe(cast.sha256);
  const lines = text.trimEnd().split("\n");
  const header = JSON.parse(lines[0]!) as { version: number; command?: string };
  expect(header.version).toBe(2);
  expect(header.command).toBe("sh");
  const events = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  expect(events.some(([, t, s]) => t === "r" && s === "120x40")).toBe(true);
  expect(events.some(([, t, s]) => t === "r" && s === "100x30")).toBe(true);
  expect(events.filter(([, t]) => t === "o").map(([, , s]) => s).join("")).toContain("typed-web");
  expect(events.filter(([, t]) => t === "i").map(([, , s]) => s).join("")).toContain("stty size; echo typed-$HOSTNAME");

  // asciinema reads it (it needs a terminal: script(1) gives it one).
  const played = Bun.spawnSync(["script", "-q", "-e", "-c", `asciinema cat '${cast.file}'`, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, LANG: "C.UTF-8" } });
  expect(played.exitCode).toBe(0);
  expect(played.stdout.toString()).toContain("typed-web");
  // gatehouse replay plays it from the audit log (no pauses).
  const replay = await runCli(["replay", rec.session!, "--config", k.gw.configPath, "--no-wait"], { cwd: k.dir });
  expect(replay.code).toBe(0);
  expect(replay.stdout).toContain("typed-web");

  const ok = await runCli(["verify", k.gw.auditPath], { cwd: k.dir });
  expect(ok.code).toBe(0);
  // An edited recording no longer matches its record.
  writeFileSync(cast.file, text.replace("typed-web", "typed-xyz"));
  const bad = await runCli(["verify", k.gw.auditPath], { cwd: k.dir });
  expect(bad.code).not.toBe(0);
  expect(bad.stdout + bad.stderr).toContain(cast.file.split("/").at(-1)!);
  writeFileSync(cast.file, text);
}, 120_000);

test("kubectl attach -i joins the container's main process through the gateway", async () => {
  const r = await k.kubectl(["attach", "-i", "catter", "-n", "staging"], { stdin: "through attach\n" });
  expect(r.stdout).toContain("through attach\n");
  expect(r.code).toBe(0);
  const rec = await execRecord("the request record of attach", (x) => (x.action as { subresource?: string }).subresource === "attach");
  expect(detailsOf(rec)).toMatchObject({ status: 101, websocket: "v5.channel.k8s.io" });
}, 60_000);

test("an exec the policy denies is refused before any upgrade: Forbidden, nothing reaches the cluster", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["exec", "vault", "-n", "staging", "--", "cat", "/etc/secret"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Error from server (Forbidden)");
  expect(r.stderr).toContain('pods/exec "vault" is forbidden');
  expect(r.stderr).toContain("the vault pod is not entered by hand");
  expect(k.api.requests.slice(before).some((q) => q.path.endsWith("/exec"))).toBe(false);
}, 60_000);

test("kubectl exec in production: kubectl shows the pending approval and the approver's command; nothing reaches the cluster", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["exec", "web", "-n", "production", "--", "sh"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Forbidden");
  expect(r.stderr).toMatch(/gatehouse approve apr_[0-9a-f]+/);
  expect(k.api.requests.slice(before).some((q) => q.path.endsWith("/exec"))).toBe(false);
}, 60_000);
