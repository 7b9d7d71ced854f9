// Checks that need the whole merged configuration: unique names, free listeners, rules that
// fit their targets. Problems are issues (the load fails) or warnings (it does not).
import { globSource } from "../policy/glob.ts";
import { isDangerousEnv } from "../targets/ssh/env-allow.ts";
import { keyTypeOf, parseHostKeyPin } from "../targets/ssh/host-key-pin.ts";
import type { ConfigIssue } from "./issue.ts";
import type { Merged } from "./merge.ts";
import type { RuleConfig, TargetConfig } from "./schema.ts";
import { isLoopbackHost } from "../gate/listen.ts";

const KINDS = ["http", "postgres", "ssh", "kubernetes", "mcp"] as const;
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", "[::]", "*", ""]);

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

function targetMatcher(glob: string): ((name: string) => boolean) | null {
  try {
    const re = new RegExp(globSource(glob));
    return (name) => re.test(name);
  } catch {
    return null; // compilePolicy reports invalid globs with the rule's name.
  }
}

export interface CrossCheckResult {
  readonly issues: ConfigIssue[];
  readonly warnings: string[];
  readonly origins: Map<string, string>;
}

export function crossCheck(merged: Merged): CrossCheckResult {
  const { value } = merged;
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const origins = new Map<string, string>();

  const unique = (label: string, originKey: string, items: readonly { name: string }[], base: (string | number)[]) => {
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const path = [...base, i];
      const before = seen.get(item.name);
      if (before !== undefined) {
        issues.push(merged.issue([...path, "name"], `duplicate ${label} name "${item.name}" (first defined at ${merged.where([...base, before])})`));
        return;
      }
      seen.set(item.name, i);
      origins.set(`${originKey}:${item.name}`, merged.where(path));
    });
  };
  unique("target", "target", value.targets, ["targets"]);
  unique("rule", "rule", value.rules, ["rules"]);
  unique("issuer", "issuer", value.identity.issuers, ["identity", "issuers"]);
  unique("machine key", "machine_key", value.identity.machine_keys, ["identity", "machine_keys"]);

  const keyHashes = new Map<string, number>();
  value.identity.machine_keys.forEach((k, i) => {
    const before = keyHashes.get(k.sha256);
    if (before !== undefined) {
      issues.push(merged.issue(["identity", "machine_keys", i, "sha256"], `same key as machine key "${value.identity.machine_keys[before]!.name}"; each key needs its own entry`));
    } else keyHashes.set(k.sha256, i);
  });

  // Listeners: two on one port clash when the hosts are equal or either is a wildcard.
  const listeners: { listen: string; path: (string | number)[]; owner: string }[] = [];
  if (value.gateway?.admin) listeners.push({ listen: value.gateway.admin.listen, path: ["gateway", "admin", "listen"], owner: "the admin API" });
  value.targets.forEach((t, i) => listeners.push({ listen: t.listen, path: ["targets", i, "listen"], owner: `target "${t.name}"` }));
  listeners.forEach((l, i) => {
    const a = splitListen(l.listen);
    if (!(a.port >= 0 && a.port <= 65535)) {
      issues.push(merged.issue(l.path, `port ${a.port} is out of range (0-65535)`));
      return;
    }
    // Port 0: the system picks a free port, which the "serving" log line reports (tests use it).
    if (a.port === 0) return;
    for (let j = 0; j < i; j++) {
      const other = listeners[j]!;
      const b = splitListen(other.listen);
      if (a.port === b.port && (a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host))) {
        issues.push(merged.issue(l.path, `listener ${l.listen} clashes with ${other.owner} on ${other.listen} (${merged.where(other.path)})`));
        break;
      }
    }
  });

  value.targets.forEach((t, i) => {
    if (t.kind === "ssh") checkSshTarget(t, i, merged, issues);
  });
  value.identity.machine_keys.forEach((k, i) => {
    (k.ssh_public_keys ?? []).forEach((line, j) => {
      const [type, blob] = line.split(/\s+/);
      if (type === undefined || blob === undefined || keyTypeOf(Buffer.from(blob, "base64")) !== type) {
        issues.push(merged.issue(["identity", "machine_keys", i, "ssh_public_keys", j], `not an OpenSSH public key line (its base64 part does not hold a ${type ?? "?"} key); paste the whole line of the .pub file`));
      }
    });
  });

  value.rules.forEach((rule, i) => checkRule(rule, i, value.targets, merged, issues, warnings));
  checkConsole(merged, issues, warnings);
  return { issues, warnings, origins };
}

