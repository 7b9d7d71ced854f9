// One caller connection to an SSH target, from login to close: the caller logs in (see
// caller-auth.ts), session.start is recorded and the gateway logs in upstream with the target's
// credential (host key checked against the pin) before the caller's login succeeds, so a refusal
// reaches the caller as a disconnect message. Then its channels run (session-channel.ts,
// forward.ts) until either side closes, its token expires or a reload revokes its credential;
// session.end says which.
import { randomBytes } from "node:crypto";
import type { Client, ClientInfo, Connection } from "ssh2";
import type { SshTarget } from "../../config/schema.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { Identity, SshRequestFacts } from "../../core/types.ts";
import { recordAuthRejected } from "../../gate/auth-rejection.ts";
import { auditIdentity } from "../../gate/gate.ts";
import type { SessionRevocations } from "../../gate/revocation.ts";
import { SessionExpiry, endedDetails, tokenExpiredAtOpen } from "../../gate/session-expiry.ts";
import type { ListedSession } from "../../gate/live-sessions.ts";
import type { RevokedCheck } from "../../gate/revocation.ts";
import type { TargetDeps } from "../../gate/target.ts";
import { callerAuth } from "./caller-auth.ts";
import type { ChannelContext } from "./channel-context.ts";
import { type RecorderOptions, openChannelRecorder } from "./channel-recorder.ts";
import { handleDirectTcpip } from "./forward.ts";
import type { HostKeyPin } from "./host-key-pin.ts";
import type { PublicKeyLookup } from "./public-keys.ts";
import { handleSession } from "./session-channel.ts";
import { DISCONNECT_REASON, OPEN_FAILURE, disconnectWithMessage, rejectChannelOpen } from "./ssh-wire.ts";
import { UpstreamError, connectUpstream } from "./upstream.ts";

export interface ConnectionShared {
  readonly cfg: SshTarget;
  /** cfg with secret references at their current values (gate/secret-store.ts), asked at each upstream login. */
  readonly current?: () => SshTarget;
  readonly deps: TargetDeps;
  readonly pin: HostKeyPin;
  readonly publicKey: () => PublicKeyLookup;
  readonly envAllowed: (name: string) => boolean;
  readonly revocations: SessionRevocations;
  /** Live connections, for stop(). */
  readonly open: Set<SshConnection>;
  readonly recording: RecorderOptions;
  readonly shellLines: () => boolean;
  /** Whether some allow or review rule could let this identity do anything here. */
  readonly mayUse: (identity: Identity) => boolean;
  /** Bytes relayed, for the target's GC pacing. */
  readonly relayed: (bytes: number) => void;
  /** The connection from `remote` ("ip:port") logged in: its login timer stops. */
  loggedIn: (remote: string) => void;
}

/** Channels one connection may have open at once (OpenSSH's MaxSessions is 10 per connection). */
export const MAX_OPEN_CHANNELS = 256;

const REFUSED_REMOTE_FORWARD = "remote port forwarding (ssh -R) is refused: the gateway does not relay it (no policy can allow it yet)";

