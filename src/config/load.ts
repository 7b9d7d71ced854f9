// Loads a configuration from one YAML file or a folder of them: parse, validate every file
// against the schema, merge, cross-check, hash, resolve secrets, check values and files, apply
// defaults; loadPolicy also compiles it. check, serve and reload all go through loadPolicy, so
// a configuration one of them accepts the others accept, and every refusal has a position.
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { GatewayError } from "../core/errors.ts";
import { devIssuerKeyProblem } from "../identity/dev-issuer.ts";
import { compilePolicy, type Policy, type PolicyFailure } from "../policy/compile.ts";
import { issuesError, type ConfigIssue, type KeyPath } from "./issue.ts";
import { crossCheck } from "./cross-check.ts";
import { mergeFiles, type Merged, type MergedConfig, type ParsedFile } from "./merge.ts";
import { ConfigFile, type Config, type GatewaySection, type TargetConfig } from "./schema.ts";
import { parseSecretRefs, resolveSecretParts, stringsWithRefs, type SecretRef } from "./secrets.ts";
import { problems } from "./validate.ts";
import { fileIssues, valueIssues } from "./value-checks.ts";
import { issueAt, parseYaml } from "./yaml-source.ts";

export interface LoadOptions {
  /** Environment for ${env:…} references; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Resolve secret references and read the files the config names, e.g. TLS certificates
   * (default true); policy tests and `check --skip-secrets` load without them.
   */
  readonly resolveSecrets?: boolean;
}

export interface ConfigSource {
  readonly file: string;
  readonly text: string;
}

export const DEFAULT_STATE_DIR = "./state";
export const DEFAULT_ROTATE_SIZE = "100MB";

const CONFIG_FILE = /\.ya?ml$/;
const TEST_FILE = /\.test\.ya?ml$/;

/** The config files of a path: the file itself, or a folder's *.yaml/*.yml minus policy tests and dotfiles, sorted. */
export async function listConfigFiles(path: string): Promise<{ files: string[]; baseDir: string }> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new GatewayError("E_CONFIG_READ", `cannot read configuration "${path}": ${(e as { code?: string }).code ?? String(e)}`, { cause: e });
  }
  if (!info.isDirectory()) return { files: [path], baseDir: dirname(path) };
  const names: string[] = [];
  for (const entry of await readdir(path, { withFileTypes: true })) {
    // Dotfiles are editor backups and lock files, not configuration.
    if (entry.name.startsWith(".") || !CONFIG_FILE.test(entry.name) || TEST_FILE.test(entry.name)) continue;
    const full = join(path, entry.name);
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(full).catch(() => null))?.isFile())) names.push(entry.name);
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new GatewayError("E_CONFIG_READ", `no *.yaml or *.yml files in folder "${path}"`);
  return { files: names.map((n) => join(path, n)), baseDir: path };
}

export interface LoadedPolicy {
  readonly config: Config;
  readonly policy: Policy;
}

/** The configuration at `path`, validated and compiled: what check, serve and reload use. */
export async function loadPolicy(path: string, opts: LoadOptions = {}): Promise<LoadedPolicy> {
  const { sources, baseDir } = await readSources(path);
  return loadPolicyFromSources(sources, { ...opts, baseDir });
}

/** The configuration at `path`, validated but not compiled (a policy test compiles it itself). */
export async function loadConfig(path: string, opts: LoadOptions = {}): Promise<Config> {
  const { sources, baseDir } = await readSources(path);
  return loadConfigFromSources(sources, { ...opts, baseDir });
}

async function readSources(path: string): Promise<{ sources: ConfigSource[]; baseDir: string }> {
  const { files, baseDir } = await listConfigFiles(path);
  const sources: ConfigSource[] = [];
  for (const file of files) {
    try {
      sources.push({ file, text: await readFile(file, "utf8") });
    } catch (e) {
      throw new GatewayError("E_CONFIG_READ", `cannot read config file "${file}": ${(e as { code?: string }).code ?? String(e)}`, { cause: e });
    }
  }
  return { sources, baseDir };
}

/** Canonical JSON (sorted keys) so that the hash does not depend on key order or layout. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function setAt(root: unknown, path: KeyPath, value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
}

function resolvePath(dir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dir, p);
}

/** Loads from texts already read; `baseDir` is where defaults such as ./state resolve. */
export async function loadConfigFromSources(sources: readonly ConfigSource[], opts: LoadOptions & { readonly baseDir: string }): Promise<Config> {
  return (await build(sources, opts)).config;
}

