// The configuration's one definition: TypeBox schemas from which both validation and the
// TypeScript types come, and which `gatehouse schema` exports as JSON Schema for editors.
import type { SecretRef } from "./secrets.ts";
import { McpRuleSection } from "./mcp-rule-schema.ts";
import { Type, type Static, type TSchema } from "@sinclair/typebox";

const Duration = Type.String({
  pattern: "^[0-9]+(ms|s|m|h|d)$",
  description: "A duration such as 500ms, 30s, 15m, 8h or 1d.",
});
const Size = Type.String({
  pattern: "^[0-9]+(B|KB|MB|GB|KiB|MiB|GiB)?$",
  description: "A size such as 512KB, 10MB or 1GiB (plain numbers are bytes).",
});
const Name = Type.String({
  pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$",
  maxLength: 128,
  description: "A name: letters, digits, _ . - (starting with a letter or digit).",
});
const Glob = Type.String({ minLength: 1, description: "A glob: * matches within a segment, ** across segments." });
const Listen = Type.String({ pattern: "^[^\\s]+:[0-9]{1,5}$", description: "host:port, e.g. 127.0.0.1:8080" });
const strict = { additionalProperties: false } as const;

export const GatewaySection = Type.Object(
  {
    state_dir: Type.Optional(Type.String({ description: "Folder for the dev issuer's key and other state. Default ./state." })),
    admin: Type.Optional(
      Type.Object(
        {
          listen: Listen,
          tls: Type.Optional(
            Type.Object(
              { cert: Type.String(), key: Type.String() },
              { ...strict, description: "Serve the admin API and the console over HTTPS with this certificate and key (PEM files)." },
            ),
          ),
          allow_plaintext: Type.Optional(
            Type.Boolean({
              description:
                "Serve the console over plain HTTP on an address that is not loopback (behind a proxy that terminates TLS). Without tls or this, a console on such an address is refused.",
            }),
          ),
        },
        { ...strict, description: "Admin API: health, metrics, approvals, and the web console (console:)." },
      ),
    ),
    log_level: Type.Optional(Type.Union([Type.Literal("debug"), Type.Literal("info"), Type.Literal("warn"), Type.Literal("error")])),
    console_url: Type.Optional(Type.String({ pattern: "^https?://", description: "The console's address as approvers reach it (https://gatehouse.example:9443): approval webhooks link to its approval page." })),
    approval_webhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Name,
            url: Type.String({ minLength: 1, description: "Where to POST (http:// or https://); a Slack incoming-webhook URL is a secret: use a secret reference (${env:NAME} or ${file:PATH})." }),
            format: Type.Union([Type.Literal("json"), Type.Literal("slack")], { description: "json: the approval as JSON, signed when `secret` is set (header Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">); slack: an incoming-webhook message with a link to the approval page." }),
            secret: Type.Optional(Type.String({ minLength: 16, description: "HMAC-SHA256 key for format json; use a secret reference." })),
            events: Type.Optional(Type.Array(Type.Union([Type.Literal("requested"), Type.Literal("decided"), Type.Literal("expired"), Type.Literal("cancelled")]), { minItems: 1, description: "Default: all." })),
            timeout: Type.Optional(Duration),
          },
          { ...strict, description: "An approval webhook: retried with backoff (5 attempts); every delivery and failure is audited (webhook.delivered, webhook.failed)." },
        ),
      ),
    ),
  },
  strict,
);

export const AuditSection = Type.Object(
  {
    path: Type.String({ description: "The audit log file; rotated files sit beside it." }),
    durability: Type.Optional(
      Type.Union([Type.Literal("batch"), Type.Literal("strict")], {
        description: "batch: fsync by group commit; strict: every action waits for its fsync.",
      }),
    ),
    rotate_size: Type.Optional(Size),
    fsync_interval: Type.Optional(
      Type.String({
        pattern: Duration.pattern,
        description:
          "batch: start an fsync at most this often (default 10ms). Records are written before their action goes on, so a kill -9 loses none; a power cut may lose up to this much of the newest. strict ignores it.",
      }),
    ),
    checkpoints: Type.Optional(
      Type.Object(
        {
          records: Type.Optional(Type.Integer({ minimum: 1, description: "Sign the chain's head after this many records. Default 1000." })),
          interval: Type.Optional(Duration),
          key_file: Type.Optional(
            Type.String({ description: "An Ed25519 private key (PKCS#8 PEM, mode 0600) to sign with. Default: <state_dir>/audit-key/ed25519.pem, created on first start." }),
          ),
        },
        {
          ...strict,
          description:
            "Signed checkpoints of the log's head, so that `gatehouse verify` can show records cut off its end: one after `records` records or `interval` after the first record not yet signed (default 60s), whichever comes first, and at stop.",
        },
      ),
    ),
  },
  strict,
);

