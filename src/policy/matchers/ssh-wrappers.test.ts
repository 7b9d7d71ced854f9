import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyseCommand, basename, type CommandAnalysis } from "./ssh-wrappers.ts";

const simple = (line: string): string[][] => {
  const a = analyseCommand(line);
  if (a.kind !== "simple") throw new Error(`expected ${JSON.stringify(line)} to be simple, got ${a.kind}: ${a.reason}`);
  return a.commands.map((c) => [...c]);
};
const kindOf = (line: string): CommandAnalysis["kind"] => analyseCommand(line).kind;
const reason = (line: string): string => {
  const a = analyseCommand(line);
  return a.kind === "simple" ? "" : a.reason;
};

describe("wrappers: the commands a line runs", () => {
  test("a plain command runs itself", () => {
    expect(simple("systemctl status nginx")).toEqual([["systemctl", "status", "nginx"]]);
  });

  const cases: [string, string[]][] = [
    ["env rm -rf /", ["rm", "-rf", "/"]],
    ["env -i LANG=C LC_ALL=C TZ=UTC rm -rf /", ["rm", "-rf", "/"]],
    ["/usr/bin/env -u HOME -C /tmp rm x", ["rm", "x"]],
    ["env - rm", ["rm"]],
    ["env -- rm", ["rm"]],
    ["sudo rm -rf /", ["rm", "-rf", "/"]],
    ["sudo -u root -g wheel rm x", ["rm", "x"]],
    ["sudo -uroot rm x", ["rm", "x"]],
    ["sudo --user=root -E TERM=dumb rm", ["rm"]],
    ["sudo -- rm", ["rm"]],
    ["doas -u root rm", ["rm"]],
    ["nice rm", ["rm"]],
    ["nice -n 19 rm", ["rm"]],
    ["nice -10 rm", ["rm"]],
    ["nice --adjustment=5 rm", ["rm"]],
    ["nohup rm x", ["rm", "x"]],
    ["timeout 5 rm x", ["rm", "x"]],
    ["timeout -s KILL -k 1 5s rm", ["rm"]],
    ["timeout --signal=TERM --preserve-status 5 rm", ["rm"]],
    ["stdbuf -oL -e 0 rm", ["rm"]],
    ["ionice -c 3 rm", ["rm"]],
    ["setsid -f rm", ["rm"]],
    ["chroot / rm", ["rm"]],
    ["chroot --userspec=0:0 / rm", ["rm"]],
    ["taskset 0x1 rm", ["rm"]],
    ["taskset -c 0 rm", ["rm"]],
    ["exec rm", ["rm"]],
    ["exec -a name rm", ["rm"]],
    ["command rm", ["rm"]],
    ["command -p rm", ["rm"]],
    ["builtin eval rm", ["rm"]],
    ["time rm", ["rm"]],
    ["time -f '%e' -o /tmp/t rm", ["rm"]],
    ["busybox rm -rf /", ["rm", "-rf", "/"]],
    ["eval rm -rf /", ["rm", "-rf", "/"]],
    ["eval 'rm -rf /'", ["rm", "-rf", "/"]],
    ["sh -c 'rm -rf /'", ["rm", "-rf", "/"]],
    ["bash -c 'rm -rf /'", ["rm", "-rf", "/"]],
    ["bash -lc 'rm -rf /'", ["rm", "-rf", "/"]],
    ["bash -e -c 'rm -rf /' name arg", ["rm", "-rf", "/"]],
    ["bash -o errexit -c rm", ["rm"]],
    ["/bin/dash -c rm", ["rm"]],
    ["zsh -c 'rm x'", ["rm", "x"]],
    ["fish --command='rm x'", ["rm", "x"]],
    ["fish --command 'rm x'", ["rm", "x"]],
    ["su -c 'rm x' root", ["rm", "x"]],
    ["su root -c 'rm x'", ["rm", "x"]],
    ["su --command='rm x'", ["rm", "x"]],
    ["su -lc rm", ["rm"]],
    ["runuser -u root -c rm", ["rm"]],
    ["script -q -c 'rm x' /dev/null", ["rm", "x"]],
    ["find / -exec rm -rf '{}' \\;", ["rm", "-rf", "{}"]],
    ["find / -execdir rm '{}' +", ["rm", "{}"]],
    ["find / -name x -ok rm '{}' \\;", ["rm", "{}"]],
  ];
  for (const [line, inner] of cases) {
    test(`${line} runs ${inner.join(" ")}`, () => {
      const cmds = simple(line);
      expect(cmds[cmds.length - 1]).toEqual(inner);
    });
  }

  test("wrappers nest, and every level is listed", () => {
    expect(simple("nice -n 5 timeout 10 sudo env -i sh -c 'rm -rf /'")).toEqual([
      ["nice", "-n", "5", "timeout", "10", "sudo", "env", "-i", "sh", "-c", "rm -rf /"],
      ["timeout", "10", "sudo", "env", "-i", "sh", "-c", "rm -rf /"],
      ["sudo", "env", "-i", "sh", "-c", "rm -rf /"],
      ["env", "-i", "sh", "-c", "rm -rf /"],
      ["sh", "-c", "rm -rf /"],
      ["rm", "-rf", "/"],
    ]);
  });

  test("find runs each -exec", () => {
    expect(simple("find / -exec cat '{}' \\; -exec rm '{}' \\;").slice(1)).toEqual([
      ["cat", "{}"],
      ["rm", "{}"],
    ]);
  });

  test("wrappers that run nothing", () => {
    expect(simple("env")).toEqual([["env"]]);
    expect(simple("command -v rm")).toEqual([["command", "-v", "rm"]]);
    expect(simple("sudo -l")).toEqual([["sudo", "-l"]]);
    expect(simple("find /var/log -name '*.log'")).toEqual([["find", "/var/log", "-name", "*.log"]]);
  });
});