/** Loads and compiles; a rule that does not compile is reported at its file:line:column. */
export async function loadPolicyFromSources(sources: readonly ConfigSource[], opts: LoadOptions & { readonly baseDir: string }): Promise<LoadedPolicy> {
  const { config, merged } = await build(sources, opts);
  try {
    return { config, policy: compilePolicy(config) };
  } catch (e) {
    const failures = e instanceof GatewayError ? (e.details["failures"] as readonly PolicyFailure[] | undefined) : undefined;
    if (failures === undefined || failures.length === 0) throw e;
    throw issuesError("E_POLICY_INVALID", failures.map((f) => merged.issue(["rules", f.index, ...(f.path ?? [])], f.message)));
  }
}

async function build(sources: readonly ConfigSource[], opts: LoadOptions & { readonly baseDir: string }): Promise<{ config: Config; merged: Merged }> {
  const env = opts.env ?? process.env;
  const resolveSecrets = opts.resolveSecrets ?? true;

  // 1. YAML syntax, for every file before giving up, so one run shows every broken file.
  const parsed: ParsedFile[] = [];
  const parseIssues: ConfigIssue[] = [];
  const sourcesParsed = sources.map((s) => parseYaml(s.file, s.text));
  for (const r of sourcesParsed) parseIssues.push(...r.issues);
  if (parseIssues.length > 0) throw issuesError("E_CONFIG_PARSE", parseIssues);

  // 2. Each file against the schema.
  const invalid: ConfigIssue[] = [];
  for (const r of sourcesParsed) {
    const source = r.source!;
    const value = source.value === undefined ? {} : source.value;
    const fileIssues = problems(ConfigFile, value).map((p) => issueAt(source, p.path, p.message));
    for (const ref of stringsWithRefs(value)) {
      const refs = parseSecretRefs(ref.value);
      if ("error" in refs) fileIssues.push(issueAt(source, ref.path, refs.error));
    }
    invalid.push(...fileIssues);
    if (fileIssues.length === 0) parsed.push({ source, value: value as ConfigFile });
  }
  if (invalid.length > 0) throw issuesError("E_CONFIG_INVALID", invalid);

  // 3. Merge and check the whole.
  const { merged, issues: mergeIssues } = mergeFiles(parsed, opts.baseDir);
  const checked = crossCheck(merged);
  const crossIssues = [...mergeIssues, ...checked.issues];
  if (crossIssues.length > 0) throw issuesError("E_CONFIG_INVALID", crossIssues);

  // 4. The hash covers the configuration as written: stable, and it reveals no secret.
  const hash = createHash("sha256").update(canonicalJson(merged.value)).digest("hex");

  // 5. Secrets.
  const value = structuredClone(merged.value) as MergedConfig;
  const secretPaths: KeyPath[] = [];
  const secretRefs: SecretRef[] = [];
  const secretIssues: ConfigIssue[] = [];
  for (const ref of stringsWithRefs(merged.value)) {
    const refs = parseSecretRefs(ref.value);
    if ("error" in refs) continue; // reported in step 2
    if (refs.hasRefs) {
      secretPaths.push(ref.path);
      const at = merged.issue(ref.path, "");
      secretRefs.push({ path: ref.path, parts: refs.parts, baseDir: merged.dirOf(ref.path), where: `${at.file}:${at.line}:${at.col}` });
    }
    if (!resolveSecrets) {
      // Unresolved references stay as written; "$${" escapes still become "${".
      if (!refs.hasRefs) setAt(value, ref.path, refs.parts.map((p) => (p.kind === "text" ? p.text : "")).join(""));
      continue;
    }
    try {
      setAt(value, ref.path, await resolveSecretParts(refs.parts, { env, baseDir: merged.dirOf(ref.path) }));
    } catch (e) {
      secretIssues.push(merged.issue(ref.path, e instanceof Error ? e.message : String(e)));
    }
  }
  if (secretIssues.length > 0) throw issuesError("E_SECRET", secretIssues);

  // 6. Values, as resolved; a reference left unresolved is not judged by its text.
  const unresolved = (path: KeyPath) => !resolveSecrets && secretPaths.some((p) => isPrefix(p, path));
  const badValues = valueIssues(value, merged, { unresolved });
  if (badValues.length > 0) throw issuesError("E_CONFIG_INVALID", badValues);

  // 7. Defaults and paths relative to the file that declared them.
  const gatewayDir = value.gateway ? merged.dirOf(["gateway"]) : opts.baseDir;
  const stateDir = resolvePath(gatewayDir, value.gateway?.state_dir ?? DEFAULT_STATE_DIR);
  const audit = value.audit;
  const targets: TargetConfig[] = value.targets.map((t, i) => {
    if (t.kind === "ssh") return t.host_key === undefined ? t : { ...t, host_key: resolvePath(merged.dirOf(["targets", i]), t.host_key) };
    if (t.kind === "kubernetes") {
      const dir = merged.dirOf(["targets", i]);
      const up = { ...t.upstream };
      // `ca` may hold the PEM itself; only a path is resolved. Certificate files are paths.
      if (up.ca !== undefined && !up.ca.includes("-----BEGIN")) up.ca = resolvePath(dir, up.ca);
      if (up.client_cert !== undefined) up.client_cert = resolvePath(dir, up.client_cert);
      if (up.client_key !== undefined) up.client_key = resolvePath(dir, up.client_key);
      const tls = t.tls ? { cert: resolvePath(dir, t.tls.cert), key: resolvePath(dir, t.tls.key) } : undefined;
      return { ...t, upstream: up, ...(tls ? { tls } : {}) };
    }
    if (t.kind !== "postgres") return t;
    const dir = merged.dirOf(["targets", i]);
    const upstream = { ...t.upstream };
    // `ca` may hold the PEM itself; only a path is resolved.
    if (upstream.ca !== undefined && !upstream.ca.includes("-----BEGIN")) upstream.ca = resolvePath(dir, upstream.ca);
    const tls = t.tls ? { cert: resolvePath(dir, t.tls.cert), key: resolvePath(dir, t.tls.key) } : undefined;
    return { ...t, upstream, ...(tls ? { tls } : {}) };
  });
  // 8. The files they name, where the gateway will read them (not when secrets are skipped:
  // e.g. in CI, where the certificates of production are not).
  if (resolveSecrets) {
    const badFiles = fileIssues(targets, merged);
    // The dev issuer's key is made on first use; one that is there must be usable.
    const devKey = value.identity.dev_issuer === true ? await devIssuerKeyProblem(stateDir) : null;
    if (devKey !== null) badFiles.push(merged.issue(["identity", "dev_issuer"], devKey));
    if (badFiles.length > 0) throw issuesError("E_CONFIG_INVALID", badFiles);
  }

  const config: Config = {
    gateway: { ...value.gateway, state_dir: stateDir, ...adminWithPaths(value.gateway?.admin, gatewayDir) },
    audit: {
      ...audit,
      path: audit ? resolvePath(merged.dirOf(["audit"]), audit.path) : join(stateDir, "audit", "audit.log"),
      durability: audit?.durability ?? "batch",
      rotate_size: audit?.rotate_size ?? DEFAULT_ROTATE_SIZE,
      ...(audit?.checkpoints?.key_file !== undefined
        ? { checkpoints: { ...audit.checkpoints, key_file: resolvePath(merged.dirOf(["audit", "checkpoints", "key_file"]), audit.checkpoints.key_file) } }
        : {}),
    },
    identity: {
      issuers: value.identity.issuers,
      machine_keys: value.identity.machine_keys,
      dev_issuer: value.identity.dev_issuer ?? false,
      end_sessions_at_expiry: value.identity.end_sessions_at_expiry ?? true,
    },
    targets,
    rules: value.rules,
    ...(value.console !== undefined ? { console: value.console } : {}),
    origins: checked.origins,
    files: sources.map((s) => s.file),
    hash,
    warnings: checked.warnings,
    secretPaths,
    secretRefs,
  };
  return { config: deepFreeze(config), merged };
}

/** The admin listener's TLS files, relative to the file that declared them. */
function adminWithPaths(admin: GatewaySection["admin"], dir: string): { admin?: NonNullable<GatewaySection["admin"]> } {
  if (admin === undefined) return {};
  if (admin.tls === undefined) return { admin };
  return { admin: { ...admin, tls: { cert: resolvePath(dir, admin.tls.cert), key: resolvePath(dir, admin.tls.key) } } };
}

/** Whether `prefix` is `path` or one of its ancestors. */
function isPrefix(prefix: KeyPath, path: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => seg === path[i]);
}
