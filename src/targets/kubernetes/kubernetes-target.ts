// The Kubernetes target: the Kubernetes API served over TLS in front of one cluster. Each
// request is authenticated (Bearer OIDC JWT or machine key), read as the API server reads it
// (read-request.ts), decided by the gate for itself and each impersonation it asks for, and
// then forwarded with the gateway's own credential, answered with a metav1.Status (deny, bad
// request, review), or held for approval. Responses stream back, masked event by event where a
// mask applies (response-forward.ts); every request ends in a request record with its status.
// A GET allowed a moment ago under the same policy takes a fast path (known-requests.ts): no
// classification, decide() or write of its own; one whose answer needs no mask and does not
// stream is taken by the listener before any Request is made (fastLane, forwardPlain), and goes
// upstream on the lane's own keep-alive connections (upstream-pool.ts) rather than fetch.
import { createHash } from "node:crypto";
import type { KubernetesTarget } from "../../config/schema.ts";
import { parseDuration, parseSize } from "../../core/duration.ts";
import { errorMessage } from "../../core/errors.ts";
import type { Action, Decision, Identity, KubernetesRequestFacts, Masks } from "../../core/types.ts";
import type { SessionRecords } from "../../gate/session-records.ts";
import { ObjectTemplate, type CanonicalValue, type RecordTemplate } from "../../audit/record-template.ts";
import { type AuthRejection, recordAuthRejected } from "../../gate/auth-rejection.ts";
import { type AuditEvent, type Verdict, auditIdentity } from "../../gate/gate.ts";
import { splitListen } from "../../gate/listen.ts";
import { SessionRevocations, type RevocableSession } from "../../gate/revocation.ts";
import type { EndedBy } from "../../gate/live-sessions.ts";
import { SessionExpiry, endedDetails } from "../../gate/session-expiry.ts";
import { RecordsByIdentity } from "../../gate/session-records.ts";
import type { RunningTarget, TargetDeps } from "../../gate/target.ts";
import type { JsonMasker } from "../../masking/json-masker.ts";
import { accessReviewAnswer, askedFacts, isAccessReview, readAccessReview } from "./access-review.ts";
import { BAD_REQUEST_RULE, kubernetesBuiltins } from "./builtins.ts";
import { isImpersonationHeader } from "./impersonation.ts";
import { KnownRequests, type KnownRequest } from "./known-requests.ts";
import { readKubernetesRequest } from "./read-request.ts";
import { readRequestBody, recordedBody } from "./request-body-record.ts";
import { WHOLE_MAX, forwardPlain, forwardRequest, type Completion } from "./response-forward.ts";
import { needsMasking } from "./response-masker.ts";
import { ReviewAnswers, requestFingerprint } from "./review-answers.ts";
import { servingCertOf } from "./serving-cert.ts";
import { detailsOf, forbiddenMessage, statusResponse } from "./status.ts";
import { listenHttps, writeAnswer, type Connection } from "./https-server.ts";
import type { ServerResponse } from "node:http";
import { DEFAULT_EXEC_OUTPUT_LIMIT, queryFlag, spdyRefusal, upgradeAnswer } from "./upgrade.ts";
import { upstreamOf } from "./upstream.ts";
import { LaneHeaders, upstreamPool, type LaneHeader } from "./upstream-pool.ts";
import { watchFolder } from "../../gate/watch-folder.ts";
import { reloadingTls } from "../../gate/reloading-tls.ts";
import { createSecureContext } from "node:tls";
import { dirname } from "node:path";

export interface KubernetesTargetDeps extends TargetDeps {
  /** The target's settings with secret references at their current values (gate/secret-store.ts). */
  readonly current?: () => KubernetesTarget;
  /** The gateway's state folder: the generated serving certificate lives there. */
  readonly stateDir: string;
  /** The rules' masks compiled for JSON (cached by the caller). */
  readonly masker: (masks: Masks) => JsonMasker | null;
  /** Some allow or review rule lets this identity use this target (builtin:discovery). */
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
  /** The policy's decision, not audited (what `kubectl auth can-i` asks about is not done). */
  readonly decide?: (action: Action) => Decision;
  /** A credential verified a moment ago, without an await (CachedAuthenticate.peek); undefined: authenticate. */
  readonly authenticated?: (credential: string) => Identity | undefined;
  /** False: every request takes the full path (the differential test's reference). Default true. */
  readonly knownRequests?: boolean;
}

