import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import { compileSshMatcher, sshView, type SshSection } from "./ssh.ts";

type Facts = Omit<SshRequestFacts, "kind" | "user"> & { user?: string };
const req = (f: Facts): SshRequestFacts => ({ kind: "ssh", user: "deploy", ...f });
const exec = (command: string, user = "deploy") => req({ action: "exec", command, user });
const allow = (s: SshSection) => {
  const m = compileSshMatcher(s, false);
  return (f: SshRequestFacts) => m(f, sshView(f));
};
const deny = (s: SshSection) => {
  const m = compileSshMatcher(s, true);
  return (f: SshRequestFacts) => m(f, sshView(f));
};

describe("actions and users", () => {
  test("actions select the kind of request; users are globs over the upstream account", () => {
    const m = allow({ actions: ["sftp", "forward"], users: ["app-*"] });
    expect(m(req({ action: "sftp", user: "app-web", operation: "read", path: "/x" }))).toBe(true);
    expect(m(req({ action: "forward", user: "app-web", destination: "db:5432" }))).toBe(true);
    expect(m(req({ action: "exec", user: "app-web", command: "ls" }))).toBe(false);
    expect(m(req({ action: "sftp", user: "root", operation: "read", path: "/x" }))).toBe(false);
  });

  test("deny rules ignore case in users; allow rules do not", () => {
    expect(deny({ users: ["root"] })(exec("ls", "ROOT"))).toBe(true);
    expect(allow({ users: ["root"] })(exec("ls", "ROOT"))).toBe(false);
  });

  test("a misspelt action or operation is a policy error", () => {
    expect(() => compileSshMatcher({ actions: ["exe"] }, true)).toThrow(/unknown ssh action "exe" \(expected one of shell, exec, sftp, forward\)/);
    expect(() => compileSshMatcher({ operations: ["delete"] }, true)).toThrow(/unknown ssh sftp operation "delete"/);
  });

  test("conditions about different actions cannot be combined", () => {
    expect(() => compileSshMatcher({ commands: ["ls"], paths: ["/x"] }, false)).toThrow(/can never match/);
    expect(() => compileSshMatcher({ actions: ["sftp"], commands: ["ls"] }, true)).toThrow(/can never match/);
    expect(() => compileSshMatcher({ actions: ["exec"], destinations: ["a:1"] }, true)).toThrow(GatewayError);
  });
});

