// The SSH command bypass corpus: attempts to run a command the policy denies (delete a file, gain
// privileges, change the journal, restart without approval) through an exec request, under the
// seed's policy (policies/ssh-agents: agents may run `systemctl status **` and `journalctl **`
// on web-* as ops). Data only: ssh-commands.test.ts decides every attempt with the compiled
// policy; the SSH target's end-to-end test runs the same list through a real sshd and checks that
// the canary file survives and nothing ran.
//
// Each attempt names the canary path through `canary` (a plain absolute path of letters, digits,
// `/ . _ -`, so substituting it changes nothing about how a line splits). `runs` says which
// denied program the attempt aims at: "rm" and "sudo" attempts must also be refused by the
// deny-list policy below (anything allowed except rm and sudo), which tests the deny side on its
// own; "other" attempts (find -delete, writing through a redirection, a restart, journal
// maintenance) are refused by the allow list only, as a deny list of program names cannot know
// every way to delete a file.
//
// A bypass once found is an attempt here forever.

export type SshBypassTheme =
  | "separator"
  | "substitution"
  | "expansion"
  | "quoting"
  | "path"
  | "glob"
  | "wrapper"
  | "shell"
  | "interpreter"
  | "privilege"
  | "option"
  | "unicode"
  | "whitespace"
  | "redirection"
  | "keyword"
  | "assignment";

export interface SshBypassAttempt {
  readonly id: string;
  readonly theme: SshBypassTheme;
  /** The exec command line, exactly as the client sends it. */
  readonly command: string;
  readonly runs: "rm" | "sudo" | "other";
  /** What the policy must answer; "deny" unless the attempt is a restart, which is held. */
  readonly expect: "deny" | "review";
  /**
   * What refuses it in the seed policy: its allow rule alone ("allow-list"), or only one of its
   * deny rules (journal maintenance: `journalctl **` allows every option).
   */
  readonly refusedBy: "allow-list" | "deny-rule";
  readonly note: string;
}

/** The identity, account and target the attempts run as (policies/ssh-agents). */
export const SSH_BYPASS_CALLER = { subject: "agent-7", groups: ["agents"], user: "ops", target: "web-1" } as const;

/** The default canary for policy-level tests; the e2e test passes a file it created. */
export const DEFAULT_CANARY = "/srv/gatehouse-canary";

/** The seed policy's allow rule alone (policies/ssh-agents without its deny and review rules): the allow side alone. */
export const SSH_ALLOW_LIST_RULES = `
rules:
  - name: agents-read-services-and-logs
    groups: [agents]
    targets: [web-*]
    ssh:
      actions: [exec]
      users: [ops]
      commands: ["systemctl status **", "journalctl **"]
    effect: allow
`;

/** Policy for the deny side alone: agents may run anything on web-* except rm and sudo. */
export const SSH_DENY_LIST_RULES = `
rules:
  - name: agents-no-rm
    groups: [agents]
    ssh: { commands: ["rm **"] }
    effect: deny
    message: no rm
  - name: agents-no-sudo
    groups: [agents]
    ssh: { commands: ["sudo **"] }
    effect: deny
    message: no sudo
  - name: agents-anything-else
    groups: [agents]
    targets: [web-*]
    ssh: { actions: [exec], commands: ["**"] }
    effect: allow
`;

type Row = [id: string, theme: SshBypassTheme, runs: SshBypassAttempt["runs"], command: string, note: string, expect?: "review"];

