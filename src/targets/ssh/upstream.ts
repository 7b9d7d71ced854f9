// The gateway's own SSH connection to the upstream host, one per caller connection, logged in
// with the target's credential. The host key must match the pin before anything is sent: a
// mismatch is an UpstreamError naming both fingerprints, and the caller is refused.
import { Socket } from "node:net";
import { coalesceWrites } from "./coalesce-writes.ts";
import { Client } from "ssh2";
import type { SshTarget } from "../../config/schema.ts";
import { errorMessage } from "../../core/errors.ts";
import { type HostKeyPin, fingerprintOf, keyTypeOf } from "./host-key-pin.ts";

/** Why the upstream connection failed; `reason` is stable, for audit records. */
export class UpstreamError extends Error {
  constructor(
    readonly reason: "host_key_mismatch" | "auth" | "connect" | "timeout",
    message: string,
    /** Facts for the record (the fingerprint presented). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const READY_TIMEOUT_MS = 30_000;

export function upstreamAddress(cfg: SshTarget): string {
  return `${cfg.upstream.host}:${cfg.upstream.port ?? 22}`;
}

/** Connects and logs in as `account`; rejects with an UpstreamError. */
export function connectUpstream(cfg: SshTarget, pin: HostKeyPin, account: string): Promise<Client> {
  const up = cfg.upstream;
  const where = upstreamAddress(cfg);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: Buffer | null = null;
    let settled = false;
    const settle = (e: UpstreamError | null) => {
      if (settled) return;
      settled = true;
      if (e === null) return resolve(client);
      client.end();
      reject(e);
    };
    client.once("ready", () => settle(null));
    client.on("error", (e: Error & { level?: string }) => {
      if (presented !== null && !pin.matches(presented)) return; // reported below
      const reason = e.level === "client-authentication" ? "auth" : e.level === "client-timeout" ? "timeout" : "connect";
      const what = reason === "auth" ? `the upstream ${where} refused the gateway's login as "${account}"` : `cannot reach the upstream ${where}`;
      settle(new UpstreamError(reason, `${what}: ${errorMessage(e)}`));
    });
    client.once("close", () => settle(new UpstreamError("connect", `the upstream ${where} closed the connection during login`)));
    client.connect({
      host: up.host,
      port: up.port ?? 22,
      username: account,
      ...(up.private_key !== undefined ? { privateKey: up.private_key } : {}),
      ...(up.passphrase !== undefined ? { passphrase: up.passphrase } : {}),
      ...(up.password !== undefined ? { password: up.password } : {}),
      readyTimeout: READY_TIMEOUT_MS,
      ...(pin.algorithms !== undefined ? { algorithms: { serverHostKey: [...pin.algorithms] as never } } : {}),
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        presented = key;
        if (pin.matches(key)) return true;
        const fp = fingerprintOf(key);
        settle(
          new UpstreamError(
            "host_key_mismatch",
            `the upstream ${where} presented host key ${keyTypeOf(key)} ${fp}, which is not the one pinned in the target's upstream.host_key (${pin.text.slice(0, 60)}); refusing to connect (if the host's key really changed, pin the new one: gatehouse ssh-keyscan ${where})`,
            { presented: fp },
          ),
        );
        return false;
      },
    });
    // ssh2 made its socket in connect(); see coalesce-writes.ts.
    const sock = (client as unknown as { _sock?: unknown })._sock;
    if (sock instanceof Socket) coalesceWrites(sock);
  });
}
