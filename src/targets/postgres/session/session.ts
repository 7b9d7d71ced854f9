// One client session after it logged in (see session-open.ts): its own upstream connection,
// the gateway's BackendKeyData for cancels, and the two relays wired to the sockets with
// backpressure both ways. Audits session.end; each statement's completion goes through
// statement-completions.ts (carried by the next decision record, or a `statement` record).
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import type { Identity } from "../../../core/types.ts";
import type { CanonicalValue } from "../../../audit/record-template.ts";
import { StatementCompletions } from "./statement-completions.ts";
import type { Connection } from "../../../gate/connection.ts";
import { auditIdentity, describeApproval } from "../../../gate/gate.ts";
import { SessionRecords } from "../../../gate/session-records.ts";
import { BackendRelay } from "../relay/backend-relay.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { denyMessages } from "../relay/deny.ts";
import { FrontendRelay, RelayViolation, type Analyzer, type RelayCore, type StatementOutcome } from "../relay/frontend-relay.ts";
import { Cursors } from "../decide/cursors.ts";
import { createBackendDecoder } from "../protocol/backend-decoder.ts";
import { encodeBackendMessages, encodeErrorResponse, encodeNoticeResponse, encodeTerminate } from "../protocol/encode.ts";
import type { BackendMessage } from "../protocol/backend-message.ts";
import type { DecodedFrontendMessage } from "../protocol/frontend-message.ts";
import { protocolErrorReason } from "../protocol/protocol-error.ts";
import { ResponseTracker } from "../relay/response-tracker.ts";
import { SearchPathTracker } from "../decide/search-path.ts";
import { Outbox, type Portal, type PreparedStatement, type StatementRun } from "../relay/session-state.ts";
import { sendUpstreamCancel } from "./cancel.ts";
import { SessionExpiry, endedDetails } from "../../../gate/session-expiry.ts";
import type { ListedSession } from "../../../gate/live-sessions.ts";
import { StatementGate } from "../decide/statement-gate.ts";
import type { UpstreamConnection } from "./upstream.ts";
import type { RevocableSession } from "../../../gate/revocation.ts";
import { type LoggedIn, type SessionDeps, recordEnd } from "./session-deps.ts";

/** Client messages held while a statement is decided before the client is paused. */
const MAX_QUEUED_MESSAGES = 1000;

export class Session implements RelayCore, RevocableSession {
  readonly tracker = new ResponseTracker();
  readonly prepared = new Map<string, PreparedStatement>();
  readonly portals = new Map<string, Portal>();
  readonly cursors = new Cursors();
  readonly toUpstream = new Outbox();
  readonly toClient = new Outbox();
  readonly searchPath: SearchPathTracker;
  readonly statementGate: StatementGate;
  readonly analyzer: Analyzer;
  readonly catalog: Catalog;
  readonly deny = denyMessages();
  readonly recordParameters: boolean;
  txStatus: "I" | "T" | "E";
  batch = 0;
  copyIn = false;

  private readonly client: Connection;
  private readonly upstream: Connection;
  private readonly frontend: FrontendRelay;
  private readonly backend: BackendRelay;
  private readonly inbox: DecodedFrontendMessage[] = [];
  private inboxHead = 0;
  private busy = false;
  private upstreamFull = false;
  private clientFull = false;
  private clientPaused = false;
  private upstreamPaused = false;
  private closed = false;
  private statements = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private processId = 0;
  private endError: string | null = null;
  private readonly expiry: SessionExpiry;
  /** What the console lists and may end (see gate/live-sessions.ts). */
  readonly listed: ListedSession;
  /** This session's audit record templates (identity, session, target serialised once). */
  private readonly records: SessionRecords;
  /** Each statement's completion: metrics, and its record (held for the next decision record, or its own). */
  private readonly completions: StatementCompletions;
  private done!: () => void;