/** An allowed request on its way to the API server (from the fast path or the full one). */
interface Allowed {
  readonly req: Request;
  readonly conn: Connection;
  readonly id: string;
  readonly started: number;
  readonly abort: AbortController;
  readonly identity: Identity;
  readonly records: SessionRecords;
  readonly method: string;
  readonly target: string;
  readonly facts: KubernetesRequestFacts;
  readonly verdict: Verdict;
  readonly body: Uint8Array | null;
  readonly bodySha256: string | undefined;
  readonly impersonate: readonly (readonly [string, string])[];
  /** The Upgrade header, lower case ("" for none). */
  readonly upgrade: string;
}

const DEFAULT_MAX_BODY = 3 * 1024 * 1024;
const DEFAULT_MASK_MAX = 10 * 1024 * 1024;
const DEFAULT_RECORD_BODY = 64 * 1024;
const STOP_GRACE_MS = 10_000;
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** The request record's details in canonical order, without a sorted copy per request (as canonicalJson orders them). */
const REQUEST_DETAILS = new ObjectTemplate({}, ["status", "bytes_out", "duration_ms", "outcome", "error", "masked", "body_sha256", "ended"]);

let counter = 0;
function requestId(): string {
  counter = (counter + 1) % 0x100000000;
  return `kreq_${Date.now().toString(36)}${counter.toString(36).padStart(4, "0")}`;
}

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

function bearerToken(headers: Headers): string | null {
  const m = BEARER.exec(headers.get("authorization") ?? "");
  return m ? m[1]! : null;
}

