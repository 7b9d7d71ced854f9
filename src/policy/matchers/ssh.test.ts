import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import { compileSshMatcher, sshCommandText } from "./ssh.ts";

const req = (user: string, action: SshRequestFacts["action"], argv: string[] = []): SshRequestFacts => ({ kind: "ssh", user, action, ...(argv.length > 0 ? { command: argv.join(" ") } : {}) });
const run = (m: ReturnType<typeof compileSshMatcher>, r: SshRequestFacts) => m(r, sshCommandText(r));

describe("ssh matcher", () => {
  const allow = compileSshMatcher({ logins: ["deploy"], channels: ["exec"], commands: ["systemctl restart *", "journalctl **"] }, false);

  test("login, channel and command must all fit", () => {
    expect(run(allow, req("deploy", "exec", ["systemctl", "restart", "app"]))).toBe(true);
    expect(run(allow, req("root", "exec", ["systemctl", "restart", "app"]))).toBe(false);
    expect(run(allow, req("deploy", "shell"))).toBe(false);
  });

  test("* is one argument, ** any number", () => {
    expect(run(allow, req("deploy", "exec", ["systemctl", "restart", "app", "db"]))).toBe(false);
    expect(run(allow, req("deploy", "exec", ["systemctl", "restart"]))).toBe(false);
    expect(run(allow, req("deploy", "exec", ["journalctl"]))).toBe(true);
    expect(run(allow, req("deploy", "exec", ["journalctl", "-u", "app", "-f"]))).toBe(true);
  });

  test("an allow rule about commands never allows a shell, a deny rule about commands covers it", () => {
    const deny = compileSshMatcher({ commands: ["rm **"] }, true);
    expect(run(deny, req("deploy", "exec", ["rm", "-rf", "/"]))).toBe(true);
    expect(run(deny, req("deploy", "exec", ["ls"]))).toBe(false);
    expect(run(deny, req("deploy", "shell"))).toBe(true);
    expect(run(compileSshMatcher({ commands: ["**"] }, false), req("deploy", "shell"))).toBe(false);
  });

  test("logins are globs; unknown channels are policy errors", () => {
    expect(run(compileSshMatcher({ logins: ["app-*"] }, false), req("app-web", "shell"))).toBe(true);
    expect(() => compileSshMatcher({ channels: ["exe"] }, true)).toThrow(GatewayError);
  });
});
