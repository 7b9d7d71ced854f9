// What a reload cannot change while running: sockets already listening, and the settings
// targets and the audit log were started with. Each difference is one message for the log.
import { canonicalJson } from "../config/load.ts";
import type { Config, TargetConfig } from "../config/schema.ts";
import { refText } from "../config/secrets.ts";

/**
 * The targets with each secret reference as written: a secret that rotated is not a change of
 * settings (the secret store applies it live), a reference that now names another file is.
 */
function targetsAsWritten(config: Config): TargetConfig[] {
  const targets = structuredClone(config.targets) as TargetConfig[];
  for (const ref of config.secretRefs ?? []) {
    const [top, index, ...inner] = ref.path;
    if (top !== "targets" || typeof index !== "number" || inner.length === 0) continue;
    let cur = targets[index] as unknown as Record<string | number, unknown> | undefined;
    for (let i = 0; cur !== undefined && i < inner.length - 1; i++) cur = cur[inner[i]!] as Record<string | number, unknown> | undefined;
    if (cur !== undefined && cur !== null && typeof cur === "object") cur[inner[inner.length - 1]!] = refText(ref.parts);
  }
  return targets;
}

export function diffListeners(oldConfig: Config, newConfig: Config): string[] {
  const out: string[] = [];
  const before = new Map(targetsAsWritten(oldConfig).map((t) => [t.name, t]));
  const after = new Map(targetsAsWritten(newConfig).map((t) => [t.name, t]));
  for (const [name, o] of before) {
    const n = after.get(name);
    if (!n) {
      out.push(`target "${name}": removed, but its listener on ${o.listen} keeps running; restart to apply`);
      continue;
    }
    if (o.kind !== n.kind) {
      out.push(`target "${name}": kind changed from ${o.kind} to ${n.kind}; restart to apply`);
      continue;
    }
    if (o.listen !== n.listen) out.push(`target "${name}": listen changed from ${o.listen} to ${n.listen}; restart to apply`);
    const { listen: _a, ...oRest } = o;
    const { listen: _b, ...nRest } = n;
    if (canonicalJson(oRest) !== canonicalJson(nRest)) out.push(`target "${name}": settings changed; restart to apply`);
  }
  for (const [name, n] of after) {
    if (!before.has(name)) out.push(`target "${name}": added on ${n.listen}; restart to apply`);
  }
  const oAdmin = oldConfig.gateway.admin?.listen ?? "none";
  const nAdmin = newConfig.gateway.admin?.listen ?? "none";
  if (oAdmin !== nAdmin) out.push(`admin API: listen changed from ${oAdmin} to ${nAdmin}; restart to apply`);
  const tls = (c: Config) => canonicalJson({ tls: c.gateway.admin?.tls ?? null, plain: c.gateway.admin?.allow_plaintext ?? false });
  if (tls(oldConfig) !== tls(newConfig)) out.push(`admin API: tls or allow_plaintext changed; restart to apply`);
  // The console's roles, client and issuer are read at each request; whether it is served at all is not.
  if ((oldConfig.console === undefined) !== (newConfig.console === undefined)) {
    out.push(`console: ${newConfig.console === undefined ? "removed, but it keeps being served" : "added, but it is not served yet"}; restart to apply`);
  }
  if (oldConfig.gateway.state_dir !== newConfig.gateway.state_dir) {
    out.push(`gateway.state_dir: changed from ${oldConfig.gateway.state_dir} to ${newConfig.gateway.state_dir}; restart to apply`);
  }
  if (canonicalJson(oldConfig.audit) !== canonicalJson(newConfig.audit)) out.push(`audit: settings changed; restart to apply`);
  return out;
}
