// The SSH target: the gateway is an SSH server on `listen` with its own host key, and an SSH
// client to `upstream` with the target's credential and a pinned host key. Callers run plain
// ssh, scp, sftp or ssh -L against it; each shell, exec, SFTP session and forwarded connection
// is decided by the policy before anything is opened upstream (see connection.ts).
import { edenGC, fullGC, heapSize } from "bun:jsc";
import { type CipherAlgorithm, Server } from "ssh2";
import type { SshTarget } from "../../config/schema.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import { splitListen } from "../../gate/listen.ts";
import { MemoryPacer } from "../../gate/memory-pacer.ts";
import { SessionRevocations } from "../../gate/revocation.ts";
import type { RunningTarget, TargetDeps } from "../../gate/target.ts";
import type { Identity } from "../../core/types.ts";
import { createServer, type Socket } from "node:net";
import { parseDuration, parseSize } from "../../core/duration.ts";
import { DEFAULT_EXEC_OUTPUT_LIMIT } from "./channel-recorder.ts";
import { coalesceWrites } from "./coalesce-writes.ts";
import { type ConnectionShared, SshConnection } from "./connection.ts";
import { envAllowList } from "./env-allow.ts";
import { parseHostKeyPins } from "./host-key-pin.ts";
import { defaultHostKeyPath, loadHostKey } from "./host-key.ts";
import type { PublicKeyLookup } from "./public-keys.ts";
import { installSsh2AesGcm } from "./ssh2-aes-gcm.ts";
import { upstreamAddress } from "./upstream.ts";

export interface SshTargetDeps extends TargetDeps {
  /** The state folder: the default host key lives there. */
  readonly stateDir: string;
  /** Whether some allow or review rule names this identity and target (else the login is refused). */
  readonly mayUseTarget?: (identity: Identity, target: string) => boolean;
  /** Whether some rule has `ssh: { lines }` now (the shell line policy costs a decision per line). */
  readonly shellLines?: () => boolean;
  /** Public keys of machine identities as the configuration now has them (changes on reload). */
  readonly publicKeys: () => PublicKeyLookup;
  /** The target's settings with secret references at their current values (gate/secret-store.ts). */
  readonly current?: () => SshTarget;
}

export interface RunningSshTarget extends RunningTarget {
  readonly hostKeyFingerprint: string;
}

/**
 * Ciphers offered to callers unless the target sets `ciphers`. The client's order wins, and
 * OpenSSH lists aes*-ctr before the GCM ones: offered CTR, it picks aes128-ctr with
 * hmac-sha2-256-etm, whose SHA-256 took ~8% of the gateway's CPU on a bulk transfer (AES-GCM
 * authenticates with the cipher, in BoringSSL's PCLMUL code). chacha20-poly1305 is not
 * available (Bun's node:crypto has none). Clients without AES-GCM get "no matching cipher".
 */
export const DEFAULT_CALLER_CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"] as const;

/**
 * The target's memory pacing (gate/memory-pacer.ts) measures the engine's heap, buffers included
 * (bun:jsc heapSize), and collects with bun:jsc's own collections. Bun.gc(true), the pacer's
 * default, also hands every freed page back to the kernel, so the next packets fault the same
 * memory in again: a 200 MB exec transfer took ~190,000 page faults and 1.2-1.6 s of gateway CPU,
 * of which a third was system time and the collections themselves another 0.25 s (bench/README.md,
 * SSH, 2026-12-07). Freed memory now stays with the allocator and is reused for the next packets.
 * Resident memory no longer falls after a collection, so it cannot be the measure (the pacer would
 * ratchet up 16 MB a collection); the heap size does fall. A relayed packet's buffers die young,
 * so a collection is an eden one, and a full one (which marks the whole heap: 12% of the main
 * thread's time when every 4th collection was full) only when the eden collection left the heap
 * more than 2 × GROWTH above where the last full one did: what outlived an eden collection in a
 * socket's queue or a window. heapSize costs more than it looks (~5% of the main thread when read
 * every 64 KB relayed), hence CHECK_EVERY.
 */
const GROWTH = 8 * 1024 * 1024;
const CHECK_EVERY = 1024 * 1024;
function relayPacer(): MemoryPacer {
  let afterFull = heapSize();
  const collect = () => {
    edenGC();
    const now = heapSize();
    if (now > afterFull + 2 * GROWTH) {
      fullGC();
      afterFull = heapSize();
    } else if (now < afterFull) afterFull = now;
  };
  return new MemoryPacer({ rss: heapSize, growth: GROWTH, checkEvery: CHECK_EVERY, collect });
}

