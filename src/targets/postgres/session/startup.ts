// The client's startup phase: TLS negotiation (SSLRequest, GSSENCRequest), CancelRequest, the
// StartupMessage and its parameters, and authentication with a cleartext password that is an
// OIDC token or a machine key. Anything it cannot accept ends the connection with a FATAL
// ErrorResponse that says why.
import { TLSSocket, type SecureContext } from "node:tls";
import { errorMessage } from "../../../core/errors.ts";
import { StreamConnection, duplexOver, type Connection } from "../../../gate/connection.ts";
import type { Identity } from "../../../core/types.ts";
import { createFrontendDecoder, createStartupDecoder, parsePasswordMessage, type FrontendDecoder } from "../protocol/frontend-decoder.ts";
import type { DecodedFrontendMessage } from "../protocol/frontend-message.ts";
import { encodeAuthenticationCleartextPassword, encodeBackendMessage, encodeErrorResponse } from "../protocol/encode.ts";
import { EncryptionResponse, StartupCode } from "../protocol/messages.ts";
import { protocolErrorReason } from "../protocol/protocol-error.ts";

/** Startup parameters passed on to the upstream session; every other setting is refused. */
export const PASSED_PARAMETERS: ReadonlySet<string> = new Set([
  "application_name",
  "client_encoding",
  "DateStyle",
  "TimeZone",
  "IntervalStyle",
  "extra_float_digits",
]);

/** Parameters that describe the connection rather than set anything; never sent upstream as given. */
const CONNECTION_PARAMETERS: ReadonlySet<string> = new Set(["user", "database", "replication", "options", "fallback_application_name"]);

export interface StartupOptions {
  readonly targetName: string;
  /** The upstream database name: the client may name it or the target. */
  readonly database: string;
  /** TLS for clients, when the target has a certificate. */
  readonly tls: SecureContext | null;
  /** Whether a session may go on without TLS (loopback listener or allow_plaintext). */
  readonly plaintextAllowed: boolean;
  /** Why plaintext is refused, for the FATAL message. */
  readonly listen: string;
  readonly authenticate: (credential: string) => Promise<Identity>;
  /**
   * Called for every refused credential (error null: none given), before the client is told
   * (audit, metrics). When it rejects (the audit log failed), the client is told that instead.
   */
  readonly onAuthRejected: (error: unknown, parameters: ReadonlyMap<string, string>) => Promise<void>;
  readonly maxMessageSize: number;
  readonly timeoutMs: number;
}

export type StartupOutcome =
  | {
      readonly kind: "session";
      /** Paused: the session attaches and resumes it. */
      readonly socket: Connection;
      readonly tls: boolean;
      readonly identity: Identity;
      /** Every parameter the client sent. */
      readonly parameters: ReadonlyMap<string, string>;
      /** The ones passed upstream. */
      readonly upstreamParameters: ReadonlyMap<string, string>;
      /** The decoder of this connection, and messages it already decoded after the password. */
      readonly decoder: FrontendDecoder;
      readonly pending: readonly DecodedFrontendMessage[];
    }
  | { readonly kind: "cancel"; readonly processId: number; readonly secretKey: Uint8Array }
  | { readonly kind: "closed"; readonly reason: string };

/** A FATAL the gateway sends before closing; code is the SQLSTATE. */
export class StartupRefusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads chunks from a connection as promises; detach() stops reading. */
class ChunkReader {
  private readonly chunks: Uint8Array[] = [];
  private waiter: ((c: Uint8Array | null) => void) | null = null;
  private ended = false;

  constructor(private readonly socket: Connection) {
    socket.attach({
      data: (c) => {
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = null;
          w(c);
        } else this.chunks.push(c);
      },
      drain: () => {},
      close: () => {
        this.ended = true;
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = null;
          w(null);
        }
      },
    });
    socket.resume();
  }

  next(): Promise<Uint8Array | null> {
    const c = this.chunks.shift();
    if (c !== undefined) return Promise.resolve(c);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Stops reading; the connection is left paused and holds what arrives until the next reader attaches. */
  detach(): void {
    this.socket.detach();
  }
}

