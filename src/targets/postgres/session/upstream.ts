// The gateway's side of the upstream database: open the TCP (and TLS) connection, log in with
// the credential from the configuration (SCRAM-SHA-256, md5, cleartext or trust), and run the
// few queries of its own it needs (simple protocol, text results). The client never sees the
// database password; it only ever talks to the gateway.
import { readFileSync } from "node:fs";
import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { PostgresTarget } from "../../../config/schema.ts";
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import { StreamConnection, connectTcp, type Connection } from "../../../gate/connection.ts";
import type { NoticeFields } from "../protocol/backend-message.ts";
import { parseAuthentication, parseBackendKeyData, parseCommandComplete, parseNoticeFields, parseParameterStatus, parseReadyForQuery } from "../protocol/backend-decoder.ts";
import { parseDataRow } from "../protocol/data-row.ts";
import { encodePasswordMessage, encodeQuery, encodeSASLInitialResponse, encodeSASLResponse, encodeSSLRequest, encodeStartupMessage } from "../protocol/encode.ts";
import { BackendType, EncryptionResponse } from "../protocol/messages.ts";
import { SCRAM_SHA_256, createScramClient, md5Password, type ScramClient } from "../protocol/scram.ts";
import { MessageReader } from "./message-reader.ts";

export type UpstreamConfig = PostgresTarget["upstream"];

export interface UpstreamConnection {
  readonly socket: Connection;
  /** Still attached: use it for queries of the gateway's own, then detach() before relaying. */
  readonly reader: MessageReader;
  readonly processId: number;
  readonly secretKey: Uint8Array;
  /** ParameterStatus values the server reported at login, in order. */
  readonly parameters: ReadonlyMap<string, string>;
  /** Transaction status of the last ReadyForQuery. */
  readonly status: "I" | "T" | "E";
}

/** An ErrorResponse from the upstream, kept whole so the client can be told exactly what it said. */
export class UpstreamError extends GatewayError {
  constructor(
    message: string,
    readonly fields: NoticeFields,
  ) {
    super("E_UPSTREAM", message, { details: { sqlstate: fields.code } });
  }
}

/**
 * How the server must read SQL for the gateway's parser to read it the same way: UTF-8 text
 * and standard_conforming_strings on. The gateway asks for both at login (a startup parameter
 * outranks ALTER ROLE / ALTER DATABASE defaults), refuses a login that reports otherwise, and
 * ends a session whose server reports a change (backend-relay.ts).
 */
export const READING_SETTINGS: ReadonlyMap<string, string> = new Map([
  ["client_encoding", "UTF8"],
  ["standard_conforming_strings", "on"],
]);

/** Why a reported setting breaks the gateway's reading of SQL, or null when it does not. */
export function readingSettingProblem(name: string, value: string | undefined): string | null {
  const wanted = READING_SETTINGS.get(name);
  if (wanted === undefined || value === wanted) return null;
  return (
    `the server reports ${name} = ${value === undefined ? "(nothing)" : JSON.stringify(value.slice(0, 64))}, and the gateway reads SQL ` +
    `with ${[...READING_SETTINGS].map(([k, v]) => `${k} = ${v}`).join(" and ")}: the server could run statements other than the ones the gateway checked`
  );
}

export function upstreamAddress(up: UpstreamConfig): string {
  return `${up.host}:${up.port ?? 5432}`;
}

/**
 * TCP, then TLS when the configuration asks for it. Plain TCP is a Bun socket (the relay's fast
 * path); TLS after the SSLRequest is node:tls, as a StreamConnection.
 */