/** login_timeout when the target does not set one (OpenSSH's LoginGraceTime is 120 s). */
const DEFAULT_LOGIN_TIMEOUT_MS = 60_000;

/** Connections still setting up or live at stop() get this long to write their session.end. */
const STOP_GRACE_MS = 10_000;

export async function startSshTarget(cfg: SshTarget, deps: SshTargetDeps): Promise<RunningSshTarget> {
  installSsh2AesGcm();
  const [host, port] = splitListen(cfg.listen);
  const hostKey = loadHostKey(cfg.host_key ?? defaultHostKeyPath(deps.stateDir, cfg.name), cfg.host_key === undefined);
  const shared: ConnectionShared = {
    cfg,
    ...(deps.current !== undefined ? { current: deps.current } : {}),
    deps,
    pin: parseHostKeyPins(cfg.upstream.host_key),
    publicKey: deps.publicKeys,
    envAllowed: envAllowList(cfg.env),
    revocations: new SessionRevocations(deps.liveSessions),
    open: new Set(),
    loggedIn: () => {},
    relayed: relayPacer().relayed,
    shellLines: deps.shellLines ?? (() => false),
    mayUse: (identity) => deps.mayUseTarget?.(identity, cfg.name) ?? true,
    recording: {
      stateDir: deps.stateDir,
      recordInput: cfg.record_input === true,
      execOutputLimit: cfg.exec_output_limit !== undefined ? parseSize(cfg.exec_output_limit) : DEFAULT_EXEC_OUTPUT_LIMIT,
      clock: deps.clock,
    },
  };
  const all = new Set<SshConnection>();
  // Sockets not logged in yet, by remote address: each gets login_timeout to send its banner,
  // exchange keys and authenticate (OpenSSH's LoginGraceTime), so idle sockets cannot pile up.
  const loginTimeoutMs = cfg.login_timeout !== undefined ? parseDuration(cfg.login_timeout) : DEFAULT_LOGIN_TIMEOUT_MS;
  const pending = new Map<string, { cancel(): void }>();
  shared.loggedIn = (remote) => {
    pending.get(remote)?.cancel();
    pending.delete(remote);
  };
  const ssh = new Server({ hostKeys: [hostKey.privateKey], ident: "gatehouse", algorithms: { cipher: [...(cfg.ciphers ?? DEFAULT_CALLER_CIPHERS)] as CipherAlgorithm[] } }, (conn, info) => {
    const c = new SshConnection(conn, info, shared);
    all.add(c);
    void c.finished.then(() => all.delete(c));
  });
  ssh.on("error", (e: Error) => deps.log.error("ssh target server error", { target: cfg.name, error: errorMessage(e) }));
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    sockets.add(socket);
    const timer = setTimeout(() => {
      deps.log.info("ssh connection closed: no login within login_timeout", { target: cfg.name, remote });
      socket.destroy();
    }, loginTimeoutMs);
    pending.set(remote, { cancel: () => clearTimeout(timer) });
    socket.once("close", () => {
      sockets.delete(socket);
      shared.loggedIn(remote);
    });
    socket.on("error", () => {});
    coalesceWrites(socket);
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: Error) => reject(new GatewayError("E_CONFIG_INVALID", `target "${cfg.name}": cannot listen on ${cfg.listen}: ${e.message}`, { cause: e })));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === "object" && address !== null ? address.port : port;
  deps.log.info(`ssh target listening; its host key ${hostKey.fingerprint}${hostKey.created ? " was made now" : ""}`, {
    target: cfg.name,
    listen: `${host}:${boundPort}`,
    upstream: upstreamAddress(cfg),
    host_key: hostKey.path,
    host_key_fingerprint: hostKey.fingerprint,
    host_public_key: hostKey.publicKey,
  });

  return {
    name: cfg.name,
    listen: cfg.listen,
    port: boundPort,
    hostKeyFingerprint: hostKey.fingerprint,
    revokeSessions(revoked) {
      shared.revocations.revoke(revoked);
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of all) c.shutdown();
        // Sockets still before their banner have no SSH connection to tell.
        for (const s of sockets) if (!s.destroyed) setTimeout(() => s.destroy(), 1000).unref();
      });
      await Promise.race([Promise.all([...all].map((c) => c.finished)), Bun.sleep(STOP_GRACE_MS)]);
    },
  };
}
