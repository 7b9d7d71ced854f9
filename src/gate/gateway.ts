// Assembles a running gateway from a configuration path: audit log, identity, policy store
// with hot reload, approvals rebuilt from the log, the gate, the admin API and each target.
// Target code is imported lazily, only for the kinds the configuration uses.
import { basename, dirname, resolve } from "node:path";
import { Approvals } from "../approvals/approvals.ts";
import { ApprovalWebhooks } from "../approvals/webhooks.ts";
import { createAdminApp } from "../admin/admin-app.ts";
import { Health } from "../admin/health.ts";
import { createMetrics, type Metrics } from "../admin/metrics.ts";
import { openAuditLog, type AuditLog } from "../audit/log.ts";
import { readRecords } from "../audit/reader.ts";
import { loadAuditSigningKey } from "../audit/signing-key.ts";
import { loadPolicy } from "../config/load.ts";
import type { Config, TargetConfig } from "../config/schema.ts";
import { parseDuration, parseSize } from "../core/duration.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock, Masks } from "../core/types.ts";
import { createAuthenticator, authFailureReason } from "../identity/authenticator.ts";
import { DEV_ISSUER_WARNING, devIssuerKeyPath, loadOrCreateDevIssuer } from "../identity/dev-issuer.ts";
import { createCachedAuthenticate } from "../identity/auth-cache.ts";
import { revokedByReload, type RevokedCheck } from "../identity/revoked.ts";
import type { Policy } from "../policy/compile.ts";
import { diffListeners, watchConfig } from "../policy/watch.ts";
import { Gate } from "./gate.ts";
import { createMayUseTarget } from "./target-access.ts";
import { LiveSessionRegistry } from "./live-sessions.ts";
import { splitListen } from "./listen.ts";
import { SecretStore } from "./secret-store.ts";
import { watchFolder, type FolderWatch } from "./watch-folder.ts";

export interface RunningGateway {
  readonly config: () => Config;
  readonly policy: () => Policy;
  readonly audit: AuditLog;
  readonly metrics: Metrics;
  readonly adminPort: number | null;
  readonly targets: ReadonlyMap<string, { port: number; stop(): Promise<void> }>;
  /** Every target's live sessions, for the console (list, end). */
  readonly liveSessions: LiveSessionRegistry;
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  readonly configPath: string;
  readonly clock: Clock;
  readonly log: Logger;
}