describe("commands, allow rules", () => {
  const m = allow({ commands: ["systemctl status *", "journalctl **", "re:uptime( -p)?"] });

  test("* is one argument, ** any number (none included)", () => {
    expect(m(exec("systemctl status nginx"))).toBe(true);
    expect(m(exec("systemctl status 'my unit'"))).toBe(true);
    expect(m(exec("systemctl status"))).toBe(false);
    expect(m(exec("systemctl status a b"))).toBe(false);
    expect(m(exec("journalctl"))).toBe(true);
    expect(m(exec("journalctl -u nginx --since today"))).toBe(true);
  });

  test("in a word, * stays within a path segment and ** spans them; no wildcard matches a .. segment (the sudoers hole)", () => {
    const c = allow({ commands: ["cat /var/log/*", "tail -n * /var/log/**"] });
    expect(c(exec("cat /var/log/syslog"))).toBe(true);
    expect(c(exec("cat /var/log/nginx/access.log"))).toBe(false);
    expect(c(exec("cat /var/log/../../etc/shadow"))).toBe(false);
    expect(c(exec("cat /var/log/.."))).toBe(false);
    expect(c(exec("tail -n 20 /var/log/nginx/access.log"))).toBe(true);
    expect(c(exec("tail -n 20 /var/log/nginx/../../../etc/shadow"))).toBe(false);
    expect(c(exec("tail -n 20 /var/log/..hidden"))).toBe(true);
    // A literal word is compared as written, dots and all.
    expect(allow({ commands: ["cat /var/log/../log/syslog"] })(exec("cat /var/log/../log/syslog"))).toBe(true);
  });

  test("deny wildcards match anything, slashes and .. included", () => {
    const d = deny({ commands: ["rm /tmp/*", "cat *shadow"] });
    expect(d(exec("rm /tmp/a/b"))).toBe(true);
    expect(d(exec("rm /tmp/../etc/passwd"))).toBe(true);
    expect(d(exec("cat /etc/shadow"))).toBe(true);
  });

  test("regexes match argv joined by spaces, whole", () => {
    expect(m(exec("uptime"))).toBe(true);
    expect(m(exec("uptime -p"))).toBe(true);
    expect(m(exec("'uptime' \"-p\""))).toBe(true);
    expect(m(exec("uptime -s"))).toBe(false);
    expect(m(exec("xuptime"))).toBe(false);
  });

  test("the program word is matched exactly: no path, no case", () => {
    expect(m(exec("/usr/bin/systemctl status nginx"))).toBe(false);
    expect(m(exec("/tmp/systemctl status nginx"))).toBe(false);
    expect(m(exec("SYSTEMCTL status nginx"))).toBe(false);
  });

  test("a line that cannot be split, or runs what cannot be seen, is never allowed by patterns", () => {
    expect(m(exec("systemctl status nginx; rm -rf /"))).toBe(false);
    expect(m(exec("journalctl | sh"))).toBe(false);
    expect(m(exec("journalctl $(rm -rf /)"))).toBe(false);
    expect(m(exec("journalctl -u nginx > /etc/passwd"))).toBe(false);
  });

  test("every command the line runs must be allowed: the wrapper and what it wraps", () => {
    const w = allow({ commands: ["env **", "sudo **", "nice **", "systemctl status *"] });
    expect(w(exec("env rm -rf /"))).toBe(false);
    expect(w(exec("sudo rm -rf /"))).toBe(false);
    expect(w(exec("sudo -u root systemctl status nginx"))).toBe(true);
    expect(w(exec("nice env LANG=C systemctl status nginx"))).toBe(true);
    expect(w(exec("nice env LANG=C systemctl restart nginx"))).toBe(false);
    // Variables that decide what runs make the line opaque: /tmp/evil/systemctl is not systemctl.
    expect(w(exec("env PATH=/tmp/evil systemctl status nginx"))).toBe(false);
    expect(w(exec("env SYSTEMD_PAGER=sh systemctl status nginx"))).toBe(false);
    // The wrapped command alone is not enough: the wrapper must be allowed too.
    expect(allow({ commands: ["systemctl status *"] })(exec("sudo systemctl status nginx"))).toBe(false);
    expect(allow({ commands: ["sh -c *"] })(exec("sh -c 'rm -rf /'"))).toBe(false);
    expect(allow({ commands: ["sh -c *", "ls **"] })(exec("sh -c 'ls -la'"))).toBe(true);
  });

  test("an interpreter or other opaque command is allowed only by a rule that allows any command", () => {
    expect(allow({ commands: ["python3 **"] })(exec("python3 -c 'print(1)'"))).toBe(false);
    expect(allow({ commands: ["**"] })(exec("python3 -c 'print(1)'"))).toBe(true);
    expect(allow({ commands: ["**"] })(exec("true; rm -rf /"))).toBe(true);
    expect(allow({ actions: ["exec"] })(exec("true; rm -rf /"))).toBe(true);
    expect(allow({ commands: ["re:.*"] })(exec("true; rm -rf /"))).toBe(false);
  });

  test("commands never allow a shell, an SFTP operation or a forward", () => {
    expect(allow({ commands: ["**"] })(req({ action: "shell" }))).toBe(false);
    expect(allow({ commands: ["**"] })(req({ action: "sftp", operation: "read", path: "/x" }))).toBe(false);
    expect(allow({ commands: ["**"] })(req({ action: "forward", destination: "a:1" }))).toBe(false);
  });

  test("an exec without a command is an empty line: not a simple command", () => {
    expect(allow({ commands: ["ls"] })(req({ action: "exec" }))).toBe(false);
    expect(deny({ commands: ["rm **"] })(req({ action: "exec" }))).toBe(true);
  });
});

describe("commands, deny and review rules", () => {
  const m = deny({ commands: ["rm **", "sudo **"] });

  test("the command, by name or path, in any case", () => {
    expect(m(exec("rm -rf /"))).toBe(true);
    expect(m(exec("rm"))).toBe(true);
    expect(m(exec("/bin/rm -rf /"))).toBe(true);
    expect(m(exec("/usr/bin/../bin/rm x"))).toBe(true);
    expect(m(exec("RM x"))).toBe(true);
    expect(m(exec("r''m x"))).toBe(true);
    expect(m(exec("ls -la"))).toBe(false);
  });

  test("inside wrappers, and from any word on (wrappers the gateway does not know)", () => {
    expect(m(exec("env rm x"))).toBe(true);
    expect(m(exec("sh -c 'rm -rf /'"))).toBe(true);
    expect(m(exec("find / -exec rm '{}' +"))).toBe(true);
    expect(m(exec("unknownwrapper --flag /bin/rm x"))).toBe(true);
    // The price: an argument that spells a denied command is refused too.
    expect(m(exec("grep rm notes.txt"))).toBe(true);
  });

  test("every line that is not a simple command, and every shell", () => {
    expect(m(exec("true; ls"))).toBe(true);
    expect(m(exec("ls | head"))).toBe(true);
    expect(m(exec("python3 -c 'print(1)'"))).toBe(true);
    expect(m(req({ action: "shell" }))).toBe(true);
    expect(deny({ actions: ["exec"], commands: ["rm **"] })(req({ action: "shell" }))).toBe(false);
  });

  test("not SFTP or forwards", () => {
    expect(m(req({ action: "sftp", operation: "remove", path: "/x" }))).toBe(false);
    expect(m(req({ action: "forward", destination: "a:1" }))).toBe(false);
  });

  test("regexes are tried from every word on, and by file name", () => {
    const r = deny({ commands: ["re:systemctl( .*)? (restart|stop)( .*)?"] });
    expect(r(exec("systemctl --no-block restart nginx"))).toBe(true);
    expect(r(exec("/bin/systemctl stop x"))).toBe(true);
    expect(r(exec("sudo systemctl stop x"))).toBe(true);
    expect(r(exec("systemctl status x"))).toBe(false);
  });
});

