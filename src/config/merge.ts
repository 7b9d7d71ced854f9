// Merges the files of a config folder into one configuration, remembering which file (and
// which key path in it) every part came from, for messages and relative paths.
import { dirname } from "node:path";
import type { ConfigFile, ConsoleSection, GatewaySection, AuditSection, IssuerConfig, MachineKeyConfig, TargetConfig, RuleConfig } from "./schema.ts";
import type { ConfigIssue, KeyPath } from "./issue.ts";
import { issueAt, positionOf, type YamlSource } from "./yaml-source.ts";

export interface ParsedFile {
  readonly source: YamlSource;
  readonly value: ConfigFile;
}

/** The merged configuration as written: no defaults, secrets still references. */
export interface MergedConfig {
  gateway?: GatewaySection;
  audit?: AuditSection;
  identity: { issuers: IssuerConfig[]; machine_keys: MachineKeyConfig[]; dev_issuer?: boolean; end_sessions_at_expiry?: boolean };
  targets: TargetConfig[];
  rules: RuleConfig[];
  console?: ConsoleSection;
}

export interface SourceRef {
  readonly source: YamlSource;
  /** The key path inside that file. */
  readonly path: KeyPath;
}

export interface Merged {
  readonly value: MergedConfig;
  /** Which file and key path a merged key path came from. */
  sourceOf(path: KeyPath): SourceRef;
  /** "file:line" of a merged key path. */
  where(path: KeyPath): string;
  /** An issue located at a merged key path, with the merged path in the message's key path. */
  issue(path: KeyPath, message: string): ConfigIssue;
  /** Folder of the file that declared a merged key path (relative paths resolve against it). */
  dirOf(path: KeyPath): string;
}

type ListKey = "targets" | "rules";
type IdentityListKey = "issuers" | "machine_keys";

export function mergeFiles(files: readonly ParsedFile[], fallbackDir: string): { merged: Merged; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const value: MergedConfig = { identity: { issuers: [], machine_keys: [] }, targets: [], rules: [] };
  const singles = new Map<string, ParsedFile>();
  const lists: Record<ListKey | IdentityListKey, { file: ParsedFile; index: number }[]> = {
    targets: [],
    rules: [],
    issuers: [],
    machine_keys: [],
  };

  const single = (key: string, path: KeyPath, f: ParsedFile): boolean => {
    const first = singles.get(key);
    if (first) {
      const p = positionOf(first.source, path);
      issues.push(issueAt(f.source, path, `already defined in ${first.source.file}:${p.line}:${p.col}; define it in one file only`));
      return false;
    }
    singles.set(key, f);
    return true;
  };

  for (const f of files) {
    const v = f.value;
    if (v.gateway !== undefined && single("gateway", ["gateway"], f)) value.gateway = v.gateway;
    if (v.audit !== undefined && single("audit", ["audit"], f)) value.audit = v.audit;
    if (v.console !== undefined && single("console", ["console"], f)) value.console = v.console;
    if (v.identity !== undefined) {
      if (v.identity.dev_issuer !== undefined && single("identity.dev_issuer", ["identity", "dev_issuer"], f)) {
        value.identity.dev_issuer = v.identity.dev_issuer;
      }
      if (v.identity.end_sessions_at_expiry !== undefined && single("identity.end_sessions_at_expiry", ["identity", "end_sessions_at_expiry"], f)) {
        value.identity.end_sessions_at_expiry = v.identity.end_sessions_at_expiry;
      }
      for (const key of ["issuers", "machine_keys"] as const) {
        (v.identity[key] ?? []).forEach((item, index) => {
          (value.identity[key] as unknown[]).push(item);
          lists[key].push({ file: f, index });
        });
      }
    }
    for (const key of ["targets", "rules"] as const) {
      (v[key] ?? []).forEach((item, index) => {
        (value[key] as unknown[]).push(item);
        lists[key].push({ file: f, index });
      });
    }
  }

  const first = files[0];
  const sourceOf = (path: KeyPath): SourceRef => {
    const [a, b, c] = path;
    if ((a === "targets" || a === "rules") && typeof b === "number") {
      const at = lists[a][b];
      if (at) return { source: at.file.source, path: [a, at.index, ...path.slice(2)] };
    }
    if (a === "identity" && (b === "issuers" || b === "machine_keys") && typeof c === "number") {
      const at = lists[b][c];
      if (at) return { source: at.file.source, path: [a, b, at.index, ...path.slice(3)] };
    }
    const owner =
      a === "identity" && (b === "dev_issuer" || b === "end_sessions_at_expiry")
        ? singles.get(`identity.${b}`)
        : typeof a === "string"
          ? (singles.get(a) ?? files.find((f) => (f.value as Record<string, unknown>)[a] !== undefined))
          : undefined;
    return { source: (owner ?? first)!.source, path };
  };

  const merged: Merged = {
    value,
    sourceOf,
    where(path) {
      const ref = sourceOf(path);
      return `${ref.source.file}:${positionOf(ref.source, ref.path).line}`;
    },
    issue(path, message) {
      // The key path is the one in that file (rules[0] of b.yaml), which is where people look.
      const ref = sourceOf(path);
      return issueAt(ref.source, ref.path, message);
    },
    dirOf(path) {
      if (files.length === 0) return fallbackDir;
      return dirname(sourceOf(path).source.file);
    },
  };
  return { merged, issues };
}