export class SshConnection {
  readonly id = `ssh_${randomBytes(8).toString("hex")}`;
  private identity: Identity | null = null;
  private upstream: Client | null = null;
  private expiry: SessionExpiry | null = null;
  private readonly since: number;
  private readonly remote: string;
  private readonly began = performance.now();
  private channels = 0;
  /** Channels recorded so far: numbers their files. */
  private recorded = 0;
  private readonly refused: string[] = [];
  private error: string | null = null;
  private live = false;
  /** Aborted when the caller's connection closes. */
  private readonly gone = new AbortController();
  /** Resolves once session.end is written (or there was no session). */
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(
    private readonly conn: Connection,
    info: ClientInfo,
    private readonly s: ConnectionShared,
  ) {
    this.since = s.revocations.generation;
    this.remote = `${info.ip}:${info.port}`;
    this.finished = new Promise((r) => (this.finish = r));
    const { cfg, deps } = s;
    conn.on("error", (e: Error) => deps.log.debug("ssh connection error", { target: cfg.name, remote: this.remote, error: e.message }));
    conn.on("authentication", callerAuth(conn, cfg.name, {
      authenticate: (credential) => this.authenticate(credential),
      authFailureReason: deps.authFailureReason,
      publicKey: (key) => s.publicKey()(key),
      account: (user) => (cfg.users === undefined ? cfg.upstream.user : (Object.hasOwn(cfg.users, user) ? cfg.users[user]! : null)),
      rejected: (r) =>
        recordAuthRejected(deps, {
          target: cfg.name,
          reason: r.reason,
          message: r.message,
          ...(r.identity ? { identity: r.identity } : {}),
          details: { remote: this.remote, user: r.user, method: r.method, client: info.header.versions.software },
        }),
      admit: (identity, user, account, method) => this.admit(identity, user, account, method, info),
    }));
    conn.on("ready", () => this.goLive());
    conn.on("session", (accept, reject) => {
      if (this.tooManyChannels(reject)) return;
      this.channels++;
      this.openChannels++;
      const session = accept();
      session.once("close", () => this.openChannels--);
      handleSession(session, this.channelContext());
    });
    conn.on("tcpip", (accept, reject, tcp) => {
      if (this.tooManyChannels(reject)) return;
      this.channels++;
      this.openChannels++;
      void handleDirectTcpip(conn, accept, reject, tcp, this.channelContext())
        .catch((e: unknown) => deps.log.error("ssh forward failed", { target: cfg.name, session: this.id, error: errorMessage(e) }))
        .finally(() => this.openChannels--);
    });
    conn.on("request", (_accept, reject, name, req) => {
      const where = name === "tcpip-forward" ? ` ${(req as { bindAddr?: string }).bindAddr ?? ""}:${(req as { bindPort?: number }).bindPort ?? ""}` : "";
      if (this.refused.length < 32) this.refused.push(`${name}${where}`);
      // Once per connection, however many forwards the client asks for.
      if (name.endsWith("forward") && !name.startsWith("cancel") && !this.notices.includes(REFUSED_REMOTE_FORWARD)) this.notices.push(REFUSED_REMOTE_FORWARD);
      reject?.();
    });
    conn.on("close", () => this.closed());
  }

  private openChannels = 0;

  private tooManyChannels(reject: () => void): boolean {
    if (this.openChannels < MAX_OPEN_CHANNELS) return false;
    rejectChannelOpen(this.conn, reject, OPEN_FAILURE.RESOURCE_SHORTAGE, `gatehouse: ${MAX_OPEN_CHANNELS} channels are open on this connection already; close some first`);
    return true;
  }

  /** Connection-wide refusals, printed on the next session channel's stderr. */
  private readonly notices: string[] = [];

  revokeIf(revoked: RevokedCheck): void {
    if (this.identity !== null && this.live && revoked(this.identity)) this.expiry?.end("credential_revoked");
  }

  /** The gateway stops: the caller is told so. */
  shutdown(): void {
    this.error ??= "the gateway stopped";
    disconnectWithMessage(this.conn, DISCONNECT_REASON.BY_APPLICATION, "gatehouse: the gateway is shutting down");
  }

  private async authenticate(credential: string): Promise<Identity> {
    const identity = await this.s.deps.authenticate(credential);
    if (tokenExpiredAtOpen(identity, this.s.deps.clock, this.s.deps.endAtExpiry ?? (() => true))) {
      throw new GatewayError("E_AUTH_EXPIRED", `token expired at ${new Date(identity.expiresAt).toISOString()}: a session ends when its token expires (identity.end_sessions_at_expiry)`);
    }
    return identity;
  }

  /** Opens the session for a caller whose credential verified: null, or why it is refused. */
  private async admit(identity: Identity, user: string, account: string, method: string, info: ClientInfo): Promise<string | null> {
    const { cfg, deps, pin } = this.s;
    if (!this.s.mayUse(identity)) {
      // Refused at the door, with a reason the client prints, rather than every request later.
      const message = `no rule lets ${identity.subject} (${identity.groups.join(", ") || "no groups"}) use ${cfg.name}`;
      try {
        await recordAuthRejected(deps, { target: cfg.name, reason: "no_rule", message, identity, details: { remote: this.remote, user, method } }, { count: false });
      } catch (e) {
        return `gatehouse: audit log unavailable, login refused: ${errorMessage(e)}`;
      }
      return `gatehouse: ${message}`;
    }
    try {
      await deps.gate.record({
        type: "session.start",
        session: this.id,
        identity: auditIdentity(identity),
        target: cfg.name,
        details: { remote: this.remote, user, account, method, client: info.header.versions.software },
      });
    } catch (e) {
      return `gatehouse: audit log unavailable, login refused: ${errorMessage(e)}`;
    }
    this.identity = identity;
    deps.metrics.openSessions.inc({ target: cfg.name });
    try {
      this.upstream = await connectUpstream(this.s.current?.() ?? cfg, pin, account);
    } catch (e) {
      this.error = errorMessage(e);
      const extra = e instanceof UpstreamError ? { upstream_error: e.reason, ...e.details } : {};
      deps.log.warn("ssh upstream connection refused", { target: cfg.name, session: this.id, error: this.error });
      this.endRecord(extra);
      return `gatehouse: ${this.error}`;
    }
    if (this.ended) {
      // The caller went away while the gateway logged in upstream.
      this.upstream.end();
      return "gatehouse: the caller went away";
    }
    this.account = account;
    this.upstream.on("error", (e: Error) => deps.log.debug("ssh upstream error", { target: cfg.name, session: this.id, error: e.message }));
    this.upstream.once("close", () => {
      if (this.ended) return;
      this.error ??= "the upstream closed the connection";
      disconnectWithMessage(this.conn, DISCONNECT_REASON.BY_APPLICATION, `gatehouse: ${this.error}`);
    });
    return null;
  }