describe("many words and many **", () => {
  test("a line of a thousand words is matched correctly by patterns with several **", () => {
    const d = deny({ commands: ["journalctl ** --va* ** --rot* **"] });
    const pairs = Array.from({ length: 500 }, () => "journalctl --vx").join(" ");
    expect(d(exec(`${pairs} x`))).toBe(false);
    expect(d(exec(`${pairs} journalctl -u x --vacuum-time=1s y --rotate`))).toBe(true);
    expect(d(exec(`${pairs} journalctl -u x --vacuum-time=1s y --rotat`))).toBe(true);
    expect(d(exec(`${pairs} journalctl -u x --vacuum-time=1s y --rxtate`))).toBe(false);
    // Past 1024 words the line is not split at all, and deny rules about commands match it.
    expect(d(exec(`${pairs} ${pairs}`))).toBe(true);
    const a = allow({ commands: ["journalctl ** -u * ** --since *"] });
    expect(a(exec(`journalctl ${Array.from({ length: 1000 }, () => "-u").join(" ")} --since today`))).toBe(true);
    expect(a(exec(`journalctl ${Array.from({ length: 1000 }, () => "-u").join(" ")} --until today`))).toBe(false);
  });
});

describe("invalid patterns", () => {
  for (const p of ["", "a ***", "ls [ab]", "ls {a,b}", "re:(", "re:", "ls 'x"]) {
    test(JSON.stringify(p), () => expect(() => compileSshMatcher({ commands: [p] }, false)).toThrow(GatewayError));
  }
  test("quoted stars are literal", () => {
    const m = allow({ commands: ["echo '*'"] });
    expect(m(exec("echo '*'"))).toBe(true);
    expect(m(exec("echo x"))).toBe(false);
  });
});

describe("SFTP operations and paths", () => {
  const m = allow({ operations: ["read", "list"], paths: ["/var/log/**"] });
  const sftp = (operation: SshRequestFacts["operation"], path?: string, toPath?: string) => req({ action: "sftp", ...(operation ? { operation } : {}), ...(path ? { path } : {}), ...(toPath ? { toPath } : {}) });

  test("operation and path must both fit", () => {
    expect(m(sftp("read", "/var/log/syslog"))).toBe(true);
    expect(m(sftp("list", "/var/log"))).toBe(true);
    expect(m(sftp("write", "/var/log/syslog"))).toBe(false);
    expect(m(sftp("read", "/etc/shadow"))).toBe(false);
  });

  test("paths that are not normalised are never allowed, and always refused", () => {
    for (const p of ["/var/log/../../etc/shadow", "var/log/x", "/var/log//x", "/var/log/./x", "/var/log/x\n"]) {
      expect(m(sftp("read", p))).toBe(false);
      expect(deny({ paths: ["/nothing"] })(sftp("read", p))).toBe(true);
    }
  });

  test("a rename needs both paths within an allow rule, either within a deny rule", () => {
    const w = allow({ operations: ["rename"], paths: ["/srv/app/**"] });
    expect(w(sftp("rename", "/srv/app/a", "/srv/app/b"))).toBe(true);
    expect(w(sftp("rename", "/srv/app/a", "/etc/cron.d/x"))).toBe(false);
    const d = deny({ paths: ["/etc/**"] });
    expect(d(sftp("rename", "/tmp/x", "/etc/cron.d/x"))).toBe(true);
    expect(d(sftp("rename", "/tmp/x", "/tmp/y"))).toBe(false);
  });

  test("a deny rule holds a rename of a folder above what it names: the tree would move out from under it", () => {
    const d = deny({ paths: ["/home/u/secret/**"] });
    expect(d(sftp("rename", "/home/u", "/home/w"))).toBe(true);
    expect(d(sftp("rename", "/home", "/h2"))).toBe(true);
    expect(d(sftp("rename", "/", "/x"))).toBe(true);
    // Moving something into the denied place creates the tree it names.
    expect(d(sftp("rename", "/tmp/stash", "/home/u/secret"))).toBe(true);
    expect(d(sftp("rename", "/tmp/stash", "/HOME/U"))).toBe(true);
    // Siblings and folders elsewhere are not above it.
    expect(d(sftp("rename", "/home/v", "/home/w"))).toBe(false);
    expect(d(sftp("rename", "/home/u/public", "/home/u/public2"))).toBe(false);
    // Wildcard segments: /home/*/secret/** lies below every /home/X.
    const star = deny({ paths: ["/home/*/secret/**"] });
    expect(star(sftp("rename", "/home/anyone", "/tmp/a"))).toBe(true);
    expect(star(sftp("rename", "/var/x", "/tmp/a"))).toBe(false);
    // Only renames: reading or listing a folder above is not the denied tree.
    expect(d(sftp("list", "/home/u"))).toBe(false);
    // Allow rules are unchanged: a rename inside the allowed tree stays allowed.
    expect(allow({ operations: ["rename"], paths: ["/home/u/**"] })(sftp("rename", "/home/u/a", "/home/u/b"))).toBe(true);
  });

  test("opening the subsystem: allowed by an allow rule, not refused by a deny rule about operations", () => {
    expect(m(sftp(undefined))).toBe(true);
    expect(deny({ operations: ["remove"] })(sftp(undefined))).toBe(false);
    expect(deny({ operations: ["remove"] })(sftp("remove", "/x"))).toBe(true);
  });

  test("deny paths ignore case", () => {
    expect(deny({ paths: ["/etc/**"] })(sftp("read", "/ETC/shadow"))).toBe(true);
  });
});

