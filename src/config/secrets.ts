// Secret references in config strings: `${env:NAME}` and `${file:PATH}` (`$${` is a literal
// `${`). They are resolved at load; errors name the key and place, never the value, and
// redactedConfig() prints a loaded config with every such value hidden.
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type { Config } from "./schema.ts";
import type { KeyPath } from "./issue.ts";

export type SecretPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "env"; readonly name: string }
  | { readonly kind: "file"; readonly path: string };

const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Splits a string into text and references; a malformed reference is an error, not text. */
export function parseSecretRefs(value: string): { parts: SecretPart[]; hasRefs: boolean } | { error: string } {
  if (!value.includes("${")) return { parts: [{ kind: "text", text: value }], hasRefs: false };
  const parts: SecretPart[] = [];
  let text = "";
  let last = 0;
  let hasRefs = false;
  for (const m of value.matchAll(REFERENCE)) {
    text += value.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === "$${") {
      text += "${";
      continue;
    }
    if (m[1] === undefined) return { error: `unclosed "\${" (write "$\${" for a literal "\${")` };
    const inner = m[1];
    const colon = inner.indexOf(":");
    const scheme = colon < 0 ? "" : inner.slice(0, colon);
    const arg = colon < 0 ? "" : inner.slice(colon + 1);
    if (scheme === "env" && ENV_NAME.test(arg)) {
      if (text) parts.push({ kind: "text", text });
      text = "";
      parts.push({ kind: "env", name: arg });
    } else if (scheme === "file" && arg.trim() !== "") {
      if (text) parts.push({ kind: "text", text });
      text = "";
      parts.push({ kind: "file", path: arg });
    } else {
      // Never echo what is inside: it might be a secret pasted in by mistake.
      return { error: `unknown secret reference (expected \${env:NAME} or \${file:PATH}; write "$\${" for a literal "\${")` };
    }
    hasRefs = true;
  }
  text += value.slice(last);
  if (text) parts.push({ kind: "text", text });
  return { parts, hasRefs };
}

/**
 * One string of the configuration that holds secret references, as written: what the secret
 * store re-reads when a referenced file changes, and what messages and metrics name.
 */
export interface SecretRef {
  /** Key path in the merged configuration, e.g. ["targets", 1, "upstream", "password"]. */
  readonly path: readonly (string | number)[];
  readonly parts: readonly SecretPart[];
  /** Folder against which relative ${file:…} paths resolve. */
  readonly baseDir: string;
  /** "file:line:column" of the string in the configuration. */
  readonly where: string;
}

/** The references of a string as written, e.g. "${file:/run/pg-password}": never a value. */
export function refLabel(parts: readonly SecretPart[]): string {
  return parts
    .filter((p) => p.kind !== "text")
    .map((p) => (p.kind === "env" ? `\${env:${p.name}}` : p.kind === "file" ? `\${file:${p.path}}` : ""))
    .join("");
}

/** The string as written, references unresolved: compares two configurations without their values. */
export function refText(parts: readonly SecretPart[]): string {
  return parts.map((p) => (p.kind === "text" ? p.text.replaceAll("${", "$${") : p.kind === "env" ? `\${env:${p.name}}` : `\${file:${p.path}}`)).join("");
}

/** The absolute paths of the files a string's references read. */
export function refFiles(ref: Pick<SecretRef, "parts" | "baseDir">): string[] {
  return ref.parts.flatMap((p) => (p.kind === "file" ? [isAbsolute(p.path) ? p.path : resolve(ref.baseDir, p.path)] : []));
}

export interface SecretEnv {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Folder against which relative ${file:…} paths resolve: the declaring file's folder. */
  readonly baseDir: string;
}

/** Resolves the references of one string; throws an Error whose message names no value. */
export async function resolveSecretParts(parts: readonly SecretPart[], ctx: SecretEnv): Promise<string> {
  let out = "";
  for (const p of parts) {
    if (p.kind === "text") out += p.text;
    else if (p.kind === "env") {
      const v = ctx.env[p.name];
      if (v === undefined) throw new Error(`environment variable ${p.name} is not set`);
      if (v === "") throw new Error(`environment variable ${p.name} is empty`);
      out += v;
    } else {
      const path = isAbsolute(p.path) ? p.path : resolve(ctx.baseDir, p.path);
      let content: string;
      try {
        content = await readFile(path, "utf8");
      } catch (e) {
        const code = (e as { code?: string }).code ?? "unreadable";
        throw new Error(`cannot read secret file "${path}" (${code})`);
      }
      // Files written by editors and `echo` end in a newline that is not part of the secret.
      content = content.replace(/\r?\n$/, "");
      if (content === "") throw new Error(`secret file "${path}" is empty`);
      out += content;
    }
  }
  return out;
}

/** Key paths of every string under `value` that contains "${", with the string. */
export function stringsWithRefs(value: unknown, base: KeyPath = []): { path: KeyPath; value: string }[] {
  const out: { path: KeyPath; value: string }[] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    if (typeof v === "string") {
      if (v.includes("${")) out.push({ path: [...path], value: v });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, i]));
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    }
  };
  walk(value, [...base]);
  return out;
}

export const REDACTED = "[secret]";

// Values that are credentials even when typed in plainly.
function alwaysSecret(path: readonly (string | number)[]): boolean {
  const key = path[path.length - 1];
  if (key === "password") return true;
  // A Kubernetes target's upstream token.
  if (path.length === 4 && path[0] === "targets" && path[2] === "upstream" && key === "token") return true;
  return path.length === 4 && path[0] === "targets" && path[2] === "headers";
}

/**
 * A plain copy of the configuration safe to print or log: every value that came from a
 * secret reference, every password and every upstream header value is "[secret]".
 */
export function redactedConfig(config: Config): Record<string, unknown> {
  const plain = structuredClone({
    gateway: config.gateway,
    audit: config.audit,
    identity: config.identity,
    targets: config.targets,
    rules: config.rules,
  }) as Record<string, unknown>;
  const set = (path: readonly (string | number)[]) => {
    let cur: unknown = plain;
    for (let i = 0; i < path.length - 1; i++) {
      if (cur === null || typeof cur !== "object") return;
      cur = (cur as Record<string | number, unknown>)[path[i]!];
    }
    if (cur !== null && typeof cur === "object") {
      const key = path[path.length - 1]!;
      if ((cur as Record<string | number, unknown>)[key] !== undefined) (cur as Record<string | number, unknown>)[key] = REDACTED;
    }
  };
  for (const p of config.secretPaths) set(p);
  const walk = (v: unknown, path: (string | number)[]) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (alwaysSecret([...path, k])) set([...path, k]);
        else walk(x, [...path, k]);
      }
    }
  };
  walk(plain, []);
  return { ...plain, hash: config.hash, files: [...config.files], warnings: [...config.warnings] };
}