interface StartedTarget {
  readonly port: number;
  /** Ends the live sessions (PostgreSQL sessions, WebSockets) whose credential a reload revoked. */
  revokeSessions?(revoked: RevokedCheck): void;
  stop(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { clock, log } = opts;
  // The same load as `check` and a reload: one validation, each refusal with file:line:column.
  const loaded = await loadPolicy(opts.configPath);
  let config = loaded.config;
  let policy = loaded.policy;
  const metrics = createMetrics();
  const health = new Health();

  const checkpoints = config.audit.checkpoints;
  const signingKey = await loadAuditSigningKey(config.gateway.state_dir ?? "./state", checkpoints?.key_file);
  const audit = await openAuditLog({
    path: config.audit.path,
    durability: config.audit.durability ?? "batch",
    ...(config.audit.rotate_size ? { rotateSize: parseSize(config.audit.rotate_size) } : {}),
    ...(config.audit.fsync_interval !== undefined ? { fsyncIntervalMs: parseDuration(config.audit.fsync_interval) } : {}),
    clock,
    checkpoints: {
      key: signingKey,
      ...(checkpoints?.records !== undefined ? { everyRecords: checkpoints.records } : {}),
      ...(checkpoints?.interval !== undefined ? { intervalMs: parseDuration(checkpoints.interval) } : {}),
    },
    // Also an fsync that fails with no append waiting on it (batch durability).
    onError: (e) => {
      health.fail("audit", `audit log write failed: ${e.message}`);
      log.error("audit log failed: it takes no more records, and every action that needs one is refused until a restart", { error: e.message });
    },
  });
  log.info("audit checkpoints signed with key " + signingKey.publicKey.id, { key_file: signingKey.path, public_key: signingKey.publicKey.text });
  if (audit.repaired) log.warn("audit log repaired at start", { repaired: audit.repaired as unknown as Record<string, unknown> });

  // Approvals and grants survive restarts: rebuild them from the log before serving. Only
  // approval records are checked in full and applied (the rest are read as JSON, see reader.ts).
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  for await (const rec of readRecords(config.audit.path, { typePrefix: "approval." })) {
    const r = "record" in (rec as object) ? (rec as { record: unknown }).record : rec;
    approvals.applyRecord(r as Parameters<Approvals["applyRecord"]>[0]);
  }
  approvals.armAll();

  // Approval webhooks: the gate enqueues, deliveries run apart (approvals/webhooks.ts).
  const webhooks = new ApprovalWebhooks({
    hooks: () => (config.gateway.approval_webhooks ?? []).map((h) => ({ name: h.name, url: h.url, format: h.format, ...(h.secret !== undefined ? { secret: h.secret } : {}), ...(h.events !== undefined ? { events: h.events } : {}), ...(h.timeout !== undefined ? { timeoutMs: parseDuration(h.timeout) } : {}) })),
    consoleUrl: () => config.gateway.console_url,
    record: (r) => void gate.recordLater({ type: r.type, ...(r.target !== undefined ? { target: r.target } : {}), details: r.details }),
    clock,
    log,
  });
  const gate = new Gate({ policy: () => policy, audit, approvals, clock, metrics, log, health, onApproval: (n) => webhooks.notify(n) });
  const stateDir = config.gateway.state_dir ?? "./state";
  const newAuthenticator = (identity: Config["identity"]) => createAuthenticator(identity, { stateDir, clock, log: (m: string) => log.info(m) });
  // Replaced on reload: a removed machine key, issuer or dev issuer stops working at once.
  let authenticator = await newAuthenticator(config.identity);
  const authenticate = createCachedAuthenticate((t) => authenticator.authenticate(t), clock);
  if (config.identity.dev_issuer) log.warn(DEV_ISSUER_WARNING);
  // The dev issuer's key as the authenticator uses it (its JWK thumbprint): a replaced key file is
  // taken by a reload, and then tokens signed with the old key are refused and their live sessions
  // end, since whoever held the old key could mint tokens with any lifetime.
  const devKidNow = async (identity: Config["identity"]) => (identity.dev_issuer ? (await loadOrCreateDevIssuer(stateDir)).kid : null);
  let devKid = await devKidNow(config.identity);

  await gate.record({ type: "gateway.start", policy: policy.hash, details: { config: opts.configPath, files: config.files, targets: config.targets.map((t) => t.name) } });
  await gate.record({ type: "policy.loaded", policy: policy.hash, details: { rules: config.rules.length, files: config.files } });
  // Anchors at once what the log held at start (a crash's unsigned tail, after its repair), and
  // gives the admin API a checkpoint to serve. Not awaited: its fsync need not delay serving; a
  // failure is the log's and fails the next append.
  audit.checkpoint().catch((e: unknown) => log.warn("the start-up audit checkpoint failed", { error: errorMessage(e) }));

  const degraded = (key: string, reason: string | null) => (reason === null ? health.recover(key) : health.degrade(key, reason));
  // Targets ask it for their upstream secrets at each connect (see secret-store.ts).
  let watcher: { reload(): Promise<void> } | null = null;
  const secrets = new SecretStore({
    env: process.env,
    log,
    onReadFailure: (reference) => metrics.secretReadFailures.inc({ reference }),
    onState: (reference, reason) => {
      degraded(`secret ${reference}`, reason);
      if (reason !== null) void gate.recordHappened({ type: "secret.unreadable", policy: policy.hash, details: { reference, error: reason } });
    },
    onRotated: async (r) => {
      metrics.secretRotations.inc({ reference: r.reference });
      // Which reference, where, when (the record's time) and why: never the value, nor a hash of it.
      await gate.recordHappened({ type: "secret.rotated", policy: policy.hash, details: { reference: r.reference, keys: [...r.keys], targets: [...r.targets], cause: r.cause } });
    },
    onOtherChange: () => void watcher?.reload(),
  });
  secrets.adopt(config, config.targets, "start");
  // "May this caller use the target at all?" for every target's built-ins, under the config and
  // policy in force (both swap on reload).
  const mayUseTarget = createMayUseTarget(
    () => config.rules,
    (rule, target) => policy.rules.find((r) => r.name === rule)?.matchesTarget(target) ?? false,
  );

  const liveSessions = new LiveSessionRegistry();
  const targets = new Map<string, StartedTarget>();
  for (const t of config.targets) targets.set(t.name, await startTarget(t));

  // What the console's policy page shows of loads and reloads.
  let policyStatus: { loadedAt: number; lastReload?: { at: number; ok: boolean; error?: string } } = { loadedAt: clock.now() };
  let adminServer: ReturnType<typeof Bun.serve> | null = null;
  if (config.gateway.admin) {
    const [host, port] = splitListen(config.gateway.admin.listen);
    const adminTls = config.gateway.admin.tls;
    let consoleApp: Awaited<ReturnType<typeof import("../console/console-app.ts").createConsoleApp>> | undefined;
    if (config.console) {
      const [{ createConsoleApp }, { createOidcLogin }, { loadOrCreateCookieKey }] = await Promise.all([
        import("../console/console-app.ts"),
        import("../console/oidc-login.ts"),
        import("../console/session-cookie.ts"),
      ]);
      consoleApp = createConsoleApp({
        config: () => config,
        policy: () => policy,
        gate,
        approvals,
        clock,
        cookieKey: await loadOrCreateCookieKey(stateDir),
        authenticate,
        oidc: createOidcLogin({ clock, stateDir }),
        devIssuer: () => loadOrCreateDevIssuer(stateDir),
        status: () => policyStatus,
        tls: adminTls !== undefined,
        remoteOf: (session) => liveSessions.get(session)?.remote,
        pages: await consolePages(),
      });
      log.info("web console on the admin listener", { url: `${adminTls ? "https" : "http"}://${config.gateway.admin.listen}/`, issuer: config.console.issuer });
    }
    const app = createAdminApp({
      gate,
      approvals,
      authenticate,
      metrics,
      clock,
      // A gateway whose audit log failed refuses every action: a load balancer should look elsewhere.
      notReady: () => (stopped ? "stopping" : health.unhealthy()),
      unhealthy: () => health.unhealthy(),
      degraded: () => health.degraded(),
      refreshGauges: () => metrics.auditQueueDepth.set({}, audit.queueDepth),
      checkpoint: () => audit.latestCheckpoint,
      ...(consoleApp ? { console: consoleApp } : {}),
    });
    // idleTimeout: the console's event streams send a keep-alive every 15s.
    adminServer = Bun.serve({
      hostname: host,
      port,
      fetch: app.fetch,
      idleTimeout: 60,
      ...(adminTls ? { tls: { cert: Bun.file(adminTls.cert), key: Bun.file(adminTls.key) } } : {}),
    });
  }

  /** The console's sessions and audit pages (src/console/sessions, src/console/audit), in the layout of the rest. */
  async function consolePages() {
    const [{ createSessionPages }, { createAuditPages }, { VerifyRunner }, { renderPage }, { recordingsDir }] = await Promise.all([
      import("../console/sessions/session-pages.ts"),
      import("../console/audit/audit-pages.ts"),
      import("../console/audit/verify-runner.ts"),
      import("../console/layout.ts"),
      import("../recording/recording-ref.ts"),
    ]);
    const auditPath = () => config.audit.path;
    const record = (e: Parameters<Gate["record"]>[0]) => gate.record(e);
    return {
      sessions: createSessionPages({ render: renderPage, auditPath, live: liveSessions, record, recordingsDir: () => recordingsDir(stateDir), clock }),
      audit: createAuditPages({ render: renderPage, auditPath, checkpoint: () => audit.latestCheckpoint, verify: new VerifyRunner(auditPath, () => [signingKey.publicKey], clock), record }),
    };
  }

  let stopped = false;
  const configWatcher = watchConfig(opts.configPath, {
    onReload: async (next: Config, nextPolicy: Policy) => {
      // Built before anything is swapped: if the new identity section cannot be used, the
      // whole reload is rejected and the old configuration keeps serving.
      const nextAuthenticator = await newAuthenticator(next.identity);
      const nextDevKid = await devKidNow(next.identity);
      const pending = diffListeners(config, next);
      for (const msg of pending) log.warn(msg);
      policy = nextPolicy;
      authenticator = nextAuthenticator;
      authenticate.clear();
      // Requests authenticate again from now on; sessions authenticated once, at their start.
      const byConfig = revokedByReload(config.identity, next.identity);
      const devKeyChanged = devKid !== null && nextDevKid !== null && devKid !== nextDevKid;
      const revoked: RevokedCheck = devKeyChanged ? (id) => id.method === "dev" || byConfig(id) : byConfig;
      for (const t of targets.values()) t.revokeSessions?.(revoked);
      if (devKeyChanged) {
        log.warn("dev issuer key replaced: tokens signed with the old key are refused, and sessions opened with them end", { kid: nextDevKid, previous: devKid });
        void gate.recordHappened({ type: "key.rotated", policy: nextPolicy.hash, details: { key: "dev_issuer", kid: nextDevKid, previous_kid: devKid } });
      }
      devKid = nextDevKid;
      if (next.identity.dev_issuer && !config.identity.dev_issuer) log.warn(DEV_ISSUER_WARNING);
      config = withLiveListeners(config, next);
      // The running targets take the new values of their secret references (a rotation is recorded).
      secrets.adopt(next, config.targets, "reload");
      metrics.policyReloads.inc({ result: "ok" });
      policyStatus = { loadedAt: clock.now(), lastReload: { at: clock.now(), ok: true } };
      log.info("policy reloaded", { policy: nextPolicy.hash.slice(0, 12), rules: next.rules.length });
      await gate.recordHappened({ type: "policy.loaded", policy: nextPolicy.hash, details: { rules: next.rules.length, files: next.files, reload: true, ...(pending.length ? { not_applied: pending } : {}) } });
    },
    onReject: async (e: unknown) => {
      metrics.policyReloads.inc({ result: "rejected" });
      policyStatus = { ...policyStatus, lastReload: { at: clock.now(), ok: false, error: errorMessage(e) } };
      log.error(`policy reload rejected; the old policy keeps serving:\n${errorMessage(e)}`);
      await gate.recordHappened({ type: "policy.rejected", policy: policy.hash, details: { error: errorMessage(e) } });
    },
  });

  watcher = configWatcher;
  // A replaced dev issuer key file is taken by a reload (see devKid above).
  let devKeyWatch: FolderWatch | null = null;
  if (config.identity.dev_issuer) {
    const keyPath = devIssuerKeyPath(stateDir);
    devKeyWatch = watchFolder(dirname(keyPath), () => void configWatcher.reload(), { names: [basename(keyPath)], onError: (m) => log.error(m) });
  }

  async function startTarget(t: TargetConfig): Promise<StartedTarget> {
    switch (t.kind) {
      case "http": {
        const [{ startHttpTarget }, masking, { canonicalHttpPath }] = await Promise.all([
          import("../targets/http/http-target.ts"),
          import("../masking/json-masker.ts"),
          import("../policy/http-path.ts"),
        ]);
        return startHttpTarget(t, {
          liveSessions,
          gate,
          authenticate,
          authenticated: authenticate.peek,
          authFailureReason,
          normalizePath: canonicalHttpPath,
          masker: cachedMasker(masking.compileJsonMasker),
          collectBody: masking.collectBody,
          endAtExpiry: () => config.identity.end_sessions_at_expiry,
          current: () => secrets.current(t),
          clock,
          metrics,
          log,
        });
      }
      case "postgres": {
        const [{ startPostgresTarget }, { loadSqlParser }, { createAnalysisCache }, { compileDetectors }, access] = await Promise.all([
          import("../targets/postgres/postgres-target.ts"),
          import("../targets/postgres/sql/sql-parser.ts"),
          import("../targets/postgres/sql/analysis-cache.ts"),
          import("../masking/detectors.ts"),
          import("../targets/postgres/decide/target-access.ts"),
        ]);
        const analyzer = createAnalysisCache(await loadSqlParser(), { maxEntries: 5_000 });
        return startPostgresTarget(t, {
          liveSessions,
          gate,
          authenticate,
          authFailureReason,
          analyzer,
          mayUseTarget,
          ruleFunctions: access.createRuleFunctions(() => config.rules),
          ruleClasses: access.createRuleClasses(() => config.rules),
          compileDetectors,
          endAtExpiry: () => config.identity.end_sessions_at_expiry,
          current: () => secrets.current(t),
          degraded,
          clock,
          metrics,
          log,
        });
      }
      case "ssh": {
        const [{ startSshTarget }, { publicKeyIndex }] = await Promise.all([
          import("../targets/ssh/ssh-target.ts"),
          import("../targets/ssh/public-keys.ts"),
        ]);
        // identity.machine_keys[].ssh_public_keys as the configuration has them now: a reload
        // that removes a key refuses it at the next login (and ends its sessions, see revoked.ts).
        let keysOf: Config["identity"] | null = null;
        let lookup = publicKeyIndex([]);
        const publicKeys = () => {
          if (keysOf !== config.identity) {
            keysOf = config.identity;
            try {
              lookup = publicKeyIndex(config.identity.machine_keys);
            } catch (e) {
              // The load's checks make this unlikely; no key logs in rather than an old one.
              lookup = publicKeyIndex([]);
              log.error("ssh public keys of machine identities unusable; none is accepted", { error: errorMessage(e) });
            }
          }
          return lookup;
        };
        publicKeys();
        const running = await startSshTarget(t, {
          liveSessions,
          gate,
          authenticate,
          authFailureReason,
          stateDir,
          publicKeys,
          shellLines: () => config.rules.some((r) => r.ssh?.lines !== undefined),
          mayUseTarget,
          endAtExpiry: () => config.identity.end_sessions_at_expiry,
          current: () => secrets.current(t),
          clock,
          metrics,
          log,
        });
        return running;
      }
      case "kubernetes": {
        const [{ startKubernetesTarget }, masking] = await Promise.all([
          import("../targets/kubernetes/kubernetes-target.ts"),
          import("../masking/json-masker.ts"),
        ]);
        return startKubernetesTarget(t, {
          liveSessions,
          gate,
          authenticate,
          authenticated: authenticate.peek,
          authFailureReason,
          stateDir,
          decide: (action) => policy.decide(action),
          masker: cachedMasker(masking.compileJsonMasker),
          mayUseTarget,
          endAtExpiry: () => config.identity.end_sessions_at_expiry,
          current: () => secrets.current(t),
          degraded,
          clock,
          metrics,
          log,
        });
      }
      case "mcp": {
        const [{ startMcpTarget }, masking, { createToolPins }, sqlArgument] = await Promise.all([
          import("../targets/mcp/mcp-target.ts"),
          import("../masking/json-masker.ts"),
          import("../targets/mcp/target-pins.ts"),
          import("../targets/mcp/sql-argument.ts"),
        ]);
        // pins: is relative to the folder of the file that declares the target.
        const origin = config.origins.get(`target:${t.name}`) ?? opts.configPath;
        const folder = dirname(origin.replace(/:\d+(:\d+)?$/, ""));
        const pins = t.pins === undefined ? null : createToolPins(resolve(folder, t.pins), log);
        // The SQL parser (WASM) is loaded only when some server has a SQL tool.
        // A server whose sql: names a catalog connection has its SQL read with the database's catalog behind it.
        const sqlClassifier = t.servers.some((s) => s.sql !== undefined) ? await (await import("../targets/mcp/sql-classifier.ts")).loadMcpSqlClassifier(() => secrets.current(t) as typeof t, log) : undefined;
        const classifySql = sqlClassifier === undefined ? undefined : (text: string, server: string) => sqlClassifier.classify(text, server);
        return startMcpTarget(t, {
          gate,
          authenticate,
          authFailureReason,
          decide: (action) => policy.decide(action),
          mayUseTarget,
          masker: cachedMasker(masking.compileJsonMasker),
          pins,
          ...(classifySql !== undefined ? { classifySql } : {}),
          // The postgres target's built-in denials (pg_read_file, COPY … PROGRAM, user functions) for SQL over MCP.
          sqlBuiltins: sqlArgument.mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((r) => r.name === name)?.mcp?.sql }),
          authorizationServers: () => config.identity.issuers.map((i) => i.issuer),
          onBudgetRefused: (target, budget) => metrics.mcpBudgetRefusals.inc({ target, budget }),
          endAtExpiry: () => config.identity.end_sessions_at_expiry,
          current: () => secrets.current(t) as typeof t,
          clock,
          metrics,
          log,
        });
      }
    }
  }

  return {
    config: () => config,
    policy: () => policy,
    audit,
    metrics,
    adminPort: adminServer?.port ?? null,
    targets,
    liveSessions,
    reload: () => configWatcher.reload(),
    async stop() {
      if (stopped) return;
      stopped = true;
      configWatcher.close();
      secrets.close();
      devKeyWatch?.close();
      approvals.close();
      await Promise.all([...targets.values()].map((t) => t.stop()));
      await webhooks.close();
      await adminServer?.stop(true);
      await gate.recordHappened({ type: "gateway.stop", policy: policy.hash });
      await audit.close();
    },
  };
}

/**
 * Listener changes cannot be applied live: keep the running targets' definitions, and the
 * secret paths that index them (their secrets' values live in the secret store).
 */
function withLiveListeners(old: Config, next: Config): Config {
  return { ...next, targets: old.targets, secretPaths: old.secretPaths, ...(old.secretRefs !== undefined ? { secretRefs: old.secretRefs } : {}) };
}

/** Compiled maskers by their masks, so a hot path does not recompile per request. */
function cachedMasker<M>(compile: (m: Masks) => M): (m: Masks) => M {
  const cache = new Map<string, M>();
  // By the masks object first: a remembered decision (policy/decision-cache.ts) hands out the same one.
  const byObject = new WeakMap<Masks, M>();
  return (m) => {
    const known = byObject.get(m);
    if (known !== undefined) return known;
    const key = JSON.stringify(m);
    let hit = cache.get(key);
    if (hit === undefined) {
      if (cache.size > 1000) cache.clear();
      hit = compile(m);
      cache.set(key, hit);
    }
    byObject.set(m, hit);
    return hit;
  };
}
