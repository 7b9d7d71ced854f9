import { expect, test } from "bun:test";
import { envAllowList, isDangerousEnv } from "./env-allow.ts";

test("by default LANG and LC_* pass and nothing else", () => {
  const ok = envAllowList(undefined);
  expect(["LANG", "LC_ALL", "LC_CTYPE"].every(ok)).toBe(true);
  expect(["LD_PRELOAD", "BASH_ENV", "PATH", "FOO", "LANGUAGE"].some(ok)).toBe(false);
});

test("a list's names and prefixes pass, but never a variable that makes a program run other code", () => {
  const ok = envAllowList(["APP_*", "TZ", "*"]);
  expect(ok("APP_MODE")).toBe(true);
  expect(ok("TZ")).toBe(true);
  for (const bad of ["LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "PATH", "IFS", "PS4", "BASH_FUNC_ls%%", "PYTHONSTARTUP", "NODE_OPTIONS", "ld_preload", "GIT_SSH_COMMAND"]) {
    expect(ok(bad)).toBe(false);
  }
  expect(isDangerousEnv("LD_AUDIT")).toBe(true);
  expect(isDangerousEnv("TZ")).toBe(false);
});

test("pager and editor settings never pass: under a terminal they run commands (SYSTEMD_LESS='FRSXMK+!sh x', LESS='+!sh x') or lift less's secure mode", () => {
  const ok = envAllowList(["SYSTEMD_*", "LESS*", "MAN*"]);
  for (const bad of ["LESS", "SYSTEMD_LESS", "SYSTEMD_PAGERSECURE", "LESSSECURE", "LESSSECURE_ALLOW", "LESSKEY", "LESSKEYIN", "LESSKEY_SYSTEM", "LESSKEYIN_SYSTEM", "LESSKEY_CONTENT", "LESSEDIT", "SYSTEMD_EDITOR", "MANOPT", "MANPAGER"]) {
    expect({ bad, ok: ok(bad) }).toEqual({ bad, ok: false });
  }
  // What these prefixes are for still passes.
  expect(["SYSTEMD_COLORS", "SYSTEMD_URLIFY", "LESSCHARSET", "MANWIDTH"].every(ok)).toBe(true);
});
