// A listener's TLS certificate and key, re-read when either file changes: new connections get
// the new certificate, connections already open keep theirs, no restart. A pair that cannot be
// used (a file missing or empty, the key written before the certificate, a key that does not
// match) keeps the pair in use and is reported, until both files make a pair again.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { errorMessage } from "../core/errors.ts";
import { watchFolder } from "./watch-folder.ts";

export interface ReloadingTlsDeps {
  /** The new pair is served from now on: its certificate's SHA-256 fingerprint (public). */
  readonly onRotated: (fingerprint: string) => void;
  /** The files changed and do not make a usable pair (the old one stays in use). */
  readonly onFailure: (reason: string) => void;
  /** Both files make a usable pair again after a failure. */
  readonly onUsable?: () => void;
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

  // One read at a time, so an older read never lands after a newer one.
  let chain: Promise<void> = Promise.resolve();
  const reload = () => {
    const run = chain.then(readPair);
    chain = run.catch(() => {});
    return run;
  };
  async function readPair(): Promise<void> {
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
    deps.onUsable?.();
    if (fp === served) {
      context = next;
      return;
    }
    context = next;
    served = fp;
    deps.onRotated(fp);
  }

  const watches = [...new Set([dirname(paths.cert), dirname(paths.key)])].map((dir) =>
    watchFolder(dir, () => void reload(), {
      debounceMs: deps.debounceMs ?? 200,
      onError: (m) => deps.onFailure(`${m}; a replaced TLS certificate is served after a restart`),
    }),
  );

  return {
    current: () => context,
    reload,
    close() {
      closed = true;
      for (const w of watches) w.close();
    },
  };
}