export const IssuerConfig = Type.Object(
  {
    name: Name,
    issuer: Type.String({ minLength: 1, description: "The `iss` value tokens must carry." }),
    audience: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
    jwks_uri: Type.Optional(Type.String({ description: "Default: from OpenID discovery at the issuer." })),
    groups_claim: Type.Optional(Type.String({ description: "Dotted path of the groups claim, e.g. realm_access.roles. Default groups." })),
    algorithms: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    clock_skew: Type.Optional(Duration),
    require_groups: Type.Optional(
      Type.Boolean({
        description:
          "Refuse a token without the groups claim (default true). false for platforms whose tokens carry none (GitHub Actions, GitLab CI, Kubernetes, SPIFFE): their callers have no groups, and rules match their claims instead.",
      }),
    ),
    display_name: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "How the identity appears in audit records and the console: a template of claim paths in braces, e.g. github:{repository}@{ref} or k8s:{kubernetes.io.namespace}/{kubernetes.io.serviceaccount.name}. A claim that is missing or not a string, number or boolean reads as '?'. Default: the subject.",
      }),
    ),
    record_claims: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: "Claim paths copied into every audit record of the caller's sessions (identity.claims), e.g. [repository, ref, run_id]. Never the token itself.",
      }),
    ),
  },
  strict,
);

export const MachineKeyConfig = Type.Object(
  {
    name: Name,
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$", description: "Hex SHA-256 of the key; the key itself is never stored." }),
    groups: Type.Array(Type.String()),
    ssh_public_keys: Type.Optional(
      Type.Array(Type.String({ pattern: "^(ssh-|ecdsa-|sk-)[^\\s]+ [A-Za-z0-9+/=]+( .*)?$", description: 'An OpenSSH public key line, e.g. "ssh-ed25519 AAAA… deploy@ci".' }), {
        minItems: 1,
        description: "Public keys with which this identity may also log in to `kind: ssh` targets (ssh -i KEY), with the same name and groups.",
      }),
    ),
  },
  strict,
);

export const IdentitySection = Type.Object(
  {
    issuers: Type.Optional(Type.Array(IssuerConfig)),
    machine_keys: Type.Optional(Type.Array(MachineKeyConfig)),
    dev_issuer: Type.Optional(
      Type.Boolean({ description: "Trust tokens from `gatehouse token`. For development only." }),
    ),
    end_sessions_at_expiry: Type.Optional(
      Type.Boolean({
        description:
          "End a PostgreSQL session or a WebSocket when the token it was opened with expires (default true). Off: it lives on with the identity it logged in with.",
      }),
    ),
  },
  strict,
);

export const HttpTarget = Type.Object(
  {
    name: Name,
    kind: Type.Literal("http"),
    listen: Listen,
    upstream: Type.String({ pattern: "^https?://", description: "An http:// or https:// base URL of the upstream API." }),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: "Headers added upstream, e.g. the real credential." }),
    ),
    mask_max_size: Type.Optional(Size),
    timeout: Type.Optional(Duration),
    redact_query: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          "Query parameters whose values audit records replace with REDACTED, added to token, access_token, key, password, secret and signature. A name matches when the parameter's decoded name contains it, ignoring case and _ - . [ ] spaces.",
      }),
    ),
  },
  strict,
);

export const PostgresTarget = Type.Object(
  {
    name: Name,
    kind: Type.Literal("postgres"),
    listen: Listen,
    upstream: Type.Object(
      {
        host: Type.String(),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        database: Type.String(),
        user: Type.String(),
        password: Type.Optional(Type.String()),
        tls: Type.Optional(Type.Union([Type.Literal("disable"), Type.Literal("require"), Type.Literal("verify-full")])),
        ca: Type.Optional(Type.String()),
      },
      strict,
    ),
    tls: Type.Optional(Type.Object({ cert: Type.String(), key: Type.String() }, strict)),
    allow_plaintext: Type.Optional(Type.Boolean()),
    record_parameters: Type.Optional(Type.Boolean()),
    max_message_size: Type.Optional(Size),
  },
  strict,
);

