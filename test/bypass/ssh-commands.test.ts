// The SSH command bypass corpus at policy level: every attempt of ssh-commands.ts decided by the
// compiled seed policy (policies/ssh-agents, loaded as the gateway loads it) must be refused or
// held, none allowed; every legitimate command must stay allowed. Each side is also tested without
// the other: the seed's allow rule alone must refuse every attempt but the few only a deny rule can
// (journal maintenance), and the attempts aimed at rm or sudo must be refused by a deny-list policy
// (anything but rm and sudo): wrappers followed, unsplittable and opaque lines matched, names found
// at any word.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Action, Decision } from "../../src/core/types.ts";
import { loadPolicy, loadPolicyFromSources } from "../../src/config/load.ts";
import type { Policy } from "../../src/policy/compile.ts";
import { analyseCommand } from "../../src/policy/matchers/ssh-wrappers.ts";
import { SSH_ALLOW_LIST_RULES, SSH_BYPASS_CALLER, SSH_DENY_LIST_RULES, SSH_LEGITIMATE_COMMANDS, sshBypassAttempts, sshPtyEscapes } from "./ssh-commands.ts";

const attempts = sshBypassAttempts();

function action(command: string): Action {
  return {
    identity: { method: "dev", subject: SSH_BYPASS_CALLER.subject, issuer: "dev", groups: [...SSH_BYPASS_CALLER.groups] },
    target: SSH_BYPASS_CALLER.target,
    request: { kind: "ssh", action: "exec", user: SSH_BYPASS_CALLER.user, command },
    time: Date.parse("2026-03-02T12:00:00Z"),
  };
}

const seed = (await loadPolicy(join(import.meta.dir, "../../policies/ssh-agents"), { resolveSecrets: false })).policy;
const allowList = (await loadPolicyFromSources([{ file: "allow-list.yaml", text: SSH_ALLOW_LIST_RULES }], { baseDir: import.meta.dir, resolveSecrets: false })).policy;
const denyList = (await loadPolicyFromSources([{ file: "deny-list.yaml", text: SSH_DENY_LIST_RULES }], { baseDir: import.meta.dir, resolveSecrets: false })).policy;

function decide(policy: Policy, command: string): Decision {
  const a = action(command);
  return policy.describeDenial(a, policy.decide(a));
}

describe("the corpus itself", () => {
  test("at least 80 attempts with unique ids, across every theme", () => {
    expect(attempts.length).toBeGreaterThanOrEqual(80);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(attempts.length);
    expect(new Set(attempts.map((a) => a.theme)).size).toBe(16);
  });

  test("the canary must be a plain path, so that substituting it cannot change how a line splits", () => {
    expect(() => sshBypassAttempts("/tmp/x;y")).toThrow(/must be plain/);
    expect(sshBypassAttempts("/tmp/other-canary").find((a) => a.id === "sep-semicolon")!.command).toBe("systemctl status nginx; rm -f /tmp/other-canary");
  });
});

describe("under the seed policy (policies/ssh-agents)", () => {
  for (const a of attempts) {
    test(`${a.id}: ${a.note}`, () => {
      const d = decide(seed, a.command);
      expect({ id: a.id, effect: d.effect }).toEqual({ id: a.id, effect: a.expect });
    });
  }

  test("zero allowed, in one count", () => {
    const allowed = attempts.filter((a) => decide(seed, a.command).effect === "allow").map((a) => a.id);
    expect(allowed).toEqual([]);
  });

  for (const command of SSH_LEGITIMATE_COMMANDS) {
    test(`still allowed: ${command}`, () => {
      expect(decide(seed, command)).toMatchObject({ effect: "allow", rule: "agents-read-services-and-logs" });
    });
  }

  test("a refusal says why: the rule's message, or what the gateway could not read", () => {
    const semi = decide(seed, "true; rm -f /srv/x");
    expect(semi.rule).toBe("agents-no-rm");
    expect(semi.detail).toBe('exec of "true; rm -f /srv/x" as ops; the command line could not be split safely (";" (a command separator) at 5), so rules about commands treat it as any command');
    const py = decide(seed, "python3 -c 'print(1)'");
    expect(py.detail).toContain('runs what the gateway cannot see ("python3": an interpreter runs code the gateway cannot read)');
  });
});

describe("under the seed's allow rule alone: the allow side without the deny rules", () => {
  for (const a of attempts.filter((x) => x.refusedBy === "allow-list")) {
    test(`${a.id}: not allowed`, () => {
      expect({ id: a.id, effect: decide(allowList, a.command).effect }).toEqual({ id: a.id, effect: "deny" });
    });
  }

  test("the journal maintenance options are for the deny rule: journalctl ** allows them", () => {
    const only = attempts.filter((x) => x.refusedBy === "deny-rule");
    expect(only.length).toBeGreaterThan(0);
    for (const a of only) expect({ id: a.id, effect: decide(allowList, a.command).effect }).toEqual({ id: a.id, effect: "allow" });
  });

  for (const command of SSH_LEGITIMATE_COMMANDS) {
    test(`still allowed: ${command}`, () => expect(decide(allowList, command).effect).toBe("allow"));
  }
});

describe("under a deny-list policy (anything but rm and sudo): the deny side alone", () => {
  const aimed = attempts.filter((a) => a.runs !== "other");

  test("most of the corpus aims at rm or sudo", () => {
    expect(aimed.length).toBeGreaterThanOrEqual(100);
  });

  for (const a of aimed) {
    test(`${a.id}: refused by ${a.runs === "rm" ? "agents-no-rm" : "agents-no-sudo (or no-rm)"}`, () => {
      const d = decide(denyList, a.command);
      expect({ id: a.id, effect: d.effect }).toEqual({ id: a.id, effect: "deny" });
      expect(["agents-no-rm", "agents-no-sudo"]).toContain(d.rule ?? "(default deny)");
    });
  }

  test("while what reads like intent still runs", () => {
    for (const c of [...SSH_LEGITIMATE_COMMANDS, "ls -la /var/www", "df -h", "cat /etc/hostname", "grep -r error /var/log/nginx"]) {
      expect({ c, effect: decide(denyList, c).effect }).toEqual({ c, effect: "allow" });
    }
  });

  test("every attempt the deny list lets through is one the allow list refuses, and none runs rm or sudo by name", () => {
    const through = attempts.filter((a) => decide(denyList, a.command).effect === "allow");
    for (const a of through) {
      expect(a.runs).toBe("other");
      const r = analyseCommand(a.command);
      if (r.kind !== "unsplittable") for (const c of r.commands) expect(c[0]!.split("/").pop()!.toLowerCase()).not.toMatch(/^(rm|sudo)$/);
    }
  });
});

describe("escapes through a terminal (for the SSH target's e2e test)", () => {
  test("policy allows these commands: only the target can stop the pager's shell escape", () => {
    const escapes = sshPtyEscapes("/tmp/canary");
    expect(escapes.length).toBeGreaterThan(0);
    for (const e of escapes) expect({ id: e.id, effect: decide(seed, e.command).effect }).toEqual({ id: e.id, effect: "allow" });
  });
});