export async function startKubernetesTarget(cfg: KubernetesTarget, deps: KubernetesTargetDeps): Promise<RunningTarget> {
  const [host, port] = splitListen(cfg.listen);
  // The token is asked for per request (gate/secret-store.ts) and replaced certificate files are
  // read again: a rotated credential goes out with the next request.
  const upstream = upstreamOf(cfg.upstream, {
    ...(deps.current !== undefined ? { token: () => deps.current!().upstream.token } : {}),
    watchFiles: (paths, onChange) => {
      const watches = [...new Set(paths.map((p) => dirname(p)))].map((dir) => watchFolder(dir, onChange, { onError: (m) => deps.log.error(m, { target: cfg.name }) }));
      return { close: () => watches.forEach((w) => w.close()) };
    },
    onReadError: (m) => {
      deps.log.error(m, { target: cfg.name });
      deps.metrics.secretReadFailures.inc({ reference: `upstream-tls:${cfg.name}` });
    },
  });
  // The fast lane's own keep-alive connections to the API server (null: its URL is one only fetch takes).
  const pool = upstreamPool(upstream, { maxWhole: WHOLE_MAX });
  const laneHeaders = new LaneHeaders();
  const serving = servingCertOf(cfg, deps.stateDir);
  // A configured certificate replaced on disk is served to new connections without a restart
  // (gate/reloading-tls.ts, as the PostgreSQL target's); the generated one is ours and stays.
  const tlsFiles = cfg.tls;
  const reloading = tlsFiles
    ? reloadingTls(tlsFiles, { cert: Buffer.from(serving.certPem), key: Buffer.from(serving.keyPem) }, {
        onRotated: (fingerprint) => {
          deps.log.info("kubernetes target serves a new TLS certificate", { target: cfg.name, cert: tlsFiles.cert, fingerprint });
          void deps.gate.recordHappened({ type: "tls.rotated", target: cfg.name, details: { cert: tlsFiles.cert, fingerprint } });
        },
        onFailure: (reason) => {
          deps.log.error(reason, { target: cfg.name });
          deps.metrics.secretReadFailures.inc({ reference: `tls:${tlsFiles.cert}` });
          deps.degraded?.(`tls ${tlsFiles.cert}`, reason);
        },
        onUsable: () => deps.degraded?.(`tls ${tlsFiles.cert}`, null),
      })
    : null;
  const fixedContext = reloading ? null : createSecureContext({ cert: serving.certPem, key: serving.keyPem });
  const maxBody = cfg.max_body_size ? parseSize(cfg.max_body_size) : DEFAULT_MAX_BODY;
  const maskMax = cfg.mask_max_size ? parseSize(cfg.mask_max_size) : DEFAULT_MASK_MAX;
  const recordBodyLimit = cfg.record_body_limit !== undefined ? parseSize(cfg.record_body_limit) : DEFAULT_RECORD_BODY;
  const timeoutMs = cfg.timeout ? parseDuration(cfg.timeout) : 0;
  const execOutputLimit = cfg.exec_output_limit !== undefined ? parseSize(cfg.exec_output_limit) : DEFAULT_EXEC_OUTPUT_LIMIT;
  const maskSecretData = cfg.mask_secret_data ?? true;
  const { gate, metrics, log } = deps;
  const builtins = kubernetesBuiltins({ mayUseTarget: deps.mayUseTarget });
  const adjust = (d: Decision, a: Action) => builtins(d, a);
  const reviewMode = (rule: string) => cfg.review_rules?.[rule] ?? cfg.review ?? "answer";
  const answers = new ReviewAnswers(() => deps.clock.now());
  const revocations = new SessionRevocations(deps.liveSessions);
  const recordsByIdentity = new RecordsByIdentity(cfg.name);
  // GETs allowed a moment ago, per identity: allowed again without an await (known-requests.ts).
  const knownRequests = new KnownRequests();
  const latency = metrics.latency.bind({ target: cfg.name });
  // The request counts per outcome, and each identity's request-record template, found once.
  const outcomeCounts = new Map<string, { inc(): void }>();
  const countOutcome = (outcome: string) => {
    let c = outcomeCounts.get(outcome);
    if (c === undefined) outcomeCounts.set(outcome, (c = metrics.requests.bind({ target: cfg.name, outcome })));
    c.inc();
  };
  const requestTemplates = new WeakMap<SessionRecords, RecordTemplate>();
  const requestTemplate = (records: SessionRecords): RecordTemplate => {
    let t = requestTemplates.get(records);
    if (t === undefined) requestTemplates.set(records, (t = records.template("request")));
    return t;
  };
  let forwarding = 0;
  const writing = new Set<Promise<void>>();

  /** Answers once the record of the refusal is written; a 503 Status when the log cannot take it. */
  async function refuse(event: AuditEvent, answer: Response): Promise<Response> {
    try {
      await gate.record(event);
    } catch (e) {
      return statusResponse(503, `audit log unavailable, request refused: ${errorMessage(e)}`);
    }
    return answer;
  }

  async function rejectCredential(rejection: AuthRejection, message: string): Promise<Response> {
    try {
      await recordAuthRejected(deps, rejection);
    } catch (e) {
      return statusResponse(503, `audit log unavailable, request refused: ${errorMessage(e)}`);
    }
    return statusResponse(401, message, undefined, { "www-authenticate": 'Bearer realm="gatehouse"' });
  }

  async function handle(req: Request, conn: Connection): Promise<Response> {
    const started = performance.now();
    const revocationsSince = revocations.generation;
    const id = requestId();
    const abort = new AbortController();
    if (req.signal.aborted) abort.abort();
    else req.signal.addEventListener("abort", () => abort.abort(), { once: true });
    // What is decided is exactly what is forwarded: the request-target as received, which must
    // be in the normal form the upstream request's URL will have (no dot segments, backslashes,
    // absolute form or characters a URL parser would escape), or it is refused below.
    const target = conn.target;
    const plain = plainGet(req, conn);
    const fast = plain ? knownRequest(req, target) : undefined;
    if (fast !== undefined) {
      const { known, identity, records } = fast;
      // As gate.check would record and count it: the same decision record, byte for byte,
      // written with the other records of this event-loop turn.
      const verdict = await gate.recordKnownSoon(cfg.name, known.verdict, known.decision, { action: known.action, details: known.details, session: id });
      if (verdict.auditFailed) return denied(verdict, known.facts, "request");
      // A reload during that wait that revoked this caller: as on the full path.
      if (revocations.revokedSince(revocationsSince, identity)) return revokedWhileWaiting(id, identity, known.facts);
      return forwardAllowed({ req, conn, id, started, abort, identity, records, method: req.method, target, facts: known.facts, verdict: known.verdict, body: null, bodySha256: undefined, impersonate: [], upgrade: "" });
    }
    const method = req.method.toUpperCase();
    const seen = { kind: "kubernetes" as const, method, path: target.split("?")[0]!.slice(0, 1024) };

    const token = bearerToken(req.headers);
    if (token === null) {
      return rejectCredential({ session: id, target: cfg.name, action: seen, reason: "missing", message: "no bearer token" }, "Unauthorized: this gateway needs a bearer token (gatehouse kubeconfig sets one up)");
    }
    let identity: Identity;
    try {
      identity = await deps.authenticate(token);
    } catch (e) {
      const reason = deps.authFailureReason(e);
      return rejectCredential({ session: id, target: cfg.name, action: seen, reason, message: errorMessage(e) }, `Unauthorized: ${errorMessage(e)}`);
    }
    const who = auditIdentity(identity);
    const badRequest = (status: 400 | 413 | 415, reason: string) =>
      refuse(
        { type: "request.refused", session: id, identity: who, target: cfg.name, action: seen, decision: { effect: "deny", rule: BAD_REQUEST_RULE, message: `request refused: ${reason}` }, details: { reason, status } },
        statusResponse(status, `request refused by the gateway: ${reason}`),
      );

    if (!inNormalForm(target)) return badRequest(400, "the request target is not in normal form (dot segments, backslashes, an absolute URL or characters that must be %-escaped)");
    let body: Uint8Array | null = null;
    if (WRITE_METHODS.has(method)) {
      const read = await readRequestBody(req, maxBody);
      if (read === "too-large") return badRequest(413, `the request body is larger than ${maxBody} bytes (max_body_size)`);
      if (read === "failed") return badRequest(400, "the request body could not be read");
      body = read;
    }
    const impersonate = conn.rawHeaders.filter(([name]) => isImpersonationHeader(name));
    const read = readKubernetesRequest({ method, target, headers: conn.rawHeaders, ...(body !== null && body.byteLength > 0 ? { body } : {}) });
    if (!read.ok) return badRequest(read.status === 415 ? 415 : 400, read.reason);
    const facts = read.facts;
    // What a refusal names: the object, also when only the body names it (a create).
    const named = facts.name === undefined && read.bodyName !== undefined ? { ...facts, name: read.bodyName } : facts;
    const bodySha256 = body !== null ? createHash("sha256").update(body).digest("hex") : undefined;

    const upgrade = (req.headers.get("upgrade") ?? "").toLowerCase();

    const records = recordsByIdentity.for(identity);
    const time = deps.clock.now();
    const details = { ...(bodySha256 !== undefined ? { body_sha256: bodySha256 } : {}), ...(read.dryRun ? { dry_run: true } : {}), ...(upgrade ? { upgrade } : {}) };
    // Each impersonation asked for must be allowed first; the gateway then does it.
    for (const imp of read.impersonations) {
      // A review of an impersonation is answered at once in answer mode too (kubectl shows
      // nothing while a request waits); only a grant (approve --for) carries to a retry.
      const v = await gate.check(
        { identity, target: cfg.name, request: imp, time },
        { session: id, records, adjust, signal: abort.signal, details: { impersonation: true }, answerNow: (rule) => (reviewMode(rule) === "answer" ? () => undefined : undefined) },
      );
      if (!v.allowed) return denied(v, imp, "impersonation");
    }

    // kubectl auth can-i: answered from the policy for the caller, not by the cluster for the
    // gateway; to those who may use the target at all (the others meet the default deny).
    if (isAccessReview(facts) && deps.decide !== undefined && body !== null && deps.mayUseTarget(identity, cfg.name)) {
      const ask = readAccessReview(body, req.headers.get("content-type"));
      const asked = ask === null ? null : askedFacts(ask);
      if (ask === null || asked === null) return badRequest(400, "the SelfSubjectAccessReview names no resource or non-resource attributes the gateway can read");
      const d = adjust(deps.decide({ identity, target: cfg.name, request: asked, time }), { identity, target: cfg.name, request: asked, time });
      return refuse(
        { type: "decision", session: id, identity: who, target: cfg.name, action: facts as unknown as Record<string, unknown>, decision: { effect: "allow", rule: "builtin:access-review", message: "answered by the gateway from its policy" }, details: { asked: asked as unknown as Record<string, unknown>, answer: d.effect, rule: d.rule } },
        Response.json(accessReviewAnswer(ask, d), { status: 201 }),
      );
    }

    const fingerprint = requestFingerprint({ identity, identityKey: gate.approvalKey(identity), method, target, bodySha256: bodySha256 ?? "", impersonate });
    const known = answers.get(fingerprint);
    if (known?.state === "pending") {
      // Asked again before anyone decided: the same approval, not a second one.
      const message = `${forbiddenMessage(named, `approval ${known.approval.id} is still pending; an approver (${known.approval.approvers.join(", ")}) runs "gatehouse approve ${known.approval.id}", then retry`)}`;
      return refuse(
        { type: "decision", session: id, identity: who, target: cfg.name, action: facts as unknown as Record<string, unknown>, decision: { effect: "review", rule: known.approval.rule, message }, details: { ...details, approval: known.approval.id, pending: true } },
        statusResponse(403, message, detailsOf(named)),
      );
    }
    if (known?.state === "refused") {
      answers.forget(fingerprint);
      const message = forbiddenMessage(named, `${known.message}; retry to ask again`);
      return refuse(
        { type: "decision", session: id, identity: who, target: cfg.name, action: facts as unknown as Record<string, unknown>, decision: { effect: "deny", rule: known.approval.rule, message }, details: { ...details, approval: known.approval.id } },
        statusResponse(403, message, detailsOf(named)),
      );
    }
    // An approval is used once: taken before the await, so identical retries sent at once cannot
    // all ride on it (the others ask again).
    if (known?.state === "approved") answers.forget(fingerprint);
    // Read before the decision: a reload while it is made must not let its allow be kept.
    const policyBefore = gate.policyNow();
    const verdict = await gate.check(
      { identity, target: cfg.name, request: facts, time },
      {
        session: id,
        records,
        adjust,
        signal: abort.signal,
        details,
        remote: conn.remoteAddress,
        ...(known?.state === "approved" ? { approved: { id: known.approval.id, rule: known.approval.rule, binding: known.approval.binding } } : {}),
        answerNow: (rule) => (reviewMode(rule) === "answer" ? (p, settled) => answers.track(fingerprint, p, settled) : undefined),
        onHold: (p) => log.info(`kubernetes request held for approval: id ${p.id}; an approver (${p.approvers.join(", ")}) runs "gatehouse approve ${p.id}"`, { target: cfg.name }),
      },
    );
    if (verdict.allowed && revocations.revokedSince(revocationsSince, identity)) return revokedWhileWaiting(id, identity, facts);
    if (!verdict.allowed) return denied(verdict, named, "request");
    // Allowed as it would be again: the next such GET takes the fast path. Only when the policy
    // in force now is the one read before the decision (and the one that made it).
    if (plain && body === null && policyBefore.hash === verdict.policyHash) {
      const lane = !needsMasking(secretsMasked(facts), verdict.masks) && !isStreaming(facts, target) && facts.subresource !== "proxy";
      knownRequests.remember(records, req.method, target, verdict, gate.policyNow(), facts, details, lane);
    }
    return forwardAllowed({ req, conn, id, started, abort, identity, records, method, target, facts, verdict, body, bodySha256, impersonate, upgrade });
  }

  /**
   * Whether a request may take the fast path, by what it carries: a GET with no line that
   * changes what is decided or forwarded (Impersonate-*, Content-Type, Upgrade).
   */
  function plainGet(req: Request, conn: Connection): boolean {
    if (deps.authenticated === undefined || deps.knownRequests === false || req.method !== "GET") return false;
    for (const [name] of conn.rawHeaders) {
      const n = name.toLowerCase();
      if (n === "content-type" || n === "upgrade" || isImpersonationHeader(n)) return false;
    }
    return true;
  }

  /**
   * The fast path (known-requests.ts): the allow known for this caller, method and request-target
   * under the policy in force, for a caller whose credential was verified a moment ago; while
   * no approval is remembered for a retry (the answer mode's fingerprints), never.
   */
  function knownRequest(req: Request, target: string): { known: KnownRequest; identity: Identity; records: SessionRecords } | undefined {
    if (answers.size > 0) return undefined;
    const token = bearerToken(req.headers);
    if (token === null) return undefined;
    const identity = deps.authenticated!(token);
    if (identity === undefined) return undefined;
    const records = recordsByIdentity.for(identity);
    const known = knownRequests.get(records, req.method, target, gate.policyNow().hash);
    return known === undefined ? undefined : { known, identity, records };
  }

  /**
   * The listener's fast lane (https-server.ts): a known GET (as knownRequest finds it) whose
   * answer is not masked and does not stream, answered without a Request, a Response or a
   * Headers copy on the way (forwardPlain). The same records, upstream request and answer as
   * the fast path in handle(). False: the handler takes it.
   */
  function fastLane(method: string, conn: Connection, res: ServerResponse): boolean {
    if (method !== "GET" || deps.authenticated === undefined || deps.knownRequests === false || answers.size > 0) return false;
    let authorization: string | undefined;
    for (const [name, value] of conn.rawHeaders) {
      const n = name.toLowerCase();
      if (n === "authorization") {
        // Two lines: the full path sees them joined (and refuses the token).
        if (authorization !== undefined) return false;
        authorization = value;
      } else if (n === "content-type" || n === "upgrade" || isImpersonationHeader(n)) return false;
    }
    const m = authorization !== undefined ? BEARER.exec(authorization) : null;
    if (m === null || !/^[\x21-\x7e]+$/.test(m[1]!)) return false;
    const identity = deps.authenticated(m[1]!);
    if (identity === undefined) return false;
    const records = recordsByIdentity.for(identity);
    const known = knownRequests.get(records, method, conn.target, gate.policyNow().hash);
    if (known === undefined || !known.lane) return false;
    const header = laneHeaders.of(conn.rawHeaders, upstream);
    if (header === null) return false;
    void laneForward(known, identity, records, conn.target, header, res).catch((e: unknown) => {
      log.error("kubernetes target failed", { target: cfg.name, error: errorMessage(e) });
      if (!res.headersSent) void writeAnswer(res, statusResponse(500, "the gateway failed to handle this request"));
    });
    return true;
  }

  async function laneForward(known: KnownRequest, identity: Identity, records: SessionRecords, target: string, header: LaneHeader, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const revocationsSince = revocations.generation;
    const id = requestId();
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const verdict = await gate.recordKnownSoon(cfg.name, known.verdict, known.decision, { action: known.action, details: known.details, session: id });
    if (verdict.auditFailed) return writeAnswer(res, denied(verdict, known.facts, "request"));
    if (revocations.revokedSince(revocationsSince, identity)) return writeAnswer(res, await revokedWhileWaiting(id, identity, known.facts));
    const { complete } = completion({ id, started, abort, identity, records, target, facts: known.facts, action: known.requestAction, verdict: known.verdict, body: null, bodySha256: undefined }, () => null);
    forwarding++;
    const answer = await forwardPlain({
      target,
      fields: header.fields,
      block: header.block,
      pool,
      facts: known.facts,
      upstream,
      masker: deps.masker,
      maskMax,
      timeoutMs,
      signal: abort.signal,
      complete: (c) => {
        forwarding--;
        complete(c);
      },
    });
    if (answer instanceof Response) return writeAnswer(res, answer);
    res.writeHead(answer.status, answer.headers as unknown as Record<string, string>);
    res.end(answer.body);
  }

  function secretsMasked(facts: KubernetesRequestFacts): boolean {
    return maskSecretData && facts.resource === "secrets" && (facts.apiGroup ?? "") === "";
  }

  function isStreaming(facts: KubernetesRequestFacts, target: string): boolean {
    return facts.verb === "watch" || (facts.subresource === "log" && queryFlag(target, "follow"));
  }

  function revokedWhileWaiting(id: string, identity: Identity, facts: KubernetesRequestFacts): Promise<Response> {
    return rejectCredential({ session: id, identity, target: cfg.name, action: facts as unknown as Record<string, unknown>, reason: "revoked", message: "credential revoked by a configuration reload while the request waited" }, "Unauthorized: credential revoked by a configuration reload while the request waited; authenticate again");
  }

  /**
   * What every allowed request ends in: one request record (status, bytes, duration, outcome) and
   * its counts. Made when it is allowed: from then on a reload that no longer trusts the caller
   * ends it (a watch, a log follow), as does its token's expiry where that applies.
   */
  function completion(
    a: Pick<Allowed, "id" | "started" | "abort" | "identity" | "records" | "target" | "facts" | "verdict" | "body" | "bodySha256"> & { readonly action?: CanonicalValue; readonly upgrade?: string; readonly remote?: string },
    contentType: () => string | null,
  ) {
    const { id, started, abort, identity, records, target, facts, verdict, body, bodySha256 } = a;
    // An exec, attach or port-forward WebSocket is listed in the console, which may end it.
    let endedBy: EndedBy | null = null;
    const live: RevocableSession = {
      revokeIf: (revoked) => void (revoked(identity) && abort.abort("credential_revoked")),
      ...(a.upgrade === "websocket"
        ? {
            listed: {
              info: { id, target: cfg.name, kind: "kubernetes", identity, ...(a.remote !== undefined ? { remote: a.remote } : {}), startedAt: deps.clock.now(), what: `kubectl ${facts.subresource ?? facts.verb} ${facts.namespace ?? ""}/${facts.name ?? ""}${facts.command?.length ? ` -- ${facts.command.join(" ")}` : ""}` },
              end: (by: EndedBy) => {
                endedBy = by;
                abort.abort("ended_by_operator");
              },
            },
          }
        : {}),
    };
    revocations.add(live);
    // A watch, a log follow or an upgraded session lasts past its token's expiry only when
    // identity.end_sessions_at_expiry is off; a plain request is over before it matters.
    const expiresAt = identity.expiresAt !== undefined && (deps.endAtExpiry?.() ?? true) ? identity.expiresAt : undefined;
    const streaming = isStreaming(facts, target);
    const expiry = streaming && expiresAt !== undefined ? new SessionExpiry(expiresAt, deps.clock, (reason) => abort.abort(reason)) : null;
    expiry?.start();
    const complete = (c: Completion) => {
      expiry?.cancel();
      revocations.delete(live);
      countOutcome(c.outcome);
      const durationMs = performance.now() - started;
      latency.observe(durationMs / 1000);
      const recorded = body !== null && body.byteLength > 0 ? recordedBody(body, contentType(), facts, recordBodyLimit, maskSecretData, deps.masker(verdict.masks)) : undefined;
      const duration = Math.round(durationMs * 1000) / 1000;
      const details =
        recorded === undefined && c.details === undefined && endedBy === null
          ? REQUEST_DETAILS.fill({ status: c.status, bytes_out: c.bytesOut, duration_ms: duration, outcome: c.outcome, error: c.error || undefined, masked: c.masked, body_sha256: bodySha256, ended: expiry?.reason || undefined })
          : { status: c.status, bytes_out: c.bytesOut, duration_ms: duration, outcome: c.outcome, ...(c.error ? { error: c.error } : {}), ...(c.masked !== undefined ? { masked: c.masked } : {}), ...(bodySha256 !== undefined ? { body_sha256: bodySha256 } : {}), ...(recorded ?? {}), ...(expiry?.reason ? { ended: expiry.reason } : {}), ...(c.details ?? {}), ...(endedBy !== null ? endedDetails({ reason: "ended_by_operator", endedBy }) : {}) };
      const written = gate.recordLaterFrom(requestTemplate(records), { session: id, action: a.action ?? (facts as unknown as Record<string, unknown>), details }, "request");
      writing.add(written);
      void written.then(() => writing.delete(written));
    };
    return { complete, streaming, expiresAt, endedBy: () => endedBy };
  }

  /** Forwards an allowed request (or relays its upgrade), answers, and ends in one request record. */
  async function forwardAllowed(a: Allowed): Promise<Response> {
    const { req, conn, id, abort, facts, verdict, method, target, body, impersonate, upgrade } = a;
    const { complete, streaming, expiresAt, endedBy } = completion({ ...a, remote: conn.remoteAddress }, () => req.headers.get("content-type"));
    // An upgrade the gateway cannot relay (SPDY) is decided like any request first, so that
    // kubectl, which falls back to SPDY when the WebSocket upgrade is refused, shows a denial or
    // a pending approval rather than this.
    if (upgrade !== "" && upgrade !== "websocket") {
      const message = `request refused by the gateway: ${spdyRefusal(upgrade)}`;
      complete({ status: 400, bytesOut: 0, outcome: "not_supported", error: message });
      return statusResponse(400, message, detailsOf(facts));
    }
    if (upgrade === "websocket") {
      const answer = await upgradeAnswer({
        req,
        conn,
        facts,
        id,
        upstream,
        impersonate,
        detectors: verdict.masks.detectors,
        stateDir: deps.stateDir,
        recordInput: cfg.record_input === true,
        execOutputLimit,
        expiresAt,
        clock: deps.clock,
        signal: abort.signal,
        endedBy,
        complete,
      });
      // null: the relay answered on the socket itself (101, or the API server's refusal).
      return answer ?? new Response(null, { status: 204 });
    }
    forwarding++;
    try {
      return await forwardRequest({
        method,
        target,
        headers: req.headers,
        body,
        facts,
        impersonate,
        upstream,
        masks: verdict.masks,
        secrets: secretsMasked(facts),
        masker: deps.masker,
        maskMax,
        timeoutMs,
        // A proxied service's answer may be a stream of its own (server-sent events): never held.
        streaming: streaming || facts.subresource === "proxy",
        signal: abort.signal,
        complete: (c) => {
          forwarding--;
          complete(c);
        },
      });
    } catch (e) {
      log.error("kubernetes target failed", { target: cfg.name, error: errorMessage(e) });
      return statusResponse(500, "the gateway failed to handle this request");
    }
  }

  /** A denial in kubectl's terms: 403 Status with the rule's message (or 503 when the log failed). */
  function denied(verdict: Verdict, facts: KubernetesRequestFacts, what: "request" | "impersonation"): Response {
    metrics.requests.inc({ target: cfg.name, outcome: verdict.pending ? "review_pending" : "denied" });
    if (verdict.auditFailed) return statusResponse(503, verdict.message);
    const why = verdict.decision.detail && verdict.decision.rule === null ? `${verdict.message}: ${verdict.decision.detail}` : verdict.message;
    const prefix = what === "impersonation" ? "impersonation refused: " : "";
    return statusResponse(403, forbiddenMessage(facts, prefix + why), detailsOf(facts));
  }

  const server = await listenHttps({
    host,
    port,
    context: () => reloading?.current() ?? fixedContext!,
    // The generated certificate is ours and never replaced: the runtime's native HTTPS server.
    ...(reloading === null ? { fixed: { cert: serving.certPem, key: serving.keyPem } } : {}),
    handler: handle,
    fastLane,
    onError: (e) => {
      log.error("kubernetes target failed", { target: cfg.name, error: errorMessage(e) });
      return statusResponse(500, "the gateway failed to handle this request");
    },
  });
  return {
    name: cfg.name,
    listen: cfg.listen,
    port: server.port,
    revokeSessions: (revoked) => revocations.revoke(revoked),
    async stop() {
      upstream.close();
      reloading?.close();
      const closed = server.close(false);
      const deadline = Date.now() + STOP_GRACE_MS;
      while (forwarding > 0 && Date.now() < deadline) await Bun.sleep(20);
      pool?.close();
      await Promise.race([closed, server.close(true)]);
      await Promise.all(writing);
    },
  };
}

/** Whether a URL parser leaves this request-target as it is (what is decided is what is sent). */
export function inNormalForm(target: string): boolean {
  if (!target.startsWith("/") || target.startsWith("//")) return false;
  try {
    const u = new URL(target, "https://gateway.invalid");
    return u.pathname + u.search === target && u.host === "gateway.invalid";
  } catch {
    return false;
  }
}