export const KubernetesTarget = Type.Object(
  {
    name: Name,
    kind: Type.Literal("kubernetes"),
    listen: Listen,
    tls: Type.Optional(
      Type.Object(
        { cert: Type.String(), key: Type.String() },
        { ...strict, description: "The gateway's own certificate and key (PEM files). Default: a self-signed certificate made at first start in <state_dir>/kubernetes/NAME/, for 127.0.0.1, ::1, localhost and the listen host." },
      ),
    ),
    upstream: Type.Object(
      {
        url: Type.String({ pattern: "^https?://", description: "The API server, e.g. https://10.0.0.1:6443." }),
        ca: Type.Optional(Type.String({ description: "The API server's CA bundle: a PEM file path, or the PEM itself (e.g. ${file:...} or ${env:...})." })),
        token: Type.Optional(Type.String({ description: "The gateway's bearer token at the API server; use a secret reference (${env:NAME} or ${file:PATH})." })),
        client_cert: Type.Optional(Type.String({ description: "Or a client certificate (PEM file path) ..." })),
        client_key: Type.Optional(Type.String({ description: "... and its key (PEM file path)." })),
      },
      { ...strict, description: "Where requests go, and the gateway's own credential there (the caller's never is)." },
    ),
    review: Type.Optional(
      Type.Union([Type.Literal("answer"), Type.Literal("hold")], {
        description:
          "What a caller sees when a rule sends its request to review. answer (default): 403 at once naming the approval id and the approver's command; the same request retried by the same caller after approval passes once (or for the granted time). hold: the request waits until an approver decides (kubectl prints nothing meanwhile).",
      }),
    ),
    review_rules: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.Literal("answer"), Type.Literal("hold")]), { description: "Per rule name: answer or hold, overriding review." }),
    ),
    mask_secret_data: Type.Optional(
      Type.Boolean({ description: "Mask every value of a Secret's data and stringData (and its last-applied annotation) in responses (default true). The rules' masks apply besides." }),
    ),
    mask_max_size: Type.Optional(Size),
    max_body_size: Type.Optional(Size),
    record_body_limit: Type.Optional(Size),
    timeout: Type.Optional(Duration),
    record_input: Type.Optional(Type.Boolean({ description: "Also record what callers type in kubectl exec/attach terminal sessions (passwords typed there too). Default false." })),
    exec_output_limit: Type.Optional(Size),
  },
  strict,
);

export const SshTarget = Type.Object(
  {
    name: Name,
    kind: Type.Literal("ssh"),
    listen: Listen,
    host_key: Type.Optional(
      Type.String({
        description:
          "The gateway's own SSH host key for this target (an OpenSSH private key file). Default: <state_dir>/ssh/<target name>/ssh_host_ed25519_key, made at first start; its fingerprint is logged at every start.",
      }),
    ),
    upstream: Type.Object(
      {
        host: Type.String({ minLength: 1 }),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        user: Type.String({ minLength: 1, description: "The upstream account, unless `users` maps the caller's SSH user name to another." }),
        private_key: Type.Optional(Type.String({ description: "The gateway's private key for the upstream (OpenSSH or PEM text), usually ${file:…}." })),
        passphrase: Type.Optional(Type.String({ description: "The private key's passphrase, if it has one." })),
        password: Type.Optional(Type.String({ description: "The upstream account's password, usually ${env:…} (private_key or password)." })),
        host_key: Type.Union(
          [
            Type.String({ minLength: 1 }),
            Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "Several pins (a key rotation): any of them is accepted." }),
          ],
          {
            description:
              'The upstream\'s host key, pinned: an OpenSSH known_hosts line or public key ("ssh-ed25519 AAAA…"), or a fingerprint "SHA256:…" (`gatehouse ssh-keyscan HOST:PORT` prints it), or a list of them. A different key refuses the connection.',
          },
        ),
      },
      strict,
    ),
    users: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
        description:
          "Caller's SSH user name → upstream account (ssh deploy@gateway logs in upstream as users.deploy). With it, other names are refused; without it, every name logs in as upstream.user. Policy sees the upstream account.",
      }),
    ),
    env: Type.Optional(
      Type.Array(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*\\*?$", description: "A variable name, or a prefix ending in * (LC_*)." }), {
        description:
          "Environment variables a caller may set (ssh -o SendEnv, SetEnv). Default LANG and LC_*. Variables that change what a program runs (LD_*, BASH_ENV, ENV, PATH, IFS …) are refused even when a prefix covers them.",
      }),
    ),
    login_timeout: Type.Optional(
      Type.String({
        pattern: Duration.pattern,
        description: "How long a caller's connection may take from connecting to logged in (OpenSSH's LoginGraceTime). Default 60s.",
      }),
    ),
    exec_pty: Type.Optional(
      Type.Boolean({
        description:
          "Give an exec a terminal when the caller asks (ssh -t HOST CMD). Default false: under a terminal, an allowed program may start a pager or editor (journalctl, systemctl status → less) whose commands policy never sees. Shells always get one.",
      }),
    ),
    record_input: Type.Optional(Type.Boolean({ description: "Also record what callers type in terminal sessions (passwords typed there too). Default false." })),
    exec_output_limit: Type.Optional(Size),
    ciphers: Type.Optional(
      Type.Array(Type.Union(["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"].map((c) => Type.Literal(c))), {
        minItems: 1,
        description:
          "Ciphers offered to callers. Default the AES-GCM ones only (OpenSSH 6.2+, PuTTY 0.76+): OpenSSH prefers aes128-ctr + an HMAC when both are offered, which costs the gateway about a fifth more CPU per byte. Add aes128-ctr etc. for older clients.",
      }),
    ),
  },
  strict,
);