export function fatal(code: string, message: string): Uint8Array {
  return encodeErrorResponse({ severity: "FATAL", code, message });
}

/** Runs the startup phase on a fresh client connection. Never throws: failures close the socket. */
export async function runClientStartup(raw: Connection, opts: StartupOptions): Promise<StartupOutcome> {
  let socket: Connection = raw;
  let reader = new ChunkReader(socket);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, opts.timeoutMs);
  const refuse = (code: string, message: string): StartupOutcome => {
    reader.detach();
    socket.end(fatal(code, message));
    return { kind: "closed", reason: message };
  };
  try {
    const startup = createStartupDecoder();
    let isTls = false;
    let parameters: ReadonlyMap<string, string> | null = null;
    let rest: Uint8Array = new Uint8Array(0);
    while (parameters === null) {
      const chunk = await reader.next();
      if (chunk === null) return { kind: "closed", reason: timedOut ? "startup timed out" : "client closed the connection during startup" };
      let r;
      try {
        r = startup.push(chunk);
      } catch (e) {
        return refuse("08P01", `invalid startup packet: ${errorMessage(e)}`);
      }
      if (r === null) continue;
      switch (r.message.type) {
        case "SSLRequest":
          if (opts.tls === null || isTls) {
            socket.write(new Uint8Array([EncryptionResponse.Refuse]));
            break;
          }
          socket.write(new Uint8Array([EncryptionResponse.Accept]));
          reader.detach();
          // Bun sockets cannot start TLS on an accepted connection: node:tls runs over it instead.
          socket = new StreamConnection(new TLSSocket(duplexOver(raw), { isServer: true, secureContext: opts.tls }), raw);
          reader = new ChunkReader(socket);
          isTls = true;
          break;
        case "GSSENCRequest":
          socket.write(new Uint8Array([EncryptionResponse.Refuse]));
          break;
        case "CancelRequest":
          reader.detach();
          socket.end();
          return { kind: "cancel", processId: r.message.processId, secretKey: r.message.secretKey };
        case "StartupMessage":
          parameters = r.message.parameters;
          rest = r.rest;
          if (r.message.protocolVersion !== StartupCode.ProtocolVersion3) {
            // A newer 3.x minor: tell the client we speak 3.0, as PostgreSQL does.
            const unrecognized = [...parameters.keys()].filter((k) => k.startsWith("_pq_."));
            socket.write(encodeBackendMessage({ type: "NegotiateProtocolVersion", newestMinorVersion: 0, unrecognizedOptions: unrecognized }));
          }
          break;
      }
    }

    if (!isTls && !opts.plaintextAllowed) {
      return refuse(
        "28000",
        `this gateway requires TLS on ${opts.listen}: connect with sslmode=require ` +
          "(plaintext is allowed only on a loopback listener or with allow_plaintext: true on the target)",
      );
    }
    const checked = checkParameters(parameters, opts);
    if (checked instanceof StartupRefusal) return refuse(checked.code, checked.message);

    socket.write(encodeAuthenticationCleartextPassword());
    const decoder = createFrontendDecoder({ maxMessageSize: opts.maxMessageSize });
    let messages: DecodedFrontendMessage[] = [];
    try {
      messages = rest.length > 0 ? decoder.push(rest) : [];
      while (messages.length === 0) {
        const chunk = await reader.next();
        if (chunk === null) return { kind: "closed", reason: timedOut ? "authentication timed out" : "client closed the connection during authentication" };
        messages = decoder.push(chunk);
      }
    } catch (e) {
      const tooLarge = protocolErrorReason(e) === "too-large";
      return refuse(tooLarge ? "54000" : "08P01", `invalid authentication message: ${errorMessage(e)}`);
    }
    const first = messages[0]!;
    if (first.type === "Terminate") return { kind: "closed", reason: "client ended the connection during authentication" };
    if (first.type !== "AuthenticationResponse") {
      return refuse("08P01", `expected a password message, got ${first.type}`);
    }
    let credential: string;
    try {
      credential = parsePasswordMessage(first.data).password;
    } catch (e) {
      return refuse("08P01", `invalid password message: ${errorMessage(e)}`);
    }
    // A refusal is recorded before it is sent; one that cannot be recorded says so instead.
    const auditFailure = (error: unknown) =>
      opts.onAuthRejected(error, parameters).then(
        () => null,
        (e: unknown) => refuse("58030", `audit log unavailable, login refused: ${errorMessage(e)}`),
      );
    if (credential === "") {
      return (await auditFailure(null)) ?? refuse("28000", "no password supplied: the password is an OIDC token or a machine key");
    }
    let identity: Identity;
    try {
      identity = await opts.authenticate(credential);
    } catch (e) {
      return (await auditFailure(e)) ?? refuse("28P01", `authentication failed: ${errorMessage(e)}`);
    }
    reader.detach();
    return { kind: "session", socket, tls: isTls, identity, parameters, upstreamParameters: checked, decoder, pending: messages.slice(1) };
  } finally {
    clearTimeout(timer);
  }
}