export async function openUpstreamSocket(up: UpstreamConfig, timeoutMs: number): Promise<Connection> {
  const where = upstreamAddress(up);
  if (up.tls === undefined || up.tls === "disable") {
    try {
      return await connectTcp(up.host, up.port ?? 5432, timeoutMs);
    } catch (e) {
      throw new GatewayError("E_UPSTREAM", `upstream ${where}: ${errorMessage(e)}`, { cause: e });
    }
  }
  const tcp: Socket = await new Promise((resolve, reject) => {
    const s = netConnect({ host: up.host, port: up.port ?? 5432 });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new GatewayError("E_UPSTREAM", `upstream ${where}: connection timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.off("error", onError);
      resolve(s);
    });
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(new GatewayError("E_UPSTREAM", `upstream ${where}: ${e.message}`, { cause: e }));
    };
    s.once("error", onError);
  });
  tcp.setNoDelay(true);
  tcp.write(encodeSSLRequest());
  const answer: Uint8Array = await new Promise((resolve, reject) => {
    tcp.once("data", resolve);
    tcp.once("error", (e) => reject(new GatewayError("E_UPSTREAM", `upstream ${where}: ${e.message}`, { cause: e })));
    tcp.once("close", () => reject(new GatewayError("E_UPSTREAM", `upstream ${where} closed the connection during TLS negotiation`)));
  });
  // Bytes after the one-byte answer would be read as if they came over TLS (CVE-2021-23222).
  if (answer.length !== 1 || answer[0] !== EncryptionResponse.Accept) {
    tcp.destroy();
    throw new GatewayError("E_UPSTREAM", `upstream ${where} does not accept TLS, and the target requires it (upstream.tls: ${up.tls})`);
  }
  const ca = upstreamCa(up.ca);
  return await new Promise<Connection>((resolve, reject) => {
    const s = tlsConnect({
      socket: tcp,
      ...(isIP(up.host) === 0 ? { servername: up.host } : {}),
      rejectUnauthorized: up.tls === "verify-full",
      ...(ca ? { ca } : {}),
    });
    s.once("secureConnect", () => {
      s.off("error", onError);
      resolve(new StreamConnection(s));
    });
    const onError = (e: Error) => {
      s.destroy();
      reject(new GatewayError("E_UPSTREAM", `upstream ${where}: TLS failed: ${e.message}`, { cause: e }));
    };
    s.once("error", onError);
  });
}

/**
 * Connects and logs in as the configured user. `clientParameters` are the startup parameters
 * passed through from the client (application_name, DateStyle …); user and database always
 * come from the configuration, and READING_SETTINGS from the gateway.
 */
export async function connectUpstream(up: UpstreamConfig, clientParameters: ReadonlyMap<string, string>, timeoutMs = 15_000): Promise<UpstreamConnection> {
  const where = upstreamAddress(up);
  const socket = await openUpstreamSocket(up, timeoutMs);
  const reader = new MessageReader(socket, `upstream ${where}`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const login = login_(socket, reader, up, clientParameters);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new GatewayError("E_UPSTREAM", `upstream ${where}: login timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([login, timeout]);
  } catch (e) {
    reader.detach();
    socket.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function login_(socket: Connection, reader: MessageReader, up: UpstreamConfig, clientParameters: ReadonlyMap<string, string>): Promise<UpstreamConnection> {
  const where = upstreamAddress(up);
  const params = new Map<string, string>([["user", up.user], ["database", up.database]]);
  for (const [k, v] of clientParameters) if (k !== "user" && k !== "database") params.set(k, v);
  for (const [k, v] of READING_SETTINGS) params.set(k, v);
  socket.write(encodeStartupMessage(params));

  const password = () => {
    if (up.password === undefined) throw new GatewayError("E_UPSTREAM", `upstream ${where} asks for a password, and the target configures none (upstream.password)`);
    return up.password;
  };
  let scram: ScramClient | null = null;
  let processId = 0;
  let secretKey = new Uint8Array(0);
  const parameters = new Map<string, string>();
  for (;;) {
    const m = await reader.next();
    switch (m.type) {
      case BackendType.Authentication: {
        const a = parseAuthentication(m.body);
        switch (a.type) {
          case "AuthenticationOk":
            if (scram !== null && !scram.verified) throw new GatewayError("E_UPSTREAM", `upstream ${where} ended SCRAM without proving it knows the password`);
            break;
          case "AuthenticationCleartextPassword":
            socket.write(encodePasswordMessage(password()));
            break;
          case "AuthenticationMD5Password":
            socket.write(encodePasswordMessage(md5Password(up.user, password(), a.salt)));
            break;
          case "AuthenticationSASL":
            if (!a.mechanisms.includes(SCRAM_SHA_256)) {
              throw new GatewayError("E_UPSTREAM", `upstream ${where} offers SASL mechanisms ${a.mechanisms.join(", ")}; the gateway speaks ${SCRAM_SHA_256}`);
            }
            scram = createScramClient({ password: password() });
            socket.write(encodeSASLInitialResponse(SCRAM_SHA_256, scram.clientFirstMessage()));
            break;
          case "AuthenticationSASLContinue":
            if (scram === null) throw new GatewayError("E_UPSTREAM", `upstream ${where} sent SASLContinue before SASL`);
            socket.write(encodeSASLResponse(scram.clientFinalMessage(new TextDecoder().decode(a.data))));
            break;
          case "AuthenticationSASLFinal":
            if (scram === null) throw new GatewayError("E_UPSTREAM", `upstream ${where} sent SASLFinal before SASL`);
            scram.verifyServerFinal(new TextDecoder().decode(a.data));
            break;
          default:
            throw new GatewayError("E_UPSTREAM", `upstream ${where} asks for ${a.type}, which the gateway does not support`);
        }
        break;
      }
      case BackendType.ErrorResponse: {
        const fields = parseNoticeFields(m.body);
        throw new UpstreamError(`upstream ${where} refused the login: ${fields.message ?? "(no message)"}`, fields);
      }
      case BackendType.ParameterStatus: {
        const p = parseParameterStatus(m.body);
        parameters.set(p.name, p.value);
        break;
      }
      case BackendType.BackendKeyData: {
        const k = parseBackendKeyData(m.body);
        processId = k.processId;
        secretKey = new Uint8Array(k.secretKey);
        break;
      }
      case BackendType.ReadyForQuery:
        for (const name of READING_SETTINGS.keys()) {
          const problem = readingSettingProblem(name, parameters.get(name));
          if (problem !== null) throw new GatewayError("E_UPSTREAM", `upstream ${where}: ${problem}; session refused`);
        }
        return { socket, reader, processId, secretKey, parameters, status: parseReadyForQuery(m.body).status };
      case BackendType.NoticeResponse:
      case BackendType.NegotiateProtocolVersion:
        break;
      default:
        throw new GatewayError("E_UPSTREAM", `upstream ${where} sent an unexpected message during login (type ${String.fromCharCode(m.type)})`);
    }
  }
}

export interface QueryResult {
  readonly rows: (string | null)[][];
  readonly tag: string;
}

/** Runs one simple query of the gateway's own (text results); an ErrorResponse throws UpstreamError. */
export async function simpleQuery(socket: Connection, reader: MessageReader, sql: string): Promise<QueryResult> {
  socket.write(encodeQuery(sql));
  const rows: (string | null)[][] = [];
  const decoder = new TextDecoder();
  let tag = "";
  let error: NoticeFields | null = null;
  for (;;) {
    const m = await reader.next();
    switch (m.type) {
      case BackendType.DataRow:
        rows.push(parseDataRow(m.body).values.map((v) => (v === null ? null : decoder.decode(v))));
        break;
      case BackendType.CommandComplete:
        tag = parseCommandComplete(m.body).tag;
        break;
      case BackendType.ErrorResponse:
        error = parseNoticeFields(m.body);
        break;
      case BackendType.ReadyForQuery:
        if (error !== null) throw new UpstreamError(`upstream query failed: ${error.message ?? "(no message)"}`, error);
        return { rows, tag };
      case BackendType.CopyInResponse:
      case BackendType.CopyOutResponse:
      case BackendType.CopyBothResponse:
        throw new GatewayError("E_UPSTREAM", "upstream started COPY for a gateway query");
      default:
        // RowDescription, NoticeResponse, ParameterStatus, EmptyQueryResponse …
        break;
    }
  }
}

/** A string literal safe whatever standard_conforming_strings says: E'…' with \ and ' escaped. */
export function sqlLiteral(s: string): string {
  if (s.includes("\0")) throw new GatewayError("E_INTERNAL", "a NUL cannot be in an SQL literal");
  return `E'${s.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/**
 * The CA bundle of `upstream.ca`: the configuration allows the PEM text itself (the loader
 * leaves a value holding "-----BEGIN" as it is) or a file path (made absolute by the loader).
 */
export function upstreamCa(ca: string | undefined): string | Buffer | undefined {
  if (ca === undefined || ca === "") return undefined;
  return ca.includes("-----BEGIN") ? ca : readFileSync(ca);
}