function checkRule(rule: RuleConfig, i: number, targets: readonly TargetConfig[], merged: Merged, issues: ConfigIssue[], warnings: string[]): void {
  const at = (key?: string) => (key === undefined ? ["rules", i] : ["rules", i, key]);
  if (rule.effect === "review" && !rule.approvers) issues.push(merged.issue(at(), `a review rule needs "approvers" (the groups that may approve)`));
  if (rule.effect !== "review") {
    for (const key of ["approvers", "grant_max", "timeout", "approvals_required"] as const) {
      if (rule[key] !== undefined) issues.push(merged.issue(at(key), `"${key}" is only allowed on review rules`));
    }
  }
  if (rule.mask && rule.effect !== "allow") issues.push(merged.issue(at("mask"), `"mask" is only allowed on allow rules`));

  const sections = KINDS.filter((k) => rule[k] !== undefined);
  let named: readonly TargetConfig[] = targets;
  if (rule.targets) {
    const hit = new Set<TargetConfig>();
    rule.targets.forEach((glob, j) => {
      const m = targetMatcher(glob);
      if (!m) return;
      const found = targets.filter((t) => m(t.name));
      found.forEach((t) => hit.add(t));
      if (found.length === 0) warnings.push(`${merged.where(["rules", i, "targets", j])}: rule "${rule.name}": targets glob "${glob}" matches no target`);
    });
    named = [...hit];
  }
  if (named.length === 0) return;
  for (const kind of sections) {
    if (named.some((t) => t.kind === kind)) continue;
    const kinds = [...new Set(named.map((t) => t.kind))].join(", ");
    const message = `a ${kind} section cannot match ${rule.targets ? "the rule's targets" : "any target"} (their kinds: ${kinds})`;
    // Naming targets explicitly and then matching none of them is a mistake; a rule for every
    // target with a section for a kind not configured yet is only suspicious.
    if (rule.targets) issues.push(merged.issue(at(kind), message));
    else warnings.push(`${merged.where(["rules", i, kind])}: rule "${rule.name}": ${message}`);
  }
}

function checkSshTarget(t: Extract<TargetConfig, { kind: "ssh" }>, i: number, merged: Merged, issues: ConfigIssue[]): void {
  const up = t.upstream;
  const at = (...path: (string | number)[]) => ["targets", i, ...path];
  if ((up.private_key === undefined) === (up.password === undefined)) {
    issues.push(merged.issue(at("upstream"), `the upstream login needs exactly one of "private_key" and "password"`));
  }
  if (up.passphrase !== undefined && up.private_key === undefined) issues.push(merged.issue(at("upstream", "passphrase"), `"passphrase" goes with "private_key"`));
  const pins = typeof up.host_key === "string" ? [up.host_key] : up.host_key;
  pins.forEach((pin, j) => {
    if (pin.includes("${")) return;
    try {
      parseHostKeyPin(pin);
    } catch (e) {
      issues.push(merged.issue(typeof up.host_key === "string" ? at("upstream", "host_key") : at("upstream", "host_key", j), (e as Error).message));
    }
  });
  (t.env ?? []).forEach((name, j) => {
    if (!name.endsWith("*") && isDangerousEnv(name)) {
      issues.push(merged.issue(at("env", j), `"${name}" cannot be allowed: it changes what programs run or load upstream, so an allowed command could run any other`));
    }
  });
}

/**
 * The console logs people in with cookies and shows what the audit log holds: on an address
 * other than loopback it needs TLS (gateway.admin.tls) or an explicit allow_plaintext (a proxy
 * in front terminates TLS). Its issuer must be one the gateway trusts.
 */
function checkConsole(merged: Merged, issues: ConfigIssue[], warnings: string[]): void {
  const { value } = merged;
  const admin = value.gateway?.admin;
  let host: string | undefined;
  try {
    if (admin) host = splitListen(admin.listen).host.replace(/^\[|\]$/g, "");
  } catch {
    host = undefined; // reported with the listeners
  }
  const plainOffLoopback = admin !== undefined && host !== undefined && admin.tls === undefined && admin.allow_plaintext !== true && !isLoopbackHost(host);
  const c = value.console;
  if (c === undefined) {
    if (plainOffLoopback) warnings.push(`gateway.admin.listen ${admin!.listen}: the admin API takes approvers' tokens over plain HTTP on an address other than loopback; set gateway.admin.tls (or allow_plaintext: true behind a TLS proxy)`);
    return;
  }
  if (admin === undefined) {
    issues.push(merged.issue(["console"], `the console is served on the admin listener: set gateway.admin.listen`));
    return;
  }
  if (plainOffLoopback) {
    issues.push(merged.issue(["gateway", "admin", "listen"], `the console would send login cookies over plain HTTP on ${admin.listen}, an address other than loopback: set gateway.admin.tls, or allow_plaintext: true behind a proxy that terminates TLS`));
  }
  if (c.issuer === "dev") {
    if (value.identity.dev_issuer !== true) issues.push(merged.issue(["console", "issuer"], `"dev" logs in through the dev issuer, which is off: set identity.dev_issuer: true (development only) or name an identity.issuers entry`));
    return;
  }
  if (!value.identity.issuers.some((i) => i.name === c.issuer)) {
    const names = value.identity.issuers.map((i) => i.name);
    issues.push(merged.issue(["console", "issuer"], `no identity issuer named "${c.issuer}" (issuers: ${names.join(", ") || "none"}; or "dev" for the dev issuer)`));
  }
  if (c.client_id === undefined) issues.push(merged.issue(["console"], `an OpenID Connect login needs "client_id" (the console's client at issuer "${c.issuer}")`));
  if (c.redirect_url === undefined) issues.push(merged.issue(["console"], `an OpenID Connect login needs "redirect_url" (this listener's address as browsers reach it, ending in /login/callback)`));
  else if (c.redirect_url.startsWith("http://")) {
    let h = "";
    try {
      h = new URL(c.redirect_url).hostname;
    } catch {
      h = "";
    }
    if (!isLoopbackHost(h.replace(/^\[|\]$/g, "")) && admin.allow_plaintext !== true) issues.push(merged.issue(["console", "redirect_url"], `redirect_url ${c.redirect_url} is plain http on a host other than loopback: the authorization code would cross the network in clear; use https`));
  }
}