/** Validates the client's parameters; returns the ones to pass upstream, or why the session is refused. */
export function checkParameters(parameters: ReadonlyMap<string, string>, opts: Pick<StartupOptions, "targetName" | "database">): Map<string, string> | StartupRefusal {
  const replication = parameters.get("replication");
  if (replication !== undefined && !["false", "off", "no", "0"].includes(replication.toLowerCase())) {
    return new StartupRefusal("08P01", "replication connections are not supported");
  }
  const options = parameters.get("options");
  if (options !== undefined && options.trim() !== "") {
    return new StartupRefusal(
      "0A000",
      `startup parameter "options" is refused: settings at connection time would bypass the gateway's checks (got "${options.slice(0, 100)}"); run SET after connecting`,
    );
  }
  const user = parameters.get("user");
  if (user === undefined || user === "") return new StartupRefusal("28000", "no user name in the startup packet");
  const database = parameters.get("database") || user;
  if (database !== opts.database && database !== opts.targetName) {
    return new StartupRefusal("3D000", `database "${database}" does not exist on this gateway: connect to "${opts.targetName}" or "${opts.database}"`);
  }
  const out = new Map<string, string>();
  for (const [k, v] of parameters) {
    if (k === "client_encoding") {
      const encoding = clientEncoding(v);
      if (encoding instanceof StartupRefusal) return encoding;
      out.set(k, encoding);
    } else if (PASSED_PARAMETERS.has(k)) out.set(k, v);
    else if (CONNECTION_PARAMETERS.has(k) || k.startsWith("_pq_.")) continue;
    else return new StartupRefusal("0A000", `startup parameter "${k}" is refused: only ${[...PASSED_PARAMETERS].join(", ")} may be set at connection time; run SET after connecting`);
  }
  const fallback = parameters.get("fallback_application_name");
  if (!out.has("application_name") && fallback !== undefined) out.set("application_name", fallback);
  return out;
}

/**
 * The gateway's parser reads SQL as UTF-8, so the server must too: a client encoding such as
 * SJIS, GBK or BIG5 turns bytes the gateway reads as a backslash or a quote into parts of
 * other characters. Names are compared as PostgreSQL does (case and punctuation ignored;
 * "unicode" is its alias of UTF8). SQL_ASCII (no conversion), which an interactive psql sends
 * in the C locale, is asked for as UTF8: the server then reads the same bytes the same way and
 * only checks that they are valid UTF-8. Upstream, the gateway asks for UTF8 in every case.
 */
export function clientEncoding(value: string): "UTF8" | StartupRefusal {
  const clean = value.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (clean === "utf8" || clean === "unicode" || clean === "sqlascii") return "UTF8";
  return new StartupRefusal(
    "0A000",
    `startup parameter "client_encoding" is refused: the gateway reads SQL as UTF8 and the server must read it the same way (got "${value.slice(0, 64)}"); connect with client_encoding=UTF8`,
  );
}