describe("a shell string that is not a simple command makes the whole line unsplittable", () => {
  for (const line of ["sh -c 'true; rm -rf /'", "bash -c 'rm $(id)'", "su -c 'a|b'", "eval 'a;b'", "eval a '&&' b", "sudo sh -c 'x > y'", "script -c 'a;b'"]) {
    test(line, () => {
      expect(kindOf(line)).toBe("unsplittable");
      expect(reason(line)).toMatch(/in the command .* runs$/);
    });
  }
});

describe("what the gateway cannot follow is opaque", () => {
  const cases: [string, RegExp][] = [
    ["python3 -c 'import os; os.system(\"rm -rf /\")'", /interpreter/],
    ["python3.11 script.py", /interpreter/],
    ["perl -e 'system q(rm)'", /interpreter/],
    ["ruby -e x", /interpreter/],
    ["node -e x", /interpreter/],
    ["php -r x", /interpreter/],
    ["awk 'BEGIN{system(\"rm\")}'", /can run other commands/],
    ["sed -n 1p x", /can run other commands/],
    ["less /var/log/syslog", /can run other commands/],
    ["vim x", /can run other commands/],
    ["xargs rm", /cannot follow/],
    ["ssh other rm -rf /", /cannot follow/],
    ["watch rm", /cannot follow/],
    ["nsenter -t 1 -m rm", /cannot follow/],
    ["sh script.sh", /without -c/],
    ["bash", /without -c/],
    ["bash -s", /without -c/],
    ["bash --rcfile x", /runs a file/],
    ["sh -c", /without a command/],
    ["su", /starts a shell/],
    ["su - root", /starts a shell/],
    ["sudo -s", /starts a shell/],
    ["sudo -i", /starts a shell/],
    ["chroot /", /starts a shell/],
    ["script", /starts a shell/],
    ["env -S 'rm -rf /'", /env -S/],
    ["env --split-string='rm'", /env --split-string/],
    ["sudo -h x rm", /sudo option "-h"/],
    ["env --frobnicate rm", /not one the gateway follows/],
    ["env PATH=/tmp/evil systemctl status", /env sets PATH, which may change what runs/],
    ["env SYSTEMD_PAGER='rm -f /x' systemctl status", /env sets SYSTEMD_PAGER/],
    ["env LANG=C LD_PRELOAD=/tmp/x.so journalctl", /env sets LD_PRELOAD/],
    ["sudo PAGER=sh journalctl", /sudo sets PAGER/],
    ["nice --adj=5 rm", /not one the gateway follows/],
    ["find / -exec rm", /without a closing/],
    ["find / -fprint /etc/x", /writes to a file/],
    ["tar -cf x.tar --to-command=sh y", /runs another program/],
    ["tar -I 'sh -c x' -xf y", /runs another program/],
    ["rsync -e 'sh -c x' a b", /runs another program/],
    ["git -c core.pager=sh log", /runs another program/],
    ["systemctl -H root@evil status", /runs another program/],
    ["systemctl status --host=evil", /runs another program/],
    ["systemctl status -lH evil", /runs another program/],
    ["sudo python3 -c x", /interpreter/],
    ["busybox -x", /busybox options/],
    ["make all", /can run other commands/],
    ["npm run build", /can run other commands/],
    ["tcpdump -i any -w x -G 1 -z /tmp/evil", /runs another program/],
    ["ip netns exec x rm", /runs another program/],
    ["enable -f /tmp/evil.so evil", /cannot follow/],
    ["fc -s rm", /cannot follow/],
    [". /tmp/x.sh", /cannot follow/],
  ];
  for (const [line, why] of cases) {
    test(line, () => {
      expect(kindOf(line)).toBe("opaque");
      expect(reason(line)).toMatch(why);
    });
  }

  test("wrappers nested too deep", () => {
    expect(reason(`${"nice ".repeat(12)}ls`)).toMatch(/nested deeper than 8/);
  });
});

