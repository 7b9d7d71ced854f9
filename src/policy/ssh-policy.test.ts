// The ssh section through the whole policy path: loading (errors at file:line:column), decide(),
// the denial detail the client gets, explain's reasons, and policy test files with ssh requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayError } from "../core/errors.ts";
import type { Action, SshRequestFacts } from "../core/types.ts";
import { issuesOf } from "../config/issue.ts";
import { loadPolicyFromSources } from "../config/load.ts";
import { runPolicyTests } from "./test-runner.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-sshpolicy-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const RULES = `rules:
  - name: no-rm
    ssh: { commands: ["rm **"] }
    effect: deny
    message: rm is not allowed through the gateway.
  - name: restarts-need-approval
    groups: [agents]
    ssh: { actions: [exec], commands: ["systemctl restart *"] }
    effect: review
    approvers: [sre]
  - name: agents-read
    groups: [agents]
    targets: [web-*]
    ssh: { actions: [exec], users: [ops], commands: ["systemctl status **", "journalctl **"] }
    effect: allow
  - name: agents-logs
    groups: [agents]
    ssh: { actions: [sftp], operations: [read, list], paths: ["/var/log/**"] }
    effect: allow
`;

async function load(text: string) {
  return loadPolicyFromSources([{ file: "policies/ssh.yaml", text }], { baseDir: root, resolveSecrets: false });
}

async function failure(text: string): Promise<GatewayError> {
  try {
    await load(text);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected the load to fail");
}

const agent = { method: "dev" as const, subject: "bot", issuer: "dev", groups: ["agents"] };
const act = (request: Omit<SshRequestFacts, "kind" | "user"> & { user?: string }, target = "web-1"): Action => ({
  identity: agent,
  target,
  request: { kind: "ssh", user: "ops", ...request },
  time: Date.parse("2026-03-02T12:00:00Z"),
});

describe("loading", () => {
  test("a misspelt action is an error at its file:line:column", async () => {
    const e = await failure(`rules:\n  - name: r\n    ssh: { actions: [exec, shel] }\n    effect: deny\n`);
    expect(e.code).toBe("E_CONFIG_INVALID");
    expect(e.message).toContain("policies/ssh.yaml:3:");
    expect(e.message).toContain('rules[0].ssh.actions[1]: expected one of "shell", "exec", "sftp", "forward", got "shel"');
  });

  test("a misspelt sftp operation too", async () => {
    const e = await failure(`rules:\n  - name: r\n    ssh: { operations: [read, delete] }\n    effect: deny\n`);
    expect(e.message).toContain('rules[0].ssh.operations[1]: expected one of "read", "write", "remove", "rename", "mkdir", "list", "setstat", got "delete"');
  });

  test("a bad command pattern is placed at its own line and column", async () => {
    const e = await failure(`rules:\n  - name: r\n    ssh:\n      commands:\n        - "ls **"\n        - "re:("\n    effect: deny\n`);
    expect(e.code).toBe("E_POLICY_INVALID");
    const issue = issuesOf(e)[0]!;
    expect(issue.line).toBe(6);
    expect(issue.col).toBe(11);
    expect(issue.path).toBe("rules[0].ssh.commands[1]");
    expect(issue.message).toMatch(/^rule "r": invalid command pattern "re:\(":/);
  });

  test("a section that can never match is an error", async () => {
    const e = await failure(`rules:\n  - name: r\n    ssh: { actions: [sftp], commands: [ls] }\n    effect: allow\n`);
    expect(e.message).toContain("its ssh section can never match: actions [sftp] and commands (exec only) exclude each other");
  });
});

describe("decisions and what the client is told", () => {
  test("the seed's policy: status and logs allowed, rm denied, restarts held", async () => {
    const { policy } = await load(RULES);
    expect(policy.decide(act({ action: "exec", command: "systemctl status nginx" })).rule).toBe("agents-read");
    expect(policy.decide(act({ action: "exec", command: "journalctl -u nginx --since today" })).rule).toBe("agents-read");
    expect(policy.decide(act({ action: "exec", command: "rm -rf /" })).rule).toBe("no-rm");
    const held = policy.decide(act({ action: "exec", command: "systemctl restart nginx" }));
    expect(held.effect).toBe("review");
    expect(held.review?.approvers).toEqual(["sre"]);
    expect(policy.decide(act({ action: "sftp", operation: "read", path: "/var/log/syslog" })).rule).toBe("agents-logs");
    expect(policy.decide(act({ action: "sftp", operation: "write", path: "/var/log/syslog" })).effect).toBe("deny");
    // Another account, another target: nothing allows it.
    expect(policy.decide(act({ action: "exec", command: "systemctl status nginx", user: "root" })).rule).toBe(null);
    expect(policy.decide(act({ action: "exec", command: "systemctl status nginx" }, "db-1")).rule).toBe(null);
  });

  test("a default deny says what the gateway saw", async () => {
    const { policy } = await load(RULES);
    const a = act({ action: "exec", command: "uptime" });
    expect(policy.describeDenial(a, policy.decide(a)).detail).toBe('exec of "uptime" as ops; no rule allows it for you');
    const s = act({ action: "sftp", operation: "write", path: "/etc/passwd" });
    expect(policy.describeDenial(s, policy.decide(s)).detail).toBe("sftp write of /etc/passwd as ops; no rule allows it for you");
    const f = act({ action: "forward", destination: "db:5432" });
    expect(policy.describeDenial(f, policy.decide(f)).detail).toBe("a forward to db:5432 as ops; no rule allows it for you");
  });

  test("a line that cannot be split: the detail says why only rules allowing any command apply", async () => {
    // Without the rules that restrict commands (which match it, failing closed), it is the default deny.
    const { policy } = await load(RULES.replace(/  - name: no-rm[\s\S]*?approvers: \[sre\]\n/, ""));
    const a = act({ action: "exec", command: "journalctl -u nginx | head" });
    const d = policy.describeDenial(a, policy.decide(a));
    expect(d.rule).toBe(null);
    expect(d.detail).toBe('exec of "journalctl -u nginx | head" as ops; the command line could not be split safely ("|" (a pipe or || operator) at 21), so only rules that allow any command apply');
  });

  test("a deny rule that refused a line only because it could not be read says so", async () => {
    const { policy } = await load(RULES);
    const a = act({ action: "exec", command: "journalctl -u nginx | head" });
    const d = policy.describeDenial(a, policy.decide(a));
    expect(d.rule).toBe("no-rm");
    expect(d.message).toBe("rm is not allowed through the gateway.");
    expect(d.detail).toBe('exec of "journalctl -u nginx | head" as ops; the command line could not be split safely ("|" (a pipe or || operator) at 21), so rules about commands treat it as any command');
    // A plain match keeps the rule's message alone.
    const r = act({ action: "exec", command: "rm -rf /" });
    expect(policy.describeDenial(r, policy.decide(r)).detail).toBeUndefined();
  });

  test("explain gives each ssh condition its reason", async () => {
    const { policy } = await load(RULES);
    const e = policy.explain(act({ action: "exec", command: "sudo systemctl status nginx" }));
    expect(e.seen).toBe('exec of "sudo systemctl status nginx" as ops');
    const read = e.rules.find((r) => r.name === "agents-read")!;
    expect(read.matches).toBe(false);
    expect(read.consistent).toBe(true);
    expect(read.failed.map((c) => [c.condition, c.why])).toEqual([["commands", '"sudo systemctl status nginx" is not in its commands [systemctl status **, journalctl **]']]);
    const e2 = policy.explain(act({ action: "exec", command: "journalctl -u x" }, "web-1"));
    expect(e2.rules.find((r) => r.name === "agents-read")!.conditions.map((c) => c.why)).toEqual([
      "target web-1",
      "a ssh section",
      "group agents",
      "action exec",
      "user ops",
      '"journalctl -u x" is in its commands [systemctl status **, journalctl **]',
    ]);
    const e3 = policy.explain(act({ action: "exec", command: "nice rm x" }));
    expect(e3.rules.find((r) => r.name === "no-rm")!.conditions.at(-1)!.why).toBe('"rm x" matches its commands [rm **] (in "nice rm x")');
    const e4 = policy.explain(act({ action: "shell" }));
    expect(e4.rules.find((r) => r.name === "no-rm")!.conditions.at(-1)!.why).toBe("a shell: the gateway cannot see the commands typed in it, so its commands [rm **] cover it");
    for (const x of [e, e2, e3, e4]) expect(x.rules.every((r) => r.consistent)).toBe(true);
  });
});

describe("policy test files with ssh requests", () => {
  test("exec, sftp, forward and shell cases; fields of another action are a mistake in the case", async () => {
    const dir = join(root, "cases");
    await Bun.write(join(dir, "gatehouse.yaml"), RULES);
    const c = (name: string, ssh: string, expect: string) => `  - name: ${name}\n    identity: { sub: bot, groups: [agents] }\n    target: web-1\n    request: { ssh: ${ssh} }\n    expect: ${expect}\n`;
    await Bun.write(
      join(dir, "ssh.test.yaml"),
      `cases:\n${[
        c("status", '{ user: ops, action: exec, command: "systemctl status nginx" }', "{ effect: allow, rule: agents-read }"),
        c("rm after a semicolon", '{ user: ops, action: exec, command: "systemctl status x; rm -rf /" }', "{ effect: deny, rule: no-rm }"),
        c("restart", '{ user: ops, action: exec, command: "systemctl restart nginx" }', "{ effect: review, approvers: [sre] }"),
        c("logs over sftp", "{ user: ops, action: sftp, operation: read, path: /var/log/syslog }", "{ effect: allow, rule: agents-logs }"),
        c("rename out of the logs", "{ user: ops, action: sftp, operation: rename, path: /var/log/a, to_path: /etc/a }", "{ effect: deny, rule: null }"),
        c("forward", '{ user: ops, action: forward, destination: "db:5432" }', "{ effect: deny, rule: null }"),
        c("a shell", "{ user: ops, action: shell }", "{ effect: deny, rule: no-rm }"),
        c("stray field", '{ user: ops, action: sftp, command: "ls" }', "{ effect: deny }"),
        c("exec without command", "{ user: ops, action: exec }", "{ effect: deny }"),
      ].join("")}`,
    );
    const report = await runPolicyTests(dir);
    expect(report.invalid).toBe(0);
    const cases = report.files[0]!.cases;
    expect(cases.map((x) => [x.name, x.passed, x.failure ?? ""])).toEqual([
      ["status", true, ""],
      ["rm after a semicolon", true, ""],
      ["restart", true, ""],
      ["logs over sftp", true, ""],
      ["rename out of the logs", true, ""],
      ["forward", true, ""],
      ["a shell", true, ""],
      ["stray field", false, "request.ssh: command does not belong to a sftp request"],
      ["exec without command", false, "request.ssh: an exec request needs command"],
    ]);
  });

  test("the old interim fields (login, channel) are refused with the new names suggested", async () => {
    const dir = join(root, "old");
    await Bun.write(join(dir, "gatehouse.yaml"), RULES);
    await Bun.write(join(dir, "old.test.yaml"), `cases:\n  - name: old\n    identity: { sub: bot }\n    target: web-1\n    request: { ssh: { login: ops, channel: exec, command: ls } }\n    expect: { effect: deny }\n`);
    const report = await runPolicyTests(dir);
    expect(report.invalid).toBe(1);
    expect(report.files[0]!.error!.message).toContain('unknown key "login"');
  });
});
