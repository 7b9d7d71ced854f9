// The PostgreSQL target: a protocol 3.0 gateway in front of one database. Clients (psql,
// pgbench, drivers) log in with an OIDC token or a machine key as the password; the gateway
// logs in upstream with the target's own credential, one upstream connection per session, and
// checks, masks, holds or denies every statement as the policy says.
import { readFileSync } from "node:fs";
import type { PostgresTarget } from "../../config/schema.ts";
import { parseSize } from "../../core/duration.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { Identity } from "../../core/types.ts";
import { recordAuthRejected } from "../../gate/auth-rejection.ts";
import { listenConnections, type Connection, type ConnectionListener } from "../../gate/connection.ts";
import { isLoopbackHost, splitListen } from "../../gate/listen.ts";
import { MemoryPacer } from "../../gate/memory-pacer.ts";
import { reloadingTls } from "../../gate/reloading-tls.ts";
import { SessionRevocations } from "../../gate/revocation.ts";
import type { RunningTarget, TargetDeps } from "../../gate/target.ts";
import { tokenExpiredAtOpen } from "../../gate/session-expiry.ts";
import type { Detector } from "../../masking/detectors.ts";
import { postgresBuiltins } from "./decide/builtins.ts";
import { CancelRegistry, sendUpstreamCancel } from "./session/cancel.ts";
import { Catalog } from "./catalog/catalog.ts";
import type { Analyzer } from "./relay/frontend-relay.ts";
import { runSession } from "./session/session-open.ts";
import { runClientStartup } from "./session/startup.ts";

export interface PostgresTargetDeps extends TargetDeps {
  /** The SQL analysis (the parser behind its cache). */
  readonly analyzer: Analyzer;
  /** True when at least one allow or review rule names this target for this identity (catalog reads). */
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
  /** The postgres.functions patterns of a rule by name (dangerous functions must be named). */
  readonly ruleFunctions: (rule: string) => readonly string[] | undefined;
  /** The postgres.classes patterns of a rule by name (COPY PROGRAM and server files must be named). */
  readonly ruleClasses?: (rule: string) => readonly string[] | undefined;
  readonly compileDetectors: (names: readonly string[]) => Detector;
  /** The target's settings with secret references at their current values (gate/secret-store.ts), asked at each upstream login. */
  readonly current?: () => PostgresTarget;
  /** How long a completion waits for its session's next decision record (default COMPLETION_WAIT_MS; tests lengthen it). */
  readonly completionWaitMs?: number;
}

/** A started PostgreSQL target; after a reload, a revoked session ends at once with FATAL 28000. */
export type RunningPostgresTarget = RunningTarget;