const McpWindowBudget = Type.Object(
  {
    max: Type.Integer({ minimum: 1, description: "Calls allowed in each window." }),
    window: Duration,
  },
  strict,
);

export const McpServerConfig = Type.Object(
  {
    name: Name,
    url: Type.Optional(Type.String({ pattern: "^https?://", description: "A Streamable HTTP upstream (its MCP endpoint, e.g. http://10.0.0.5:3001/mcp), or with transport: sse a legacy HTTP+SSE one (its /sse endpoint)." })),
    transport: Type.Optional(Type.Union([Type.Literal("streamable-http"), Type.Literal("sse")], { description: "For url: streamable-http (default) or sse (the legacy HTTP+SSE transport)." })),
    headers: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: "Headers sent upstream with url, e.g. authorization: Bearer ${env:TOKEN}: the gateway's credential (the caller's token never is)." }),
    ),
    command: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: "A stdio server the gateway spawns for each agent session: argv, the program found on the gateway's PATH when it has no /. Killed (its process group) with the session; every spawn is recorded.",
      }),
    ),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String(), {
        description: "The stdio server's whole environment (nothing else is passed, not even PATH); values may be secret references.",
      }),
    ),
    cwd: Type.Optional(Type.String({ description: "The stdio server's working directory. Default: a fresh empty folder per session, removed at its end." })),
    sql: Type.Optional(
      Type.Object(
        {
          tool: Type.String({ minLength: 1 }),
          argument: Type.String({ minLength: 1 }),
          catalog: Type.Optional({
            ...PostgresTarget.properties.upstream,
            description:
              "A connection of the gateway's own to the server's database (as a postgres target's upstream), to read its catalog: views count as their base tables, parents as their children and partitions, and the user code triggers, defaults, domains, casts and operators run as user functions, as over the wire protocol. Without it, only what the SQL text shows is decided.",
          }),
        },
        { ...strict, description: "This tool's argument is SQL: classified as PostgreSQL, so rules' sql sections decide it." },
      ),
    ),
  },
  strict,
);

export const McpTarget = Type.Object(
  {
    name: Name,
    kind: Type.Literal("mcp"),
    listen: Listen,
    resource_url: Type.Optional(
      Type.String({ pattern: "^https?://", description: "The public base URL callers use (RFC 9728 metadata, token audience). Default http://<listen>." }),
    ),
    audience: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: "Audiences an OIDC caller's token may carry (aud). Default: the server's resource URL (<resource_url>/mcp/<server>) or resource_url itself, as the MCP authorization spec asks (RFC 8707).",
      }),
    ),
    pins: Type.Optional(Type.String({ description: "The tool-definition lock file (gatehouse mcp pin), relative to the config file's folder. Set: a tool that is new or changed upstream is hidden and denied; an absent file pins nothing." })),
    servers: Type.Array(McpServerConfig, { minItems: 1 }),
    limits: Type.Optional(
      Type.Object(
        {
          body_bytes: Type.Optional(Type.Union([Size, Type.Integer({ minimum: 1 })])),
          result_bytes: Type.Optional(Type.Union([Size, Type.Integer({ minimum: 1 })])),
          call_timeout: Type.Optional(Duration),
          calls: Type.Optional(McpWindowBudget),
          tool_calls: Type.Optional(McpWindowBudget),
          session_idle: Type.Optional(Duration),
          sessions_per_caller: Type.Optional(Type.Integer({ minimum: 1 })),
        },
        {
          ...strict,
          description:
            "body_bytes: largest message from an agent (default 1MB); result_bytes: largest result relayed (default 4MB); call_timeout: a tool call's time budget (default 60s; other requests get at least a minute); calls: tools/call per identity and window; tool_calls: per identity, tool and window; session_idle: a session without requests or streams ends after it (default 30m); sessions_per_caller: open sessions per caller and server (default 16; each may run a stdio server).",
        },
      ),
    ),
  },
  strict,
);

