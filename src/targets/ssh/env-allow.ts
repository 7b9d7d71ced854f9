// Which environment variables a caller may set upstream (ssh -o SendEnv / SetEnv): the target's
// `env` list (default LANG and LC_*, what OpenSSH sends by default), never one that changes what
// a program runs or loads, whatever the list says: those would let an allowed command run
// another (BASH_ENV=/tmp/x.sh with `bash -c true`, LD_PRELOAD, PATH), or, under a terminal, make
// a pager run one or lift its secure mode (SYSTEMD_LESS='FRSXMK+!sh x', LESS, SYSTEMD_PAGERSECURE=0).

export const DEFAULT_ENV = ["LANG", "LC_*"] as const;

/** Variables that make an allowed program run other code: refused always. */
const DANGEROUS = /^(LD_|DYLD_|BASH_FUNC_|GCONV_PATH$|BASH_ENV$|ENV$|PATH$|IFS$|PS4$|PROMPT_COMMAND$|SHELLOPTS$|BASHOPTS$|CDPATH$|GLOBIGNORE$|PERL5OPT$|PERL5LIB$|PERLLIB$|PYTHONSTARTUP$|PYTHONPATH$|PYTHONHOME$|PYTHONINSPECT$|RUBYOPT$|RUBYLIB$|NODE_OPTIONS$|NODE_PATH$|JAVA_TOOL_OPTIONS$|_JAVA_OPTIONS$|GIT_|LESSOPEN$|LESSCLOSE$|LESS$|LESSKEY|LESSEDIT$|LESSSECURE|EDITOR$|VISUAL$|PAGER$|SYSTEMD_PAGER$|SYSTEMD_PAGERSECURE$|SYSTEMD_LESS$|SYSTEMD_EDITOR$|MANPAGER$|MANOPT$|GIT_PAGER$|HOME$|SHELL$|TMPDIR$|HOSTALIASES$|LOCALDOMAIN$|RES_OPTIONS$|MALLOC_|OPENSSL_|SSL_CERT_|XDG_CONFIG_)/;

/** True for a name no env list may let through. */
export function isDangerousEnv(name: string): boolean {
  return DANGEROUS.test(name.toUpperCase());
}

/** The check for one target: listed (a name, or a prefix ending in *) and not dangerous. */
export function envAllowList(list: readonly string[] | undefined): (name: string) => boolean {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of list ?? DEFAULT_ENV) {
    if (entry.endsWith("*")) prefixes.push(entry.slice(0, -1));
    else names.add(entry);
  }
  return (name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !isDangerousEnv(name) && (names.has(name) || prefixes.some((p) => name.startsWith(p)));
}
