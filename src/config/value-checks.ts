// Checks of single values that the schema cannot express and that the gateway would otherwise
// trip over only when it starts (or, worse, on every request): issuer URLs and algorithms, the
// upstream URL and headers of an HTTP target, sizes that must not be zero, and the TLS files of
// a PostgreSQL target. They run on resolved values, so a secret reference is checked as what it
// stands for, and each problem is placed at the key's file:line:column.
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { parseSize } from "../core/duration.ts";
import { errorMessage } from "../core/errors.ts";
import { issuerProblems } from "../identity/identity-problems.ts";
import type { ConfigIssue, KeyPath } from "./issue.ts";
import type { Merged, MergedConfig } from "./merge.ts";
import type { TargetConfig } from "./schema.ts";

/** RFC 9110 field-name: a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What no header value may hold: it would end the header (or the request) early. */
const HEADER_BREAK = /[\r\n\0]/;

export interface ValueCheckOptions {
  /** A key path whose value is still an unresolved secret reference: not checked. */
  readonly unresolved: (path: KeyPath) => boolean;
}

export function valueIssues(value: MergedConfig, merged: Merged, opts: ValueCheckOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: KeyPath, message: string) => {
    if (!opts.unresolved(path)) issues.push(merged.issue(path, message));
  };

  for (const p of issuerProblems(value.identity.issuers)) add(["identity", ...p.path], p.message);

  if (value.audit?.rotate_size !== undefined && parseSize(value.audit.rotate_size) <= 0) {
    add(["audit", "rotate_size"], `expected a size above 0, got "${value.audit.rotate_size}"`);
  }

  value.targets.forEach((t, i) => {
    if (t.kind === "kubernetes") {
      const up = t.upstream;
      if (up.token === undefined && up.client_cert === undefined) add(["targets", i, "upstream"], "give the gateway's credential at the API server: token (a secret reference) or client_cert and client_key");
      if ((up.client_cert === undefined) !== (up.client_key === undefined)) add(["targets", i, "upstream"], "client_cert and client_key go together");
      if (up.token !== undefined && HEADER_BREAK.test(up.token)) add(["targets", i, "upstream", "token"], "the token holds a line break or NUL");
      return;
    }
    if (t.kind === "mcp") {
      const names = new Set<string>();
      t.servers.forEach((s, j) => {
        const at = ["targets", i, "servers", j];
        if (names.has(s.name)) add([...at, "name"], `a second server named "${s.name}" in this target`);
        names.add(s.name);
        if ((s.url === undefined) === (s.command === undefined)) add(at, "give exactly one of url (an HTTP upstream) and command (a stdio server the gateway spawns)");
        if (s.command === undefined && (s.env !== undefined || s.cwd !== undefined)) add(at, "env and cwd are for a stdio server (command)");
        if (s.url === undefined && (s.headers !== undefined || s.transport !== undefined)) add(at, "headers and transport are for an HTTP upstream (url)");
        for (const [k, v] of Object.entries(s.headers ?? {})) if (HEADER_BREAK.test(v)) add([...at, "headers", k], "the header value holds a line break or NUL");
        for (const k of Object.keys(s.env ?? {})) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) add([...at, "env", k], `"${k}" is not an environment variable name (letters, digits and _, not starting with a digit)`);
      });
      return;
    }
    if (t.kind !== "http") return;
    try {
      new URL(t.upstream);
    } catch {
      add(["targets", i, "upstream"], `"${t.upstream}" is not a URL`);
    }
    for (const [name, v] of Object.entries(t.headers ?? {})) {
      // Header values are often credentials: say what is wrong, never what they hold.
      if (!HEADER_NAME.test(name)) add(["targets", i, "headers", name], `"${name}" is not a valid header name`);
      else if (HEADER_BREAK.test(v)) add(["targets", i, "headers", name], "the header value holds a line break or NUL");
    }
  });
  return issues;
}

/**
 * The files a PostgreSQL or Kubernetes target reads (TLS certificate and key, upstream CA, a
 * Kubernetes target's client certificate): readable, and a
 * certificate and key that belong together. `targets` carry absolute paths (after defaults).
 */
export function fileIssues(targets: readonly TargetConfig[], merged: Merged): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  targets.forEach((t, i) => {
    if (t.kind !== "postgres" && t.kind !== "kubernetes") return;
    const read = (path: string, at: KeyPath): Buffer | null => {
      try {
        return readFileSync(path);
      } catch (e) {
        issues.push(merged.issue(at, `cannot read "${path}": ${(e as { code?: string }).code ?? errorMessage(e)}`));
        return null;
      }
    };
    if (t.tls) {
      const cert = read(t.tls.cert, ["targets", i, "tls", "cert"]);
      const key = read(t.tls.key, ["targets", i, "tls", "key"]);
      if (cert && key) {
        try {
          createSecureContext({ cert, key });
        } catch (e) {
          issues.push(merged.issue(["targets", i, "tls"], `the certificate and key cannot be used: ${errorMessage(e)}`));
        }
      }
    }
    const ca = t.upstream.ca;
    if (ca !== undefined && !ca.includes("-----BEGIN")) read(ca, ["targets", i, "upstream", "ca"]);
    if (t.kind === "kubernetes" && t.upstream.client_cert !== undefined && t.upstream.client_key !== undefined) {
      const cert = read(t.upstream.client_cert, ["targets", i, "upstream", "client_cert"]);
      const key = read(t.upstream.client_key, ["targets", i, "upstream", "client_key"]);
      if (cert && key) {
        try {
          createSecureContext({ cert, key });
        } catch (e) {
          issues.push(merged.issue(["targets", i, "upstream"], `the client certificate and key cannot be used: ${errorMessage(e)}`));
        }
      }
    }
  });
  return issues;
}
