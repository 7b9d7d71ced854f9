// Shared, protocol-free types: who asks (Identity), what they ask for (Action), and what the
// policy answers (Decision). Every target maps its traffic onto these.

/** Claims as audit records carry them (record_claims): scalars, or lists of scalars, by claim path. */
export type RecordClaims = Readonly<Record<string, string | number | boolean | readonly (string | number | boolean)[]>>;

/** A caller whose credential the gateway verified. */
export interface Identity {
  /** How the caller proved who they are. */
  readonly method: "oidc" | "machine-key" | "dev";
  /** Stable subject: JWT `sub`, or the machine key's name. */
  readonly subject: string;
  /** Token issuer URL; the machine key's name for machine keys. */
  readonly issuer: string;
  readonly groups: readonly string[];
  /**
   * The token's verified claims (its payload, deeply frozen; never the raw token), which rules'
   * `claims:` sections match. Absent for machine keys: claims rules never match them.
   */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** How audit records and the console name the caller (the issuer's display_name); default: the subject. */
  readonly name?: string;
  /** The issuer's record_claims, picked from `claims`: copied into every audit record of the caller's sessions. */
  readonly recordClaims?: RecordClaims;
  /** Expiry of the credential, ms since epoch, when it has one. */
  readonly expiresAt?: number;
}

export type TargetKind = "http" | "postgres" | "ssh" | "kubernetes" | "mcp";

/** Protocol facts of one request, per target kind. */
export interface HttpRequestFacts {
  readonly kind: "http";
  readonly method: string;
  readonly path: string;
  /** The query string for the record (secret-looking values redacted); never decided on. */
  readonly query?: string;
}

export interface PostgresRequestFacts {
  readonly kind: "postgres";
  /** Statement classes, e.g. "read", "insert", "ddl.drop.database". */
  readonly classes: readonly string[];
  /** Schema-qualified relations touched, e.g. "sales.orders". */
  readonly relations: readonly string[];
  /** Schema-qualified functions called, e.g. "pg_catalog.pg_read_file". */
  readonly functions: readonly string[];
  /**
   * Those of `functions` that may resolve to user-defined code (not a built-in), as the target
   * found them in the database's catalog; a rule allows them only by naming them.
   */
  readonly userFunctions?: readonly string[];
  /** The statement text, for audit; never used to match. */
  readonly sql?: string;
}

/** What an SSH caller asks for: a shell, one command, one SFTP operation, or one forwarded connection. */
export type SshAction = "shell" | "exec" | "sftp" | "forward";
/** SFTP operations as policy names them (stat, realpath and readlink count as list). */
export type SftpOperation = "read" | "write" | "remove" | "rename" | "mkdir" | "list" | "setstat";

export interface SshRequestFacts {
  readonly kind: "ssh";
  readonly action: SshAction;
  /** The upstream account: the SSH user name the caller logged in with. */
  readonly user: string;
  /** exec: the command line exactly as the client sent it (policy splits it, or refuses to). */
  readonly command?: string;
  /** sftp: the operation and its normalised absolute path; a rename's target is `toPath`. */
  readonly operation?: SftpOperation;
  readonly path?: string;
  readonly toPath?: string;
  /** forward: where the caller asks the gateway to connect, "host:port". */
  readonly destination?: string;
  /** shell: the line the user submitted with Enter (best-effort line policy; not a boundary). */
  readonly line?: string;
}

/** One Kubernetes API request, classified as the API server's RequestInfo rules classify it. */
export interface KubernetesRequestFacts {
  readonly kind: "kubernetes";
  /**
   * get, list, watch, create, update, patch, delete, deletecollection; subresource verbs as the
   * API server names them (exec, attach, portforward, proxy ... are the subresource with verb
   * create/get); for a non-resource URL, the lower-cased HTTP method.
   */
  readonly verb: string;
  /** "pods", "deployments" ...; "" for a non-resource URL. */
  readonly resource: string;
  readonly subresource?: string;
  /** Absent for cluster-scoped requests. */
  readonly namespace?: string;
  readonly name?: string;
  /** "" for the core group. */
  readonly apiGroup?: string;
  readonly apiVersion?: string;
  /** A non-resource URL's path ("/version", "/openapi/v3"); resource is then "". */
  readonly path?: string;
  /** exec/attach: the command= query parameters, in order. */
  readonly command?: readonly string[];
  /** patch: json, merge, strategic or apply (from the Content-Type). */
  readonly patchType?: string;
}

/**
 * One MCP (Model Context Protocol) JSON-RPC request, decided on its parsed body, never on routing
 * headers. Client requests come from the agent; server requests (sampling/createMessage,
 * elicitation/create, roots/list) come from the MCP server and are decided too.
 */
export interface McpRequestFacts {
  readonly kind: "mcp";
  /** "client": agent → server; "server": a server-initiated request to the agent. */
  readonly direction: "client" | "server";
  /** The JSON-RPC method exactly as sent: "tools/call", "resources/read", "tools/list", "initialize" ... */
  readonly method: string;
  /** The upstream MCP server's name in the target's config. */
  readonly server: string;
  /** tools/call: the tool's name as the upstream server knows it. */
  readonly tool?: string;
  /** prompts/get: the prompt's name. */
  readonly prompt?: string;
  /** resources/read, resources/subscribe: the resource URI. */
  readonly resource?: string;
  /** tools/call, prompts/get: the arguments as parsed from the body. */
  readonly arguments?: Readonly<Record<string, unknown>>;
  /**
   * tools/call of a server's SQL tool (servers[].sql): the statement(s) of its SQL argument as the
   * PostgreSQL classifier reads them (src/targets/mcp/sql-argument.ts). A call whose SQL cannot be
   * classified never gets here: the runtime refuses it.
   */
  readonly sql?: McpSqlFacts;
  /**
   * tools/call: the called tool's pinned input schema (from the tools/list whose digest matched
   * the pin); rules' argument conditions treat an argument it does not declare as unreadable.
   * Absent when the runtime has none.
   */
  readonly inputSchema?: Readonly<Record<string, unknown>>;
  /**
   * Set only by the runtime's listing filter (policy/matchers/mcp-listing.ts mayList): "could some
   * call of this tool, prompt or resource be allowed?". Argument and SQL conditions are then
   * unknown: allow rules treat them as met, deny and review rules with them do not hide the item.
   */
  readonly listing?: boolean;
}

/** The SQL of an MCP tool call, classified as a PostgreSQL statement is (PostgresRequestFacts). */
export interface McpSqlFacts {
  readonly classes: readonly string[];
  readonly relations: readonly string[];
  readonly functions: readonly string[];
  /**
   * Those of `functions` (and of the code behind the statement's relations, operators and types)
   * that the target found to be user-defined in the database's catalog; absent when it has no
   * catalog to ask (sql-builtins.ts then counts every name that is not a built-in).
   */
  readonly userFunctions?: readonly string[];
  /** The SQL text, for audit; never used to match. */
  readonly text?: string;
}

export type RequestFacts = HttpRequestFacts | PostgresRequestFacts | SshRequestFacts | KubernetesRequestFacts | McpRequestFacts;

/** What a caller asks for, in the vocabulary of the policy. */
export interface Action {
  readonly identity: Identity;
  /** The configured target's name. */
  readonly target: string;
  readonly request: RequestFacts;
  /** When the request was made, ms since epoch. */
  readonly time: number;
}

export type Effect = "allow" | "deny" | "review";

/** What to hide in a response. Each protocol applies the parts that fit it. */
export interface Masks {
  /** JSON paths (HTTP, Kubernetes), e.g. "$.items[*].email". */
  readonly json: readonly string[];
  /** Column names or origins (Postgres), e.g. "email" or "sales.customers.email". */
  readonly columns: readonly string[];
  /** Value detectors applied to every string value: "email", "card", "ssn", "iban", "phone", "jwt", "cloud_key". */
  readonly detectors: readonly string[];
}

export interface ReviewTerms {
  /** Groups whose members may approve (never the requester). */
  readonly approvers: readonly string[];
  /** How long a grant from `approve --for` may last, ms. */
  readonly maxGrantMs: number;
  /** How long a request may wait for a decision, ms. */
  readonly timeoutMs: number;
  /** How many different approvers must approve (approvals_required); 1 when absent. */
  readonly approvalsRequired?: number;
}

export interface Decision {
  readonly effect: Effect;
  /** The deciding rule's name; null for the default deny. */
  readonly rule: string | null;
  /** For people: the operator's message on deny, or why. */
  readonly message: string;
  /**
   * For a default deny, what the gateway saw and why no rule allowed it ("read of sales.orders;
   * no rule allows it for you"); added on the deny path only (Policy.describeDenial).
   */
  readonly detail?: string;
  readonly masks: Masks;
  /** Present when effect is "review". */
  readonly review?: ReviewTerms;
}

export const NO_MASKS: Masks = Object.freeze({ json: Object.freeze([]), columns: Object.freeze([]), detectors: Object.freeze([]) });

/** Time source, injected so tests can move it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function hasMasks(m: Masks): boolean {
  return m.json.length > 0 || m.columns.length > 0 || m.detectors.length > 0;
}