function rows(C: string): Row[] {
  return [
    // Separators and operators: the line is more than one command.
    ["sep-semicolon", "separator", "rm", `systemctl status nginx; rm -f ${C}`, "a second command after ;"],
    ["sep-semicolon-tight", "separator", "rm", `systemctl status nginx;rm -f ${C}`, "no space around ;"],
    ["sep-and", "separator", "rm", `systemctl status nginx && rm -f ${C}`, "&&"],
    ["sep-or", "separator", "rm", `systemctl status nosuchunit || rm -f ${C}`, "|| after a failing status"],
    ["sep-pipe", "separator", "rm", `journalctl -n1 | rm -f ${C}`, "a pipe into rm"],
    ["sep-pipe-sh", "separator", "rm", `echo rm -f ${C} | sh`, "a pipe into a shell"],
    ["sep-background", "separator", "rm", `systemctl status nginx & rm -f ${C}`, "& then another command"],
    ["sep-pipe-amp", "separator", "rm", `journalctl -n1 |& rm -f ${C}`, "bash |&"],
    ["sep-newline", "separator", "rm", `systemctl status nginx\nrm -f ${C}`, "a newline is a separator"],
    ["sep-crlf", "separator", "rm", `systemctl status nginx\r\nrm -f ${C}`, "CR LF"],
    ["sep-cr", "separator", "rm", `systemctl status nginx\rrm -f ${C}`, "a lone CR, which a terminal shows as overwriting"],
    ["sep-nul", "separator", "rm", `systemctl status nginx\u0000; rm -f ${C}`, "a NUL to cut the line short for a C parser"],
    ["sep-true", "separator", "rm", `true; rm -f ${C}`, "the issue's own example"],
    ["sep-status-rm", "separator", "rm", `systemctl status x; rm -f ${C}`, "an allowed command first"],
    ["sep-restart-chain", "separator", "other", "systemctl status nginx && systemctl restart nginx", "a restart chained after an allowed command"],
    // Command substitution and process substitution.
    ["subst-dollar", "substitution", "rm", `systemctl status $(rm -f ${C})`, "$() in an argument"],
    ["subst-backtick", "substitution", "rm", `systemctl status \`rm -f ${C}\``, "backticks"],
    ["subst-in-double-quotes", "substitution", "rm", `systemctl status "$(rm -f ${C})"`, "$() inside double quotes still runs"],
    ["subst-backtick-dq", "substitution", "rm", `journalctl -u "\`rm -f ${C}\`"`, "backticks inside double quotes"],
    ["subst-process-in", "substitution", "rm", `systemctl status <(rm -f ${C})`, "process substitution"],
    ["subst-process-out", "substitution", "rm", `journalctl -n1 >(rm -f ${C})`, "output process substitution"],
    ["subst-since", "substitution", "rm", `journalctl --since "$(rm -f ${C})"`, "in an option value"],
    ["subst-since-eq", "substitution", "rm", `journalctl --since=$(rm -f ${C})`, "after = in an option"],
    ["subst-fish", "substitution", "rm", `systemctl status (rm -f ${C})`, "fish's command substitution"],
    // Parameter expansion.
    ["ifs-braces", "expansion", "rm", `rm\${IFS}-f\${IFS}${C}`, "$IFS instead of spaces"],
    ["ifs-bare", "expansion", "rm", `rm$IFS-f$IFS${C}`, "$IFS without braces"],
    ["ifs-in-allowed", "expansion", "rm", `systemctl\${IFS}status\${IFS}x;rm\${IFS}-f\${IFS}${C}`, "$IFS and ; together"],
    ["var-command", "expansion", "rm", `X=rm; $X -f ${C}`, "the command in a variable"],
    ["var-zero", "expansion", "rm", `$0 -c 'rm -f ${C}'`, "$0 is the shell"],
    ["var-substring", "expansion", "rm", `\${PATH:0:1}bin\${PATH:0:1}rm -f ${C}`, "slashes from $PATH"],
    ["ansi-c-quoting", "expansion", "rm", `$'\\x72\\x6d' -f ${C}`, "bash $'...' hex escapes spell rm"],
    ["empty-var", "expansion", "rm", `r\${x}m -f ${C}`, "an empty variable inside the name"],
    ["arith", "expansion", "rm", `journalctl -n $((1)) ; rm -f ${C}`, "arithmetic expansion"],
    // Quoting and escaping: the same word, spelled differently.
    ["quote-empty-single", "quoting", "rm", `r''m -f ${C}`, "empty single quotes inside the name"],
    ["quote-double", "quoting", "rm", `"rm" -f ${C}`, "the name in double quotes"],
    ["quote-single", "quoting", "rm", `'rm' -f ${C}`, "the name in single quotes"],
    ["quote-mixed", "quoting", "rm", `"r"'m' -f ${C}`, "half and half"],
    ["quote-empty-double", "quoting", "rm", `r""m -f ${C}`, "empty double quotes inside the name"],
    ["quote-args", "quoting", "rm", `rm "-f" "${C}"`, "quoted arguments"],
    ["backslash-name", "quoting", "rm", `\\rm -f ${C}`, "\\rm, the alias-dodging idiom"],
    ["backslash-middle", "quoting", "rm", `r\\m -f ${C}`, "a backslash inside the name"],
    ["backslash-fish-hex", "quoting", "rm", `r\\x6d -f ${C}`, "fish reads \\x6d as m"],
    ["backslash-space", "quoting", "other", `rm\\ -f ${C}`, "an escaped space makes one word, a program named 'rm -f' (none exists): refused by the allow list"],
    // Paths to the program.
    ["path-bin", "path", "rm", `/bin/rm -f ${C}`, "absolute path"],
    ["path-usr-bin", "path", "rm", `/usr/bin/rm -f ${C}`, "another absolute path"],
    ["path-dotdot", "path", "rm", `/usr/bin/../bin/rm -f ${C}`, "a path with .."],
    ["path-relative", "path", "rm", `../../../../../../bin/rm -f ${C}`, "a relative path"],
    ["path-double-slash", "path", "rm", `//bin//rm -f ${C}`, "doubled slashes"],
    ["path-case", "path", "rm", `RM -f ${C}`, "upper case (a different file on Linux, refused anyway)"],
    ["path-tilde", "path", "rm", `~/../../bin/rm -f ${C}`, "tilde expansion"],
    ["path-zsh-equals", "path", "rm", `=rm -f ${C}`, "zsh expands =rm to its path"],
    ["upload-same-name-abs", "path", "other", `/home/ops/systemctl status nginx`, "a program uploaded (SFTP) under the allowed name"],
    ["upload-same-name-rel", "path", "other", `./systemctl status nginx`, "the same, relative to the home folder"],
    ["upload-same-name-bin", "path", "other", `bin/journalctl -u nginx`, "from ~/bin"],
    ["upload-run", "path", "other", `/tmp/uploaded`, "run an uploaded file"],
    // File name globs.
    ["glob-question", "glob", "rm", `/bin/r? -f ${C}`, "? spells rm on disk"],
    ["glob-star", "glob", "rm", `/bin/r* -f ${C}`, "* spells rm (or rmdir) on disk"],
    ["glob-class", "glob", "rm", `/bin/[r]m -f ${C}`, "a character class"],
    ["glob-all-question", "glob", "rm", `/???/r? -f ${C}`, "no letter of rm written"],
    ["glob-brace", "glob", "rm", `{rm,-f,${C}}`, "bash brace expansion builds the command"],
    ["glob-arg", "glob", "rm", `rm -f ${C}*`, "a glob in the argument"],
    // Wrappers: programs that run another program.
    ["wrap-env", "wrapper", "rm", `env rm -f ${C}`, "env"],
    ["wrap-env-i", "wrapper", "rm", `env -i rm -f ${C}`, "env -i"],
    ["wrap-env-assign", "wrapper", "rm", `env FOO=bar rm -f ${C}`, "env with an assignment"],
    ["wrap-env-path", "wrapper", "rm", `/usr/bin/env rm -f ${C}`, "env by its path"],
    ["wrap-env-split", "wrapper", "rm", `env -S 'rm -f ${C}'`, "env -S splits a string"],
    ["wrap-env-pager", "wrapper", "rm", `env SYSTEMD_PAGER='rm -f ${C}' systemctl status nginx`, "an allowed command with a pager that is rm"],
    ["wrap-nice", "wrapper", "rm", `nice rm -f ${C}`, "nice"],
    ["wrap-nice-n", "wrapper", "rm", `nice -n 19 rm -f ${C}`, "nice -n"],
    ["wrap-nohup", "wrapper", "rm", `nohup rm -f ${C}`, "nohup"],
    ["wrap-timeout", "wrapper", "rm", `timeout 10 rm -f ${C}`, "timeout"],
    ["wrap-stdbuf", "wrapper", "rm", `stdbuf -o0 rm -f ${C}`, "stdbuf"],
    ["wrap-setsid", "wrapper", "rm", `setsid rm -f ${C}`, "setsid"],
    ["wrap-ionice", "wrapper", "rm", `ionice -c3 rm -f ${C}`, "ionice"],
    ["wrap-taskset", "wrapper", "rm", `taskset 1 rm -f ${C}`, "taskset"],
    ["wrap-chroot", "wrapper", "rm", `chroot / rm -f ${C}`, "chroot"],
    ["wrap-exec", "wrapper", "rm", `exec rm -f ${C}`, "the exec builtin"],
    ["wrap-command", "wrapper", "rm", `command rm -f ${C}`, "the command builtin"],
    ["wrap-builtin-eval", "wrapper", "rm", `builtin eval 'rm -f ${C}'`, "builtin eval"],
    ["wrap-eval", "wrapper", "rm", `eval rm -f ${C}`, "eval"],
    ["wrap-eval-quoted", "wrapper", "rm", `eval 'rm -f ${C}'`, "eval of a quoted string"],
    ["wrap-eval-split", "wrapper", "rm", `eval 'systemctl status x;' rm -f ${C}`, "eval joins its words, then splits on ;"],
    ["wrap-time", "wrapper", "rm", `time rm -f ${C}`, "time"],
    ["wrap-busybox", "wrapper", "rm", `busybox rm -f ${C}`, "busybox applet"],
    ["wrap-xargs", "wrapper", "rm", `xargs rm -f ${C}`, "xargs runs rm once with no input"],
    ["wrap-find-exec", "wrapper", "rm", `find ${C} -exec rm -f '{}' ';'`, "find -exec"],
    ["wrap-find-exec-plus", "wrapper", "rm", `find ${C} -exec rm '{}' +`, "find -exec +"],
    ["wrap-find-execdir", "wrapper", "rm", `find ${C} -execdir rm '{}' \\;`, "find -execdir"],
    ["wrap-find-delete", "wrapper", "other", `find ${C} -delete`, "find deletes by itself"],
    ["wrap-watch", "wrapper", "rm", `watch -n1 rm -f ${C}`, "watch"],
    ["wrap-flock", "wrapper", "rm", `flock /tmp/lock rm -f ${C}`, "flock"],
    ["wrap-nsenter", "wrapper", "rm", `nsenter -t 1 -m rm -f ${C}`, "nsenter"],
    ["wrap-unshare", "wrapper", "rm", `unshare rm -f ${C}`, "unshare"],
    ["wrap-strace", "wrapper", "rm", `strace -o /dev/null rm -f ${C}`, "strace"],
    ["wrap-systemd-run", "wrapper", "rm", `systemd-run --user rm -f ${C}`, "systemd-run"],
    ["wrap-ssh", "wrapper", "rm", `ssh localhost rm -f ${C}`, "ssh runs it elsewhere (or here)"],
    ["wrap-unknown", "wrapper", "rm", `catchsegv rm -f ${C}`, "a wrapper the gateway does not know"],
    ["wrap-script", "wrapper", "rm", `script -qc 'rm -f ${C}' /dev/null`, "script -c"],
    ["wrap-man-pager", "wrapper", "rm", `man -P 'rm -f ${C}' ls`, "man's pager option"],
    ["wrap-git-pager", "wrapper", "rm", `git -c core.pager='rm -f ${C}' log`, "git's pager config"],
    ["wrap-tar-command", "wrapper", "rm", `tar -cf /dev/null --checkpoint=1 --checkpoint-action=exec='rm -f ${C}' /etc/hostname`, "tar checkpoint actions"],
    ["wrap-nested", "wrapper", "rm", `nice -n 5 timeout 10 env -i sh -c 'rm -f ${C}'`, "wrappers inside wrappers"],
    // Shells.
    ["shell-sh-c", "shell", "rm", `sh -c 'rm -f ${C}'`, "sh -c"],
    ["shell-bash-c", "shell", "rm", `bash -c 'rm -f ${C}'`, "bash -c"],
    ["shell-path-c", "shell", "rm", `/bin/sh -c "rm -f ${C}"`, "sh by its path, double quotes"],
    ["shell-dash-c", "shell", "rm", `dash -c 'rm -f ${C}'`, "dash"],
    ["shell-bash-lc", "shell", "rm", `bash -lc 'rm -f ${C}'`, "flags clustered with c"],
    ["shell-bash-opts", "shell", "rm", `bash -o errexit -c 'rm -f ${C}'`, "-o before -c"],
    ["shell-c-chain", "shell", "rm", `sh -c 'systemctl status nginx; rm -f ${C}'`, "an allowed command and rm inside sh -c"],
    ["shell-busybox", "shell", "rm", `busybox sh -c 'rm -f ${C}'`, "busybox sh"],
    ["shell-stdin", "shell", "rm", `sh -s`, "a shell reading commands from stdin"],
    ["shell-script", "shell", "rm", `bash /tmp/uploaded.sh`, "a script uploaded by other means"],
    ["shell-source", "shell", "rm", `. /tmp/uploaded.sh`, "sourcing a file"],
    // Interpreters.
    ["interp-python", "interpreter", "rm", `python3 -c 'import os; os.remove("${C}")'`, "python"],
    ["interp-python-system", "interpreter", "rm", `python3 -c 'import os; os.system("rm -f ${C}")'`, "python os.system"],
    ["interp-perl", "interpreter", "rm", `perl -e 'unlink "${C}"'`, "perl"],
    ["interp-ruby", "interpreter", "rm", `ruby -e 'File.delete("${C}")'`, "ruby"],
    ["interp-node", "interpreter", "rm", `node -e 'require("fs").unlinkSync("${C}")'`, "node"],
    ["interp-awk", "interpreter", "rm", `awk 'BEGIN{system("rm -f ${C}")}'`, "awk system()"],
    ["interp-sed-e", "interpreter", "rm", `sed -n '1e rm -f ${C}' /etc/hostname`, "GNU sed's e command"],
    ["interp-php", "interpreter", "rm", `php -r 'unlink("${C}");'`, "php"],
    ["interp-vim", "interpreter", "rm", `vim -es -c 'call delete("${C}")' -c q`, "vim ex mode"],
    // Privilege.
    ["priv-sudo", "privilege", "sudo", `sudo rm -f ${C}`, "sudo"],
    ["priv-sudo-u", "privilege", "sudo", `sudo -u root rm -f ${C}`, "sudo -u"],
    ["priv-sudo-n", "privilege", "sudo", `sudo -n -- rm -f ${C}`, "sudo -n --"],
    ["priv-sudo-shell", "privilege", "sudo", `sudo -s`, "a root shell"],
    ["priv-sudo-allowed", "privilege", "sudo", `sudo systemctl status nginx`, "sudo around an allowed command"],
    ["priv-sudo-path", "privilege", "sudo", `/usr/bin/sudo -E rm -f ${C}`, "sudo by its path"],
    ["priv-sudo-env", "privilege", "sudo", `env sudo rm -f ${C}`, "sudo inside env"],
    ["priv-sudo-sh", "privilege", "sudo", `sh -c 'sudo rm -f ${C}'`, "sudo inside sh -c"],
    ["priv-doas", "privilege", "other", `doas rm -f ${C}`, "doas"],
    ["priv-su", "privilege", "other", `su root -c 'rm -f ${C}'`, "su -c"],
    ["priv-pkexec", "privilege", "other", `pkexec rm -f ${C}`, "pkexec"],
    // Options of the allowed programs that do more than read.
    ["opt-systemctl-host", "option", "other", `systemctl status nginx -H root@localhost`, "systemctl -H runs ssh to another machine"],
    ["opt-systemctl-host-first", "option", "other", `systemctl -H localhost status nginx`, "-H before the verb"],
    ["opt-systemctl-host-long", "option", "other", `systemctl status --host=localhost nginx`, "--host="],
    ["opt-systemctl-host-cluster", "option", "other", `systemctl status -lH localhost nginx`, "H in a cluster of short options"],
    ["opt-systemctl-machine", "option", "other", `systemctl status -M other nginx`, "--machine"],
    ["opt-journal-vacuum", "option", "other", `journalctl --vacuum-time=1s`, "deletes archived journal files"],
    ["opt-journal-vacuum-abbrev", "option", "other", `journalctl --vac=1s`, "getopt_long abbreviation"],
    ["opt-journal-vacuum-after", "option", "other", `journalctl -u nginx --vacuum-files=1`, "after ordinary options"],
    ["opt-journal-rotate", "option", "other", `journalctl --rotate`, "rotates the journal"],
    ["opt-journal-rotate-abbrev", "option", "other", `journalctl --rot`, "abbreviated"],
    ["opt-journal-flush", "option", "other", `journalctl --flush`, "flushes /run to /var"],
    ["opt-journal-flush-abbrev", "option", "other", `journalctl --fl`, "--fl is --flush"],
    ["opt-journal-setup-keys", "option", "other", `journalctl --se --force`, "--se is --setup-keys (replaces the sealing keys)"],
    ["opt-journal-update-catalog", "option", "other", `journalctl --up`, "--up is --update-catalog"],
    ["opt-journal-relinquish", "option", "other", `journalctl --rel`, "--rel is --relinquish-var"],
    ["opt-journal-smart-relinquish", "option", "other", `journalctl --sm`, "--sm is --smart-relinquish-var"],
    ["opt-journal-sync", "option", "other", `journalctl --syn`, "--syn is --sync"],
    ["opt-journal-vacuum-unique", "option", "other", `journalctl --vacuum-t=1s`, "an unambiguous abbreviation of --vacuum-time"],
    ["opt-journal-case", "option", "other", `journalctl --VACUUM-time=1s`, "case (getopt refuses it; the deny rule ignores case anyway)"],
    ["opt-restart", "option", "other", `systemctl restart nginx`, "a restart without approval", "review"],
    ["opt-restart-options-first", "option", "other", `systemctl --no-block restart nginx`, "a restart with an option before the verb: not held, not allowed"],
    ["opt-stop", "option", "other", `systemctl stop nginx`, "another verb"],
    // Unicode look-alikes and invisible characters.
    ["uni-fullwidth-semicolon", "unicode", "rm", `systemctl status nginx；rm -f ${C}`, "U+FF1B fullwidth semicolon"],
    ["uni-fullwidth-amp", "unicode", "rm", `systemctl status nginx ＆＆ rm -f ${C}`, "U+FF06 fullwidth ampersand"],
    ["uni-fullwidth-bar", "unicode", "rm", `systemctl status nginx ｜ rm -f ${C}`, "U+FF5C fullwidth vertical bar"],
    ["uni-greek-question", "unicode", "rm", `systemctl status nginx\u037e rm -f ${C}`, "U+037E Greek question mark looks like ;"],
    ["uni-nbsp", "unicode", "rm", `rm\u00a0-f ${C}`, "no-break space"],
    ["uni-line-separator", "unicode", "rm", `systemctl status nginx\u2028rm -f ${C}`, "U+2028"],
    ["uni-fullwidth-rm", "unicode", "rm", `ｒｍ -f ${C}`, "fullwidth letters"],
    ["uni-zero-width", "unicode", "rm", `systemctl status nginx\u200b; rm -f ${C}`, "a zero-width space before ;"],
    ["uni-rtl-override", "unicode", "rm", `systemctl status \u202enigx; rm -f ${C}`, "right-to-left override to hide the tail"],
    ["uni-ideographic-space", "unicode", "rm", `rm\u3000-f ${C}`, "U+3000"],
    // Whitespace and control characters.
    ["ws-tabs", "whitespace", "rm", `rm\t-f\t${C}`, "tabs split words like spaces"],
    ["ws-leading-tab", "whitespace", "rm", `\trm -f ${C}`, "a leading tab"],
    ["ws-vertical-tab", "whitespace", "rm", `rm\u000b-f ${C}`, "vertical tab"],
    ["ws-form-feed", "whitespace", "rm", `rm\u000c-f ${C}`, "form feed"],
    ["ws-escape-seq", "whitespace", "rm", `systemctl status nginx\u001b[2K; rm -f ${C}`, "a terminal escape to erase the line in logs"],
    // Redirections: writing without running anything else.
    ["redir-truncate", "redirection", "other", `journalctl -n1 > ${C}`, "overwrite the canary with journal output"],
    ["redir-append-bashrc", "redirection", "other", `systemctl status nginx >> /home/ops/.bashrc`, "append to a start-up file"],
    ["redir-stderr", "redirection", "other", `journalctl -n1 2>&1 >${C}`, "fd juggling"],
    ["redir-here-string", "redirection", "rm", `sh <<< 'rm -f ${C}'`, "a here-string into a shell"],
    ["redir-input", "redirection", "rm", `sh < /tmp/uploaded.sh`, "a script on stdin"],
    // Shell keywords and grouping.
    ["kw-if", "keyword", "rm", `if true; then rm -f ${C}; fi`, "if"],
    ["kw-braces", "keyword", "rm", `{ rm -f ${C}; }`, "a command group"],
    ["kw-subshell", "keyword", "rm", `(rm -f ${C})`, "a subshell"],
    ["kw-bang", "keyword", "rm", `! rm -f ${C}`, "negation"],
    ["kw-coproc", "keyword", "rm", `coproc rm -f ${C}`, "coproc"],
    ["kw-fish-not", "keyword", "rm", `not rm -f ${C}`, "fish's not runs the command"],
    ["kw-zsh-dash", "keyword", "rm", `- rm -f ${C}`, "zsh's - precommand modifier runs the command"],
    ["kw-zsh-noglob", "keyword", "rm", `noglob rm -f ${C}`, "zsh's noglob precommand modifier"],
    ["kw-comment", "keyword", "rm", `rm -f ${C} # systemctl status nginx`, "a comment that looks like the allowed command"],
    // Assignments before the command.
    ["assign-ld-preload", "assignment", "other", `LD_PRELOAD=/tmp/evil.so systemctl status nginx`, "a library injected into an allowed command"],
    ["assign-pager", "assignment", "rm", `SYSTEMD_PAGER='rm -f ${C}' systemctl status nginx`, "systemd's pager is a command"],
    ["assign-pager-journal", "assignment", "rm", `PAGER='sh -c "rm -f ${C}"' journalctl -u nginx`, "journalctl's pager"],
    ["assign-bash-env", "assignment", "rm", `BASH_ENV=/tmp/uploaded.sh bash -c true`, "BASH_ENV runs a file"],
  ];
}