  constructor(
    private readonly deps: SessionDeps,
    private readonly id: string,
    private readonly identity: Identity,
    private readonly login: LoggedIn,
    private readonly up: UpstreamConnection,
    initialPath: string[],
    user: string | undefined,
    userSchema: boolean,
    private readonly started: number,
  ) {
    this.client = login.socket;
    this.upstream = up.socket;
    this.txStatus = up.status;
    this.analyzer = deps.analyzer;
    this.catalog = deps.catalog;
    this.recordParameters = deps.cfg.record_parameters === true;
    this.searchPath = new SearchPathTracker(initialPath, user, userSchema);
    this.records = new SessionRecords({ session: id, identity: auditIdentity(identity), target: deps.cfg.name });
    this.statementGate = new StatementGate({
      records: this.records,
      gate: deps.gate,
      target: deps.cfg.name,
      identity: this.identity,
      session: id,
      clock: deps.clock,
      adjust: deps.adjust,
      catalog: deps.catalog,
      compileDetectors: deps.compileDetectors,
      onHold: (p) => {
        // Tell the client now, ahead of anything still buffered for it.
        this.flushClient();
        this.client.write(encodeNoticeResponse({ severity: "NOTICE", code: "00000", message: describeApproval(p) }));
        deps.log.info(describeApproval(p), { target: deps.cfg.name, session: id });
      },
    });
    this.expiry = new SessionExpiry(identity.expiresAt, deps.clock, () => this.endForCredential());
    this.completions = new StatementCompletions({ gate: deps.gate, records: this.records, metrics: deps.metrics, target: deps.cfg.name, waitMs: deps.completionWaitMs });
    const remote = this.client.remoteAddress !== undefined ? `${this.client.remoteAddress}:${this.client.remotePort ?? "?"}` : undefined;
    this.listed = {
      info: { id, target: deps.cfg.name, kind: "postgres", identity, startedAt: deps.clock.now(), what: `upstream database ${deps.cfg.upstream.database}${user !== undefined ? `, role ${user}` : ""}`, ...(remote !== undefined ? { remote } : {}) },
      end: (by) => this.expiry.endBy(by),
    };
    this.frontend = new FrontendRelay(this);
    this.backend = new BackendRelay(this, {
      pauseUpstream: () => this.updateUpstreamPause(),
      resumeUpstream: () => this.updateUpstreamPause(),
      flushClient: () => this.flushClient(),
      fail: (e) => this.fail(e),
    });
  }

  async run(): Promise<void> {
    const { deps } = this;
    const decoder = createBackendDecoder();
    const leftover = this.up.reader.detach();
    const key = deps.cancels.register({ processId: this.up.processId, secretKey: this.up.secretKey }, () => this.statementGate.cancelHold());
    this.processId = key.processId;
    deps.metrics.openSessions.inc({ target: deps.cfg.name });

    const hello: BackendMessage[] = [{ type: "AuthenticationOk" }];
    for (const [name, value] of this.up.parameters) hello.push({ type: "ParameterStatus", name, value });
    hello.push({ type: "BackendKeyData", processId: key.processId, secretKey: key.secretKey });
    hello.push({ type: "ReadyForQuery", status: this.up.status });
    this.client.write(encodeBackendMessages(hello));

    const finished = new Promise<void>((resolve) => (this.done = resolve));

    this.upstream.attach({
      data: (chunk) => this.onUpstreamData(chunk, decoder),
      drain: () => {
        this.upstreamFull = false;
        this.updateClientPause();
      },
      close: (e) => this.close(e === null ? "upstream closed the connection" : `upstream connection failed: ${e.message}`, true),
    });
    this.client.attach({
      data: (chunk) => this.onClientData(chunk),
      drain: () => {
        this.clientFull = false;
        this.updateUpstreamPause();
      },
      close: (e) => this.close(e === null ? null : `client connection failed: ${e.message}`, false),
    });

    if (leftover.length > 0) this.onUpstreamData(leftover, decoder);
    for (const m of this.login.pending) this.inbox.push(m);
    if (this.client.closed || this.upstream.closed) this.close("a connection closed before the session started", this.upstream.closed);
    if (deps.endAtExpiry?.() !== false && !this.closed) this.expiry.start();
    if (!this.closed) deps.live?.add(this);
    if (!this.closed && deps.revokedSince?.(this.identity)) this.expiry.end("credential_revoked");
    this.pump();
    // Both connections were paused when their login readers let go of them; what they held comes now, after the messages above.
    if (!this.upstreamPaused) this.upstream.resume();
    if (!this.clientPaused) this.client.resume();
    await finished;
  }

  // ---- client → upstream ----