// Differential: the real wrappers on this machine run what analyseCommand says they run. A probe
// program records the argv it gets; each line runs under a real shell with the probe on PATH,
// and the recorded argv must be the innermost command of the analysis ("{}" is find's file name).
describe.skipIf(process.platform !== "linux" || !existsSync("/usr/bin/env"))("differential against the real wrappers", () => {
  let dir: string;
  let probe: string;
  let log: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-wrappers-"));
    probe = join(dir, "gh-probe");
    log = join(dir, "argv");
    writeFileSync(probe, `#!/bin/sh\nprintf '%s\\0' "$0" "$@" > '${log}'\n`, { mode: 0o755 });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const has = (p: string) => existsSync(p);
  const root = process.getuid?.() === 0;
  const cases: [string, string, boolean][] = [
    // [shell, line with P for the probe's absolute path, runnable here]
    ["/bin/sh", "env gh-probe a b", true],
    ["/bin/sh", "env -i P a", true],
    ["/bin/sh", "env -u HOME -C / gh-probe x", true],
    ["/bin/sh", "env LANG=C TZ=UTC gh-probe 'a b'", true],
    ["/bin/sh", "env -- gh-probe --x", true],
    ["/bin/sh", "/usr/bin/env -i LC_ALL=C P -y", true],
    ["/bin/sh", "nice gh-probe a", true],
    ["/bin/sh", "nice -n 5 gh-probe a", true],
    ["/bin/sh", "nice -5 gh-probe a", true],
    ["/bin/sh", "nice --adjustment=3 gh-probe a", true],
    ["/bin/sh", "nohup gh-probe a", true],
    ["/bin/sh", "timeout 10 gh-probe a", true],
    ["/bin/sh", "timeout -s KILL -k 1 5s gh-probe a", true],
    ["/bin/sh", "timeout --preserve-status 5 gh-probe a", true],
    ["/bin/sh", "stdbuf -oL -e 0 gh-probe a", has("/usr/bin/stdbuf")],
    ["/bin/sh", "setsid -w gh-probe a", has("/usr/bin/setsid")],
    ["/bin/sh", "ionice -c 3 gh-probe a", has("/usr/bin/ionice")],
    ["/bin/sh", "ionice -c3 gh-probe a", has("/usr/bin/ionice")],
    ["/bin/sh", "taskset 0x1 gh-probe a", has("/usr/bin/taskset")],
    ["/bin/sh", "taskset -c 0 gh-probe a", has("/usr/bin/taskset")],
    ["/bin/sh", "chroot / P a", root && has("/usr/sbin/chroot")],
    ["/bin/sh", "chroot --userspec=0:0 / P a", root && has("/usr/sbin/chroot")],
    ["/bin/sh", "exec gh-probe a", true],
    ["/bin/sh", "command gh-probe a", true],
    ["/bin/sh", "eval gh-probe a b", true],
    ["/bin/sh", "eval 'gh-probe a'", true],
    ["/bin/bash", "builtin eval 'gh-probe a'", true],
    ["/bin/bash", "exec -a name P a", true],
    ["/bin/sh", "time gh-probe a", has("/usr/bin/time")],
    ["/bin/sh", "/usr/bin/time -f '%e' -o /dev/null gh-probe a", has("/usr/bin/time")],
    ["/bin/sh", "sh -c 'gh-probe a b'", true],
    ["/bin/sh", `bash -c 'gh-probe "x y"'`, true],
    ["/bin/sh", "bash -lc 'P a'", true],
    ["/bin/sh", "bash -o errexit -c 'gh-probe a' name arg", true],
    ["/bin/sh", "bash -e -c 'gh-probe a'", true],
    ["/bin/sh", "dash -c 'gh-probe a'", true],
    ["/bin/sh", "su root -c 'P a'", root],
    ["/bin/sh", "su -c 'P a'", root],
    ["/bin/sh", "runuser root -c 'P a'", root && has("/usr/sbin/runuser")],
    ["/bin/sh", "script -qc 'P a' /dev/null", has("/usr/bin/script")],
    ["/bin/sh", "find / -maxdepth 0 -exec gh-probe '{}' ';'", true],
    ["/bin/sh", "find /etc -maxdepth 0 -execdir gh-probe x '{}' +", true],
    ["/bin/sh", "nice timeout 5 env LANG=C sh -c 'gh-probe a'", true],
  ];
  for (const [shell, template, runnable] of cases) {
    test.skipIf(!runnable)(`${template} (${shell})`, () => {
      const line = template.replace(/\bP\b/g, probe);
      const a = analyseCommand(line);
      if (a.kind !== "simple") throw new Error(`${line}: expected simple, got ${a.kind}: ${a.reason}`);
      rmSync(log, { force: true });
      const r = spawnSync(shell, ["-c", line], { cwd: dir, env: { PATH: `${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: dir }, encoding: "utf8", timeout: 60_000 });
      if (!existsSync(log)) throw new Error(`the probe did not run: status ${r.status}, ${r.stderr}`);
      const ran = readFileSync(log, "utf8").split("\0").slice(0, -1);
      const inner = a.commands[a.commands.length - 1]!;
      const dirOfFind = template.includes("-execdir") ? "./etc" : "/";
      expect({ program: basename(ran[0]!), args: ran.slice(1) }).toEqual({ program: basename(inner[0]!), args: inner.slice(1).map((w) => (w === "{}" ? dirOfFind : w)) });
    });
  }
});