export const TargetConfig = Type.Union([HttpTarget, PostgresTarget, SshTarget, KubernetesTarget, McpTarget]);

const Strings = Type.Array(Type.String(), { minItems: 1 });
const Strings0 = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });
const Globs = Type.Array(Glob, { minItems: 1 });

export const WhenConfig = Type.Object(
  {
    timezone: Type.Optional(Type.String({ description: "IANA zone, e.g. UTC or Europe/Berlin. Default UTC." })),
    days: Type.Optional(
      Type.Array(
        Type.String({
          pattern: "^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$",
          description: "A day (mon, tue, wed, thu, fri, sat, sun) or a range such as mon-fri.",
        }),
        { minItems: 1, description: "Days or ranges, e.g. [mon-fri] or [sat, sun]." },
      ),
    ),
    hours: Type.Optional(
      Type.String({
        pattern: "^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description: "HH:MM-HH:MM, end exclusive, e.g. 09:00-17:00 or 22:00-06:00.",
      }),
    ),
  },
  strict,
);

export const MaskConfig = Type.Object(
  {
    json: Type.Optional(Strings),
    columns: Type.Optional(Strings),
    detectors: Type.Optional(
      Type.Array(
        Type.Union(["email", "card", "ssn", "iban", "phone", "jwt", "cloud_key"].map((d) => Type.Literal(d))),
        { minItems: 1 },
      ),
    ),
  },
  strict,
);

const ClaimValue = Type.Union([Type.String({ minLength: 1 }), Type.Number(), Type.Boolean()], {
  description: "A claim pattern: a string (glob), a number or a boolean.",
});