describe("forward destinations", () => {
  const fwd = (destination: string) => req({ action: "forward", destination });

  test("host globs per label, ports as numbers, ranges or *", () => {
    const m = allow({ destinations: ["db.internal:5432", "*.web.internal:443", "10.0.0.5:8000-8100"] });
    expect(m(fwd("db.internal:5432"))).toBe(true);
    expect(m(fwd("DB.Internal.:5432"))).toBe(true);
    expect(m(fwd("db.internal:5433"))).toBe(false);
    expect(m(fwd("a.web.internal:443"))).toBe(true);
    expect(m(fwd("a.b.web.internal:443"))).toBe(false);
    expect(m(fwd("10.0.0.5:8080"))).toBe(true);
    expect(m(fwd("10.0.0.5:8101"))).toBe(false);
  });

  test("other spellings of an address are the same address", () => {
    const d = deny({ destinations: ["127.0.0.1:*"] });
    for (const s of ["127.0.0.1:22", "127.1:22", "0x7f.0.0.1:22", "2130706433:22", "0177.0.0.1:22", "[::ffff:127.0.0.1]:22"]) expect([s, d(fwd(s))]).toEqual([s, true]);
    expect(d(fwd("127.0.0.2:22"))).toBe(false);
  });

  test("a destination that does not parse is never allowed and always refused", () => {
    for (const s of ["db.internal", "db.internal:0", "db.internal:99999", "a b:1", "x@y:22", ":22"]) {
      expect([s, allow({ destinations: ["**:*"] })(fwd(s))]).toEqual([s, false]);
      expect([s, deny({ destinations: ["nothing:1"] })(fwd(s))]).toEqual([s, true]);
    }
  });

  test("invalid destination patterns are policy errors", () => {
    for (const p of ["db.internal", "db:abc", "db:0", "db:9-1"]) expect(() => compileSshMatcher({ destinations: [p] }, false)).toThrow(GatewayError);
  });
});

describe("shell lines (best effort)", () => {
  const line = (l?: string) => req({ action: "shell", ...(l !== undefined ? { line: l } : {}) });

  test("an allow rule with lines allows the shell and the lines that match", () => {
    const m = allow({ actions: ["shell"], lines: ["ls **", "cat *"] });
    expect(m(line())).toBe(true);
    expect(m(line("ls -la"))).toBe(true);
    expect(m(line("vi x"))).toBe(false);
    expect(m(line("ls; vi x"))).toBe(false);
  });

  test("a deny rule with lines refuses matching lines, and lines it cannot read, but not the shell itself", () => {
    const d = deny({ lines: ["rm **"] });
    expect(d(line())).toBe(false);
    expect(d(line("rm -rf /"))).toBe(true);
    expect(d(line("ls | grep x"))).toBe(true);
    expect(d(line("ls"))).toBe(false);
  });
});
