// A listener's TLS certificate and key, re-read when either file changes: new connections get
// the new certificate, connections already open keep theirs, no restart. A pair that cannot be
// used (a file missing or empty, the key written before the certificate, a key that does not
// match) keeps the pair in use and is reported, until both files make a pair again.
import { X509Certificate } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { errorMessage } from "../core/errors.ts";

export interface ReloadingTlsDeps {
  /** The new pair is served from now on: its certificate's SHA-256 fingerprint (public). */
  readonly onRotated: (fingerprint: string) => void;
  /** The files changed and do not make a usable pair (the old one stays in use). */
  readonly onFailure: (reason: string) => void;
  /** Quiet time after the last change; a certificate and its key are seldom written at once. Default 200ms. */
  readonly debounceMs?: number;
}

export interface ReloadingTls {
  /** The context for a connection starting now. */
  current(): SecureContext;
  /** Reads both files now (what a change does after its quiet time). */
  reload(): Promise<void>;
  close(): void;
}

export function fingerprintOf(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** `cert`/`key` as read at start (the load already checked them); watched from here on. */
export function reloadingTls(paths: { cert: string; key: string }, first: { cert: Buffer; key: Buffer }, deps: ReloadingTlsDeps): ReloadingTls {
  let context = createSecureContext({ cert: first.cert, key: first.key });
  let served = fingerprintOf(first.cert);
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const reload = async () => {
    let cert: Buffer;
    let key: Buffer;
    let next: SecureContext;
    let fp: string;
    try {
      [cert, key] = await Promise.all([readFile(paths.cert), readFile(paths.key)]);
      if (cert.length === 0) throw new Error(`"${paths.cert}" is empty`);
      if (key.length === 0) throw new Error(`"${paths.key}" is empty`);
      // createSecureContext refuses a key that does not match the certificate.
      next = createSecureContext({ cert, key });
      fp = fingerprintOf(cert);
    } catch (e) {
      if (closed) return;
      deps.onFailure(`TLS certificate "${paths.cert}" and key "${paths.key}" cannot be used; the certificate in use (${served}) stays: ${errorMessage(e)}`);
      return;
    }
    if (closed) return;
    if (fp === served) {
      context = next;
      return;
    }
    context = next;
    served = fp;
    deps.onRotated(fp);
  };

  // Folders, as for secrets: a file replaced by a rename ends a watch on the file itself.
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(paths.cert), dirname(paths.key)])) {
    try {
      const w = watch(dir, { persistent: false }, () => {
        if (closed) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = null;
          void reload();
        }, deps.debounceMs ?? 200);
      });
      w.on("error", (e) => deps.onFailure(`cannot watch "${dir}" for a new TLS certificate: ${errorMessage(e)}`));
      watchers.push(w);
    } catch (e) {
      deps.onFailure(`cannot watch "${dir}" for a new TLS certificate; a replaced one is served after a restart: ${errorMessage(e)}`);
    }
  }

  return {
    current: () => context,
    reload,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