export const RuleConfig = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    groups: Type.Optional(Strings),
    identities: Type.Optional(Strings),
    targets: Type.Optional(Globs),
    http: Type.Optional(
      Type.Object({ methods: Type.Optional(Strings), paths: Type.Optional(Globs) }, strict),
    ),
    postgres: Type.Optional(
      Type.Object(
        {
          classes: Type.Optional(Strings),
          tables: Type.Optional(Globs),
          functions: Type.Optional(Globs),
        },
        strict,
      ),
    ),
    ssh: Type.Optional(
      Type.Object(
        {
          actions: Type.Optional(
            Type.Array(Type.Union(["shell", "exec", "sftp", "forward"].map((a) => Type.Literal(a))), {
              minItems: 1,
              description: "shell, exec (one command), sftp (file operations), forward (ssh -L).",
            }),
          ),
          users: Type.Optional(Type.Array(Glob, { minItems: 1, description: "Globs over the upstream account (the SSH user name given)." })),
          commands: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description:
                'exec: argv patterns ("systemctl status *": * is one argument, ** any number) or regexes "re:..." over argv joined by spaces. A line that is not a simple command matches only rules allowing any command ("**" or no commands) and every deny or review rule with commands.',
            }),
          ),
          operations: Type.Optional(
            Type.Array(Type.Union(["read", "write", "remove", "rename", "mkdir", "list", "setstat"].map((o) => Type.Literal(o))), {
              minItems: 1,
              description: "sftp operations (stat, realpath and readlink count as list).",
            }),
          ),
          paths: Type.Optional(Type.Array(Glob, { minItems: 1, description: "sftp: globs over the normalised absolute path, e.g. /var/log/**." })),
          destinations: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "forward: HOST:PORT globs, e.g. db.internal:5432, *.internal:443, 10.0.0.5:8000-8100." }),
          ),
          lines: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description: "shell: best-effort patterns (as commands) over each line submitted with Enter. Not a security boundary.",
            }),
          ),
        },
        strict,
      ),
    ),
    kubernetes: Type.Optional(
      Type.Object(
        {
          verbs: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description:
                "RBAC verbs (get, list, watch, create, update, patch, delete, deletecollection, impersonate, bind, escalate, use, approve, sign, attest); read (get, list, watch) and write (create, update, patch, delete, deletecollection, and every exec, attach, portforward and proxy request); subresource verbs (exec, attach, portforward, log, proxy, scale, status, eviction, ephemeralcontainers: any request on that subresource); non-resource verbs (head, post, put, options); * for all.",
            }),
          ),
          groups: Type.Optional(
            Type.Array(Type.String({ description: 'An API group such as apps or networking.k8s.io, "" or core for the core group, or a glob.' }), {
              minItems: 1,
              description: "API groups the request's resource must be in.",
            }),
          ),
          resources: Type.Optional(
            Type.Array(Glob, {
              minItems: 1,
              description: "Resources in RBAC form: pods, pods/exec (a subresource), deployments.apps (with its group), deployments.apps/scale, pods/*, *.",
            }),
          ),
          namespaces: Type.Optional(
            Type.Array(Type.String({ description: 'A namespace glob; "" stands for cluster-scoped requests.' }), {
              minItems: 1,
              description:
                'Namespaces the request is in; "" for cluster-scoped requests. A list or watch of a namespaced resource without a namespace (GET /api/v1/secrets) reaches every namespace: an allow rule allows it only when its namespaces hold "*", a deny or review rule matches it whatever namespaces it names.',
            }),
          ),
          names: Type.Optional(
            Type.Array(Glob, {
              minItems: 1,
              description: "Globs over the object's name. An allow rule with names never allows a request that names no object (list, watch, create, deletecollection); a deny or review rule always matches one.",
            }),
          ),
          commands: Type.Optional(
            Type.Array(Type.String({ minLength: 1 }), {
              minItems: 1,
              description:
                'pods/exec: patterns over the command= argv, as ssh.commands ("cat /var/log/*": * is one argument, ** any number; "re:..." regexes); wrappers such as sh -c are followed. Deny and review rules with commands also match every attach and ephemeralcontainers request.',
            }),
          ),
          paths: Type.Optional(
            Type.Array(Glob, {
              minItems: 1,
              description: "Non-resource URLs such as /metrics or /logs/*. A rule with paths matches only non-resource requests; one without, only resource requests. Discovery (/api, /apis, /version, /openapi, health) is open to anyone who may use the target.",
            }),
          ),
        },
        strict,
      ),
    ),
    mcp: Type.Optional(McpRuleSection),
    claims: Type.Optional(
      Type.Record(
        Type.String({ minLength: 1 }),
        Type.Union([ClaimValue, Type.Array(ClaimValue, { minItems: 1 })]),
        {
          minProperties: 1,
          description:
            'Token claims the caller\'s identity must carry, by path (repository, ref, kubernetes.io.namespace, kubernetes.io.serviceaccount.name): each a pattern or a list of them (any). A string is a glob (* within a "/" segment, ** across), exact without * or ?; a number or boolean is compared as its text (true matches the claim "true"). A list claim matches when any element does. A missing claim never matches, not even "*"; nor does an object.',
        },
      ),
    ),
    when: Type.Optional(WhenConfig),
    effect: Type.Union([Type.Literal("allow"), Type.Literal("deny"), Type.Literal("review")]),
    message: Type.Optional(Type.String()),
    mask: Type.Optional(MaskConfig),
    approvers: Type.Optional(Strings),
    grant_max: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
    approvals_required: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 5,
        description:
          "review: how many different approvers must approve before the request goes on (default 1). Each approval is recorded; the requester never counts, and one approver counts once. A deny by any approver ends it.",
      }),
    ),
  },
  strict,
);

