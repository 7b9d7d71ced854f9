import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { MAX_COMMAND_LENGTH, MAX_WORDS, refusalText, splitCommandLine } from "./ssh-command.ts";

const argv = (line: string) => {
  const r = splitCommandLine(line);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(line)} to split, got: ${refusalText(r)}`);
  return r.argv;
};
const refused = (line: string) => {
  const r = splitCommandLine(line);
  if (r.ok) throw new Error(`expected ${JSON.stringify(line)} to be refused, got ${JSON.stringify(r.argv)}`);
  return refusalText(r);
};

describe("simple commands split into argv", () => {
  const cases: [string, string[]][] = [
    ["systemctl status nginx", ["systemctl", "status", "nginx"]],
    ["  journalctl\t-u  nginx --since today ", ["journalctl", "-u", "nginx", "--since", "today"]],
    ["systemctl status nginx.service", ["systemctl", "status", "nginx.service"]],
    ["journalctl --since=2026-01-01 -o json-pretty", ["journalctl", "--since=2026-01-01", "-o", "json-pretty"]],
    [`r''m -rf /`, ["rm", "-rf", "/"]],
    [`"rm" -rf /`, ["rm", "-rf", "/"]],
    [`'systemctl' "status" 'my unit'`, ["systemctl", "status", "my unit"]],
    [`grep 'a;b|c&d' "x  y"`, ["grep", "a;b|c&d", "x  y"]],
    [`echo ''`, ["echo", ""]],
    [`echo "" ''x`, ["echo", "", "x"]],
    [`echo a\\ b`, ["echo", "a b"]],
    [`find . -exec rm '{}' \\;`, ["find", ".", "-exec", "rm", "{}", ";"]],
    [`echo \\$HOME \\* \\\\`, ["echo", "$HOME", "*", "\\"]],
    [`journalctl -u 'nginx*'`, ["journalctl", "-u", "nginx*"]],
    [`echo "$"`.replace("$", "%"), ["echo", "%"]],
    [`echo 'café' "naïve"`, ["echo", "café", "naïve"]],
    [`ls -la /var/log/nginx/`, ["ls", "-la", "/var/log/nginx/"]],
    [`user@host:path a,b c+d e%f`, ["user@host:path", "a,b", "c+d", "e%f"]],
    [`sh -c 'rm -rf /'`, ["sh", "-c", "rm -rf /"]],
    [`env FOO=bar cmd`, ["env", "FOO=bar", "cmd"]],
  ];
  for (const [line, want] of cases) test(JSON.stringify(line), () => expect(argv(line)).toEqual(want));
});

describe("what is not a simple command is refused, saying what and where", () => {
  const cases: [string, RegExp][] = [
    ["true; rm -rf /", /^";" \(a command separator\) at 5$/],
    ["true && rm", /"&".* at 6/],
    ["false || rm", /"\|".* at 7/],
    ["cat x | sh", /"\|" \(a pipe/],
    ["sleep 1 &", /"&"/],
    ["systemctl status $(rm -rf /)", /"\$" \(an expansion/],
    ["systemctl status `rm -rf /`", /"`" \(a command substitution\)/],
    ["rm${IFS}-rf${IFS}/", /"\$"/],
    ["rm$IFS-rf /", /"\$"/],
    ["echo x > /etc/passwd", /"\>" \(a redirection\)/],
    ["cat < /etc/shadow", /"<" \(a redirection\)/],
    ["cat <<< x", /redirection/],
    ["diff <(ls) x", /redirection/],
    ["systemctl status x\nrm -rf /", /newline \(U\+000A\) at 19/],
    ["systemctl status x\rrm", /carriage return/],
    ["ls /bin/r?", /"\?" \(a file name glob/],
    ["ls /bin/r*", /glob/],
    ["ls /bin/[r]m", /glob/],
    ["echo {a,b}", /brace expansion/],
    ["{ rm; }", /brace/],
    ["cat ~/.ssh/id_rsa", /tilde/],
    ["ls # comment", /"#" \(a comment\)/],
    ["! rm", /"!"/],
    ["ls ^ rm", /"\^"/],
    ["(rm -rf /)", /"\(" \(a subshell/],
    ["FOO=bar rm", /"=" in the first word \(an assignment/],
    ["LD_PRELOAD=/tmp/x.so systemctl status", /assignment/],
    ["ls =rm", /"=" at the start of a word \(zsh/],
    ["ls %1", /"%" at the start of a word/],
    ["\\rm -rf /", /backslash before a letter or digit/],
    ["r\\x6d -rf /", /backslash before a letter or digit/],
    ["echo \\", /backslash at the end/],
    ["echo \\\nrm", /backslash before newline/],
    ["echo 'a\\'", /backslash inside single quotes/],
    ['echo "a\\"b"', /backslash inside double quotes/],
    ['echo "$HOME"', /"\$" inside double quotes/],
    ['echo "`id`"', /"`" inside double quotes/],
    ["echo '!x'", /"!" inside quotes/],
    ["echo 'unterminated", /unterminated single quote at 6/],
    ['echo "unterminated', /unterminated double quote/],
    ["true；rm -rf /", /non-ASCII character outside quotes, "；" \(U\+FF1B\) at 5/],
    ["true ＆＆ rm", /U\+FF06/],
    ["rm\u00a0-rf /", /U\+00A0/],
    ["rm\u2028-rf", /U\+2028/],
    ["rm \u0000", /NUL/],
    ["rm \u001b[31m", /escape/],
    ["ls 'a\u0007b'", /control character.*inside quotes/],
    ["if rm; then :; fi", /;/],
    ["if true", /shell keyword "if"/],
    ["coproc rm", /shell keyword "coproc"/],
    ["not rm -rf /", /shell keyword "not"/],
    ["- rm -rf /", /shell keyword "-"/],
    ["noglob rm *", /glob/],
    ["noglob rm x", /shell keyword "noglob"/],
    ["", /an empty command line/],
    ["   \t ", /an empty command line/],
  ];
  for (const [line, want] of cases) test(JSON.stringify(line), () => expect(refused(line)).toMatch(want));

  test("lines over the limits are refused as a whole", () => {
    expect(refused(`echo ${"a".repeat(MAX_COMMAND_LENGTH)}`)).toMatch(/longer than/);
    expect(refused(`echo${" a".repeat(MAX_WORDS)}`)).toBe(`more than ${MAX_WORDS} words`);
    expect(argv(`echo${" a".repeat(MAX_WORDS - 1)}`).length).toBe(MAX_WORDS);
  });
});

// Differential: what the real shells do with every line the splitter accepts. dash is /bin/sh on
// Debian (and what `sh -c` runs); bash is the usual login shell.
const SHELLS = ["/bin/sh", "/usr/bin/dash", "/bin/bash", "/usr/bin/zsh", "/usr/bin/ksh", "/usr/bin/mksh"].filter((s) => existsSync(s));
const END = "@@end-of-line@@";

/** argv of each line as `shell` reads it: one shell run for all lines. */
function shellArgv(shell: string, lines: readonly string[]): string[][] {
  const script = lines.map((l) => `printf '%s\\0' ${l} '${END}'`).join("\n");
  const out = spawnSync(shell, ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", LC_ALL: "C.UTF-8" } });
  if (out.status !== 0) throw new Error(`${shell} failed (${out.status}): ${out.stderr}`);
  const words = out.stdout.split("\0");
  const result: string[][] = [];
  let cur: string[] = [];
  for (const w of words.slice(0, -1)) {
    if (w === END) {
      result.push(cur);
      cur = [];
    } else cur.push(w);
  }
  return result;
}

/** A small deterministic generator, so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ["a", "rm", "-rf", "/", ".", "-", "_", ":", ",", "+", "@", "%", "=", "x=y", " ", "  ", "\t", "'", '"', "\\", "\\ ", "\\;", "\\'", '\\"', "\\\\", "\\$", "\\*", "''", '""', "'a b'", '"c d"', "'$x'", "'*'", "'\"'", `"'"`, "é", ";", "&", "|", "$", "*", "?", "~", "#", "{", "}", "(", ")", "<", ">", "!", "`", "^", "[", "]", "\\n", "n", "0", "9"];

describe.skipIf(SHELLS.length === 0)(`differential against ${SHELLS.join(", ")}`, () => {
  test("every accepted line gives the shell's own argv (hand-picked and 3000 generated lines)", () => {
    const next = rng(11);
    const lines: string[] = [
      "systemctl status nginx",
      "journalctl -u nginx --since today",
      "r''m -rf /",
      "\"rm\" -rf /",
      "a\\ b\\;c",
      "'it'\\''s'",
      "echo \"a'b\" 'c\"d'",
      "x '' \"\" ''y",
      "find . -exec rm '{}' \\;",
      "e%f a=b --x=y",
    ];
    for (let i = 0; i < 3000; i++) {
      let line = "cmd ";
      const n = 1 + Math.floor(next() * 8);
      for (let k = 0; k < n; k++) line += PIECES[Math.floor(next() * PIECES.length)];
      lines.push(line);
    }
    const accepted = lines.filter((l) => splitCommandLine(l).ok);
    // The generator must exercise both sides, or this test proves nothing.
    expect(accepted.length).toBeGreaterThan(300);
    expect(lines.length - accepted.length).toBeGreaterThan(300);
    for (const shell of SHELLS) {
      const theirs = shellArgv(shell, accepted);
      expect(theirs.length).toBe(accepted.length);
      accepted.forEach((line, i) => {
        const ours = argv(line);
        // printf's own first argument is not part of the line.
        expect({ shell, line, argv: theirs[i] }).toEqual({ shell, line, argv: [...ours] });
      });
    }
  });
});