  private onClientData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.bytesIn += chunk.length;
    this.deps.relayed(chunk.length);
    let messages: DecodedFrontendMessage[];
    try {
      messages = this.login.decoder.push(chunk);
    } catch (e) {
      const tooLarge = protocolErrorReason(e) === "too-large";
      this.fatalToClient(tooLarge ? "54000" : "08P01", tooLarge ? `${errorMessage(e)} (max_message_size of target ${this.deps.cfg.name})` : `invalid message from the client: ${errorMessage(e)}`);
      return;
    }
    for (const m of messages) this.inbox.push(m);
    if (this.busy) this.updateClientPause();
    this.pump();
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const inbox = this.inbox;
    while (this.inboxHead < inbox.length) {
      const m = inbox[this.inboxHead]!;
      inbox[this.inboxHead++] = undefined as unknown as DecodedFrontendMessage;
      let wait: void | Promise<void>;
      try {
        wait = this.frontend.handle(m);
      } catch (e) {
        this.fail(e);
        return;
      }
      if (wait !== undefined) {
        this.busy = true;
        this.updateClientPause();
        this.flushUpstream();
        wait.then(
          () => {
            this.busy = false;
            // Ended while this was decided: what it queued is never sent; record it as not run.
            if (this.closed) this.dropPending("the session ended first");
            this.pump();
            this.updateClientPause();
          },
          (e) => this.fail(e),
        );
        return;
      }
      if (this.closed) return;
    }
    inbox.length = 0;
    this.inboxHead = 0;
    this.flushUpstream();
  }

  /**
   * What toUpstream holds waits for the turn's audit write of its records (awaitRecords): set
   * until that write is done. The write comes at the end of the turn, after every data callback
   * of the turn, and its promise settles (a microtask) before any later callback, so all this
   * session's records queued meanwhile are in it.
   */
  private recordsPending: Promise<void> | null = null;

  awaitRecords(written: Promise<void>): void {
    if (this.recordsPending === written) return;
    this.recordsPending = written;
    written.then(
      () => {
        if (this.recordsPending !== written) return;
        this.recordsPending = null;
        this.flushUpstream();
      },
      (e: unknown) => {
        // Recorded statements whose records are not in the log are never forwarded (fail closed).
        this.recordsPending = null;
        if (this.closed) return;
        this.toUpstream.clear();
        this.fatalToClient("58030", `audit log unavailable, statement not run: ${errorMessage(e)}`);
      },
    );
  }

  private flushUpstream(): void {
    if (this.toUpstream.empty || this.closed || this.recordsPending !== null) return;
    if (!this.toUpstream.flush(this.upstream)) {
      this.upstreamFull = true;
      this.updateClientPause();
    }
  }

  private updateClientPause(): void {
    // While a statement is being decided, more messages may queue up, but not without bound.
    const pause = this.upstreamFull || (this.busy && this.inbox.length - this.inboxHead > MAX_QUEUED_MESSAGES);
    if (pause && !this.clientPaused) {
      this.clientPaused = true;
      this.client.pause();
    } else if (!pause && this.clientPaused) {
      this.clientPaused = false;
      this.client.resume();
    }
  }

  // ---- upstream → client ----

  private onUpstreamData(chunk: Uint8Array, decoder: ReturnType<typeof createBackendDecoder>): void {
    if (this.closed) return;
    this.bytesOut += chunk.length;
    this.deps.relayed(chunk.length);
    try {
      decoder.push(chunk, this.backend.onFrame, this.backend.onRange);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.flushClient();
  }

  flushClient(): void {
    if (this.toClient.empty || this.closed) return;
    const all = this.toClient.flush(this.client);
    // Every byte is in the kernel, and was before (a connection that keeps bytes says false
    // until its drain): rewritten rows' buffer is free again. Otherwise the rows go on after
    // the kept ones.
    if (all) this.backend.reuseBuffers();
    if (!all) {
      this.clientFull = true;
      this.updateUpstreamPause();
    }
  }

  private updateUpstreamPause(): void {
    const pause = this.clientFull || this.backend.isSuspended;
    if (pause && !this.upstreamPaused) {
      this.upstreamPaused = true;
      this.upstream.pause();
    } else if (!pause && this.upstreamPaused) {
      this.upstreamPaused = false;
      this.upstream.resume();
    }
  }

  // ---- RelayCore ----

  terminate(): void {
    if (this.recordsPending !== null) {
      // What the client sent before its Terminate still goes out, once its records are written now.
      try {
        if (this.deps.gate.flushRecords() === undefined) this.recordsPending = null;
      } catch {
        this.toUpstream.clear(); // the log failed: nothing it does not hold goes out
      }
    }
    this.flushUpstream();
    this.close(null, false);
  }

  finish(run: StatementRun, outcome: StatementOutcome): void {
    if (outcome.kind === "complete" || outcome.kind === "error") this.statements++;
    this.completions.finish(run, outcome, this.closed);
  }

  takeCompleted(): CanonicalValue | undefined {
    return this.completions.take();
  }

  // ---- token expiry, revocation ----

  revokeIf(revoked: (identity: Identity) => boolean): void {
    if (!this.closed && revoked(this.identity)) this.expiry.end("credential_revoked");
  }

  /**
   * The credential stopped counting (expiry or revocation): the session ends now, as a server
   * shutdown would end it. Whole messages already received from the upstream reach the client
   * first (the relay holds no half messages); a statement still running upstream is cancelled,
   * since closing the connection alone would let it run on; one held for approval or still
   * being decided never runs. Waiting for an idle moment instead would let a client that keeps
   * answers owed (no Sync, a COPY, a slow query) go on without limit.
   */
  private endForCredential(): void {
    if (this.closed) return;
    this.expiry.ended = true;
    if (this.tracker.size > 0) {
      const { deps } = this;
      void sendUpstreamCancel(deps.cfg.upstream, { processId: this.up.processId, secretKey: this.up.secretKey }).catch((e) =>
        deps.log.warn("cancel at session end failed", { target: deps.cfg.name, session: this.id, error: errorMessage(e) }),
      );
    }
    // As pg_terminate_backend's admin_shutdown when an operator ended it; else invalid authorization.
    this.fatalToClient(this.expiry.reason === "ended_by_operator" ? "57P01" : "28000", this.expiry.message());
  }

  // ---- ending ----

  private fatalToClient(code: string, message: string): void {
    if (this.closed) return;
    this.flushClient();
    this.client.write(encodeErrorResponse({ severity: "FATAL", code, message }));
    this.close(message, false);
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    this.deps.log.warn("postgres session failed", { target: this.deps.cfg.name, session: this.id, error: errorMessage(e) });
    const sqlstate = e instanceof GatewayError ? e.details["sqlstate"] : undefined;
    const code =
      e instanceof RelayViolation ? "08P01" : typeof sqlstate === "string" ? sqlstate : e instanceof GatewayError && e.code === "E_MASK" ? "42501" : "XX000";
    this.fatalToClient(code, errorMessage(e));
  }

  private close(error: string | null, fromUpstream: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.endError = error;
    this.expiry.cancel();
    this.deps.live?.delete(this);
    const { deps } = this;
    this.statementGate.cancelHold();
    deps.cancels.unregister(this.processId);
    deps.metrics.openSessions.inc({ target: deps.cfg.name }, -1);
    if (fromUpstream) {
      // Whatever the upstream sent last (a FATAL of its own) goes out before we close.
      this.closedFlushClient(error ?? "upstream closed the connection");
    } else {
      this.client.end();
    }
    this.upstream.end(encodeTerminate());
    this.dropPending("the session ended first");
    // Completions still held go out as records of their own, before session.end.
    this.completions.flush();
    void recordEnd(deps, this.id, this.identity, this.started, {
      statements: this.statements,
      bytes_in: this.bytesIn,
      bytes_out: this.bytesOut,
      ...(this.endError !== null ? { error: this.endError } : {}),
      ...(this.expiry.ended ? endedDetails(this.expiry) : {}),
    }).then(() => this.done?.());
  }

  /** Statements still owed an answer get their record as not run. */
  private dropPending(reason: string): void {
    for (const e of this.tracker.drain()) {
      const runs = e.kind === "query" ? e.runs : e.kind === "execute" || e.kind === "function-call" ? [e.run] : [];
      for (const r of runs) {
        if (r.done) continue;
        r.done = true;
        this.finish(r, { kind: "not_run", reason });
      }
    }
  }

  private closedFlushClient(message: string): void {
    const parts = this.toClient;
    if (!parts.empty) parts.flush(this.client);
    this.client.end(encodeErrorResponse({ severity: "FATAL", code: "08006", message }));
  }
}