export const ConsoleSection = Type.Object(
  {
    issuer: Type.String({
      minLength: 1,
      description:
        'Who people log in with: the name of an identity.issuers entry (OpenID Connect authorization code flow with PKCE), or "dev" for a one-click login through the dev issuer (identity.dev_issuer must be on; development only).',
    }),
    client_id: Type.Optional(Type.String({ minLength: 1, description: "The console's OAuth client id at the issuer." })),
    client_secret: Type.Optional(
      Type.String({ description: "The client's secret, as a secret reference (${env:NAME} or ${file:PATH}). Omit for a public client (PKCE alone)." }),
    ),
    redirect_url: Type.Optional(
      Type.String({
        pattern: "^https?://[^/]+/login/callback$",
        description: "The callback URL registered at the issuer: the admin listener's address as browsers reach it, ending in /login/callback, e.g. https://gatehouse.example.com:9443/login/callback.",
      }),
    ),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Scopes asked for. Default [openid, profile, email]; "openid" is always sent. Add the one your IdP needs to put the groups claim in the ID token (Okta and Dex: groups).' })),
    viewers: Type.Optional(Strings0("Groups whose members may view sessions, recordings, the audit log and the policy. Approvers of a review rule may always see the approvals page.")),
    session_enders: Type.Optional(Strings0("Groups whose members may end a live session (and view, as viewers).")),
    session_max: Type.Optional(
      Type.String({ pattern: "^[0-9]+(ms|s|m|h|d)$", description: "Longest a console login lasts, however long the ID token would (default 8h); it never outlives the token." }),
    ),
  },
  { ...strict, description: "The web console on the admin listener: login, roles, approvals, sessions, audit, policy." },
);

/** One file: every section optional, so a folder may split the config across files. */
export const ConfigFile = Type.Object(
  {
    gateway: Type.Optional(GatewaySection),
    audit: Type.Optional(AuditSection),
    identity: Type.Optional(IdentitySection),
    targets: Type.Optional(Type.Array(TargetConfig)),
    rules: Type.Optional(Type.Array(RuleConfig)),
    console: Type.Optional(ConsoleSection),
  },
  { ...strict, title: "Gatehouse configuration" },
);

export type GatewaySection = Static<typeof GatewaySection>;
export type AuditSection = Static<typeof AuditSection>;
export type IssuerConfig = Static<typeof IssuerConfig>;
export type MachineKeyConfig = Static<typeof MachineKeyConfig>;
export type IdentitySection = Static<typeof IdentitySection>;
export type HttpTarget = Static<typeof HttpTarget>;
export type PostgresTarget = Static<typeof PostgresTarget>;
export type SshTarget = Static<typeof SshTarget>;
export type KubernetesTarget = Static<typeof KubernetesTarget>;
export type McpTarget = Static<typeof McpTarget>;
export type McpServerConfig = Static<typeof McpServerConfig>;
export type TargetConfig = Static<typeof TargetConfig>;
export type WhenConfig = Static<typeof WhenConfig>;
export type MaskConfig = Static<typeof MaskConfig>;
export type RuleConfig = Static<typeof RuleConfig>;
export type ConfigFile = Static<typeof ConfigFile>;
export type ConsoleSection = Static<typeof ConsoleSection>;

/** The whole configuration after merging files, with where each rule and target came from. */
export interface Config {
  /** With defaults applied; state_dir is absolute. */
  readonly gateway: GatewaySection & { readonly state_dir: string };
  /** With defaults applied; path is absolute. */
  readonly audit: AuditSection & { readonly durability: "batch" | "strict"; readonly rotate_size: string };
  readonly identity: {
    readonly issuers: readonly IssuerConfig[];
    readonly machine_keys: readonly MachineKeyConfig[];
    readonly dev_issuer: boolean;
    readonly end_sessions_at_expiry: boolean;
  };
  readonly targets: readonly TargetConfig[];
  readonly rules: readonly RuleConfig[];
  /** The web console, when configured (client_secret resolved). */
  readonly console?: ConsoleSection;
  /** "file:line" of each named item ("rule:NAME", "target:NAME", "issuer:NAME", "machine_key:NAME"), for messages. */
  readonly origins: ReadonlyMap<string, string>;
  /** The files read, in order. */
  readonly files: readonly string[];
  /** SHA-256 over the canonical merged config (with secrets still as references). */
  readonly hash: string;
  /** Problems that do not stop loading, e.g. a rule whose targets match no target. */
  readonly warnings: readonly string[];
  /** Key paths (e.g. ["targets", 1, "upstream", "password"]) of values that hold secret references. */
  readonly secretPaths: readonly (readonly (string | number)[])[];
  /** The strings at secretPaths as written (references, never values): what the secret store re-reads. */
  readonly secretRefs?: readonly SecretRef[];
}

export function jsonSchema(): TSchema {
  return ConfigFile;
}
