// Query cancellation. Clients get the gateway's own BackendKeyData (a random process id and
// secret), never the upstream's: a CancelRequest is matched here and sent on to the upstream
// with that backend's real key, on a new connection, as PostgreSQL expects.
import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { encodeCancelRequest } from "../protocol/encode.ts";
import { openUpstreamSocket, type UpstreamConfig } from "./upstream.ts";

export interface BackendKey {
  readonly processId: number;
  readonly secretKey: Uint8Array;
}

interface Entry {
  readonly key: BackendKey;
  readonly upstream: BackendKey;
  /** Also told, so a request held for approval stops waiting. */
  readonly onCancel: () => void;
}

export class CancelRegistry {
  private readonly byPid = new Map<number, Entry>();

  /** Issues a fresh gateway key for a session whose upstream backend has `upstream` as its key. */
  register(upstream: BackendKey, onCancel: () => void): BackendKey {
    let processId: number;
    do processId = randomInt(1, 0x7fffffff);
    while (this.byPid.has(processId));
    const key = { processId, secretKey: new Uint8Array(randomBytes(4)) };
    this.byPid.set(processId, { key, upstream, onCancel });
    return key;
  }

  unregister(processId: number): void {
    this.byPid.delete(processId);
  }

  /** The entry for a CancelRequest, or null when the pair is unknown (the request is then ignored, as PostgreSQL does). */
  match(processId: number, secretKey: Uint8Array): { upstream: BackendKey; onCancel: () => void } | null {
    const e = this.byPid.get(processId);
    if (e === undefined || secretKey.length !== e.key.secretKey.length) return null;
    if (!timingSafeEqual(secretKey, e.key.secretKey)) return null;
    return { upstream: e.upstream, onCancel: e.onCancel };
  }

  get size(): number {
    return this.byPid.size;
  }
}

/** Sends a CancelRequest for `key` to the upstream on a new connection and closes it. */
export async function sendUpstreamCancel(up: UpstreamConfig, key: BackendKey, timeoutMs = 10_000): Promise<void> {
  const socket = await openUpstreamSocket(up, timeoutMs);
  await new Promise<void>((resolve) => {
    socket.attach({ data: () => {}, drain: () => {}, close: () => resolve() });
    socket.resume();
    socket.end(encodeCancelRequest(key.processId, key.secretKey));
    // The server closes after reading the request; do not wait longer than the timeout for that.
    setTimeout(() => {
      socket.destroy();
      resolve();
    }, timeoutMs).unref();
  });
}