/** Every attempt, with `canary` as the file the attempts try to delete or overwrite. */
export function sshBypassAttempts(canary: string = DEFAULT_CANARY): SshBypassAttempt[] {
  if (!/^\/[A-Za-z0-9/._-]+$/.test(canary)) throw new Error(`canary path "${canary}" must be plain (letters, digits, / . _ -)`);
  return rows(canary).map(([id, theme, runs, command, note, expect]) => ({ id, theme, runs, command, note, expect: expect ?? "deny", refusedBy: id.startsWith("opt-journal-") ? "deny-rule" : "allow-list" }));
}

/** Commands the agents must keep being able to run (policy reads as intent). */
export const SSH_LEGITIMATE_COMMANDS: readonly string[] = [
  "systemctl status nginx",
  "systemctl status nginx.service",
  "systemctl status",
  "systemctl status nginx --no-pager",
  "systemctl status --no-pager -l -n 50 nginx.service php-fpm.service",
  "systemctl status 'nginx*'",
  // Only the first verb counts: the status of units named restart and nginx.
  "systemctl status restart nginx",
  "journalctl",
  "journalctl -u nginx --since today",
  "journalctl -u nginx --since '2026-03-01 10:00' --until '2026-03-01 11:00'",
  "journalctl -u nginx -n 100 --no-pager",
  "journalctl -p err -b",
  "journalctl -u nginx -o json",
  "journalctl --grep 'upstream timed out' -u nginx",
  "journalctl -k --since -1h",
  "journalctl -u nginx -f",
  "journalctl _SYSTEMD_UNIT=nginx.service",
  "journalctl --output=short-iso --utc -u nginx",
];