/** Largest message a client may send (a Query, a Bind, one CopyData): 64 MiB unless max_message_size says otherwise. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
const STARTUP_TIMEOUT_MS = 60_000;

export async function startPostgresTarget(cfg: PostgresTarget, deps: PostgresTargetDeps): Promise<RunningPostgresTarget> {
  const [host, port] = splitListen(cfg.listen);
  const { gate, log, metrics } = deps;
  // A replaced certificate is served to new connections without a restart (gate/reloading-tls.ts).
  const tls = cfg.tls
    ? reloadingTls(cfg.tls, { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) }, {
        onRotated: (fingerprint) => {
          log.info("postgres target serves a new TLS certificate", { target: cfg.name, cert: cfg.tls!.cert, fingerprint });
          void gate.recordHappened({ type: "tls.rotated", target: cfg.name, details: { cert: cfg.tls!.cert, fingerprint } });
        },
        onFailure: (reason) => {
          log.error(reason, { target: cfg.name });
          metrics.secretReadFailures.inc({ reference: `tls:${cfg.tls!.cert}` });
          deps.degraded?.(`tls ${cfg.tls!.cert}`, reason);
        },
        onUsable: () => deps.degraded?.(`tls ${cfg.tls!.cert}`, null),
      })
    : null;
  const plaintextAllowed = cfg.allow_plaintext === true || isLoopbackHost(host);
  const maxMessageSize = cfg.max_message_size ? parseSize(cfg.max_message_size) : DEFAULT_MAX_MESSAGE_SIZE;
  // Asked for at each login upstream: a rotated password is used by new connections only.
  const current = deps.current ?? (() => cfg);
  const catalog = new Catalog(() => current().upstream, log);
  const cancels = new CancelRegistry();
  const adjust = postgresBuiltins({ mayUseTarget: deps.mayUseTarget, ruleFunctions: deps.ruleFunctions, ruleClasses: deps.ruleClasses });
  const sockets = new Set<Connection>();
  const revocations = new SessionRevocations(deps.liveSessions);
  const endAtExpiry = deps.endAtExpiry ?? (() => true);
  // Keeps resident memory flat through large results (see gate/memory-pacer.ts).
  const pacer = new MemoryPacer();

  // A token already expired is refused at login (as a WebSocket's), see tokenExpiredAtOpen.
  async function authenticateForSession(credential: string): Promise<Identity> {
    const identity = await deps.authenticate(credential);
    if (tokenExpiredAtOpen(identity, deps.clock, endAtExpiry)) {
      throw new GatewayError("E_AUTH_EXPIRED", `token expired at ${new Date(identity.expiresAt).toISOString()}: a session ends when its token expires (identity.end_sessions_at_expiry)`);
    }
    return identity;
  }

  async function handle(socket: Connection): Promise<void> {
    // Reloads from here on apply to this session too, even before it is live (see SessionRevocations).
    const since = revocations.generation;
    const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    const outcome = await runClientStartup(socket, {
      targetName: cfg.name,
      database: cfg.upstream.database,
      tls: tls?.current() ?? null,
      plaintextAllowed,
      listen: cfg.listen,
      maxMessageSize,
      timeoutMs: STARTUP_TIMEOUT_MS,
      authenticate: authenticateForSession,
      onAuthRejected: async (error, parameters) => {
        // Rejects when the log cannot take it (the gate has logged and counted it): the client is told so.
        await recordAuthRejected(deps, {
          target: cfg.name,
          reason: error === null ? "missing" : deps.authFailureReason(error),
          message: error === null ? "no password supplied" : errorMessage(error),
          details: { remote, user: parameters.get("user") ?? null },
        });
      },
    });
    switch (outcome.kind) {
      case "closed":
        log.debug("postgres connection closed during startup", { target: cfg.name, remote, reason: outcome.reason });
        return;
      case "cancel": {
        const match = cancels.match(outcome.processId, outcome.secretKey);
        if (match === null) return; // PostgreSQL ignores unknown cancel keys silently, and so do we.
        match.onCancel();
        await sendUpstreamCancel(cfg.upstream, match.upstream).catch((e) => log.warn("cancel request failed", { target: cfg.name, error: errorMessage(e) }));
        return;
      }
      case "session":
        await runSession(outcome, remote, {
          cfg: current(),
          gate,
          analyzer: deps.analyzer,
          catalog,
          cancels,
          adjust,
          compileDetectors: deps.compileDetectors,
          clock: deps.clock,
          log,
          metrics,
          maxMessageSize,
          relayed: pacer.relayed,
          live: revocations,
          revokedSince: (identity) => revocations.revokedSince(since, identity),
          ...(deps.endAtExpiry !== undefined ? { endAtExpiry: deps.endAtExpiry } : {}),
          ...(deps.completionWaitMs !== undefined ? { completionWaitMs: deps.completionWaitMs } : {}),
        });
        return;
    }
  }

  // Each connection's handler resolves once its session.end record is written: stop() waits for them.
  const connections = new Set<Promise<void>>();
  let listener: ConnectionListener;
  try {
    listener = listenConnections(host, port, (socket) => {
      sockets.add(socket);
      const running = handle(socket).catch((e) => {
        log.error("postgres target failed a connection", { target: cfg.name, error: errorMessage(e) });
        socket.destroy();
      });
      connections.add(running);
      void running.then(() => {
        connections.delete(running);
        sockets.delete(socket);
      });
    });
  } catch (e) {
    throw new GatewayError("E_CONFIG_INVALID", `target "${cfg.name}": cannot listen on ${cfg.listen}: ${errorMessage(e)}`, { cause: e });
  }
  const boundPort = listener.port;
  log.info(`postgres target listening`, { target: cfg.name, listen: `${host}:${boundPort}`, upstream: `${cfg.upstream.host}:${cfg.upstream.port ?? 5432}/${cfg.upstream.database}`, tls: tls !== null });

  return {
    name: cfg.name,
    listen: cfg.listen,
    port: boundPort,
    revokeSessions(revoked) {
      revocations.revoke(revoked);
    },
    async stop() {
      listener.stop();
      tls?.close();
      for (const s of sockets) s.destroy();
      // Sessions cut off above still write their session.end (and unfinished statements) records.
      await Promise.race([Promise.all(connections), Bun.sleep(10_000)]);
      catalog.close();
    },
  };
}