  private account = "";
  private ended = false;
  /** What the console lists and may end, once live (see gate/live-sessions.ts). */
  listed?: ListedSession;

  private goLive(): void {
    const { cfg, deps } = this.s;
    if (this.identity === null || this.ended) return;
    this.s.loggedIn(this.remote);
    this.live = true;
    this.s.open.add(this);
    this.listed = {
      info: { id: this.id, target: cfg.name, kind: "ssh", identity: this.identity, remote: this.remote, startedAt: deps.clock.now(), what: `ssh ${this.account}@${cfg.name}` },
      end: (by) => this.expiry?.endBy(by),
    };
    this.s.revocations.add(this);
    this.expiry = new SessionExpiry(this.identity.expiresAt, deps.clock, () => {
      this.expiry!.ended = true;
      disconnectWithMessage(this.conn, DISCONNECT_REASON.BY_APPLICATION, `gatehouse: ${this.expiry!.message()}`);
    });
    if (deps.endAtExpiry?.() !== false) this.expiry.start();
    if (this.s.revocations.revokedSince(this.since, this.identity)) this.expiry.end("credential_revoked");
    deps.log.debug("ssh session live", { target: cfg.name, session: this.id });
  }

  private channelContext(): ChannelContext {
    const { cfg, deps } = this.s;
    const identity = this.identity!;
    const notices = this.notices;
    return {
      targetName: cfg.name,
      session: this.id,
      account: this.account,
      upstream: this.upstream!,
      envAllowed: this.s.envAllowed,
      execPty: cfg.exec_pty === true,
      shellLines: this.s.shellLines,
      log: deps.log,
      gone: this.gone.signal,
      relayed: this.s.relayed,
      takeNotices: () => notices.splice(0),
      decide: (facts, opts) => deps.gate.check({ identity, target: cfg.name, request: facts, time: deps.clock.now() }, { session: this.id, ...opts }),
      ended: (facts: SshRequestFacts, details) => {
        void deps.gate.recordLater({ type: "channel.end", session: this.id, identity: auditIdentity(identity), target: cfg.name, action: { ...facts }, details });
      },
      record: (type, facts, details) => {
        void deps.gate.recordLater({ type, session: this.id, identity: auditIdentity(identity), target: cfg.name, action: { ...facts }, details });
      },
      recorder: (facts, pty) => openChannelRecorder(this.s.recording, `${this.id}-${++this.recorded}`, facts, pty),
    };
  }

  private closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.gone.abort();
    this.expiry?.cancel();
    this.s.open.delete(this);
    this.s.revocations.delete(this);
    this.upstream?.end();
    if (this.identity === null) return this.finish();
    this.s.deps.metrics.openSessions.inc({ target: this.s.cfg.name }, -1);
    // admit() wrote session.end already when the upstream refused.
    if (this.upstream === null && this.error !== null) return this.finish();
    // After the channels' own records: they end on `gone` and record a few microtasks later.
    setImmediate(() => this.endRecord({}));
  }

  private endRecord(extra: Record<string, unknown>): void {
    const { cfg, deps } = this.s;
    void deps.gate
      .recordLater({
        type: "session.end",
        session: this.id,
        identity: auditIdentity(this.identity!),
        target: cfg.name,
        details: {
          duration_ms: Math.round(performance.now() - this.began),
          channels: this.channels,
          ...(this.refused.length > 0 ? { refused: this.refused } : {}),
          ...(this.expiry?.ended ? endedDetails(this.expiry) : {}),
          ...(this.error !== null ? { error: this.error } : {}),
          ...extra,
        },
      })
      .then(() => this.finish());
  }
}