/**
 * Escapes that policy cannot see: the command is allowed, and the harm comes from a terminal. With
 * a pty (`ssh -tt`), journalctl and systemctl start `less`, and `less` runs `!command`. The SSH
 * target must neutralise these (no pty for exec, or SYSTEMD_PAGER=cat / LESSSECURE=1 /
 * SYSTEMD_PAGERSECURE=1 upstream); its e2e test sends `keys` once the pager is up and checks that
 * the canary survives. Not part of the policy-level corpus: policy allows these commands.
 */
export function sshPtyEscapes(canary: string = DEFAULT_CANARY): { id: string; command: string; keys: string; note: string }[] {
  if (!/^\/[A-Za-z0-9/._-]+$/.test(canary)) throw new Error(`canary path "${canary}" must be plain (letters, digits, / . _ -)`);
  return [
    { id: "pty-journalctl-pager", command: "journalctl -u nginx", keys: `!rm -f ${canary}\n`, note: "less shell escape from journalctl's pager" },
    { id: "pty-journalctl-pager-end", command: "journalctl -e", keys: `!rm -f ${canary}\n`, note: "journalctl -e jumps to the end in the pager" },
    { id: "pty-systemctl-pager", command: "systemctl status nginx", keys: `!rm -f ${canary}\n`, note: "less shell escape from systemctl's pager" },
    { id: "pty-less-editor", command: "journalctl -u nginx", keys: "v", note: "less v starts $VISUAL/$EDITOR on the file (when it is one)" },
  ];
}
