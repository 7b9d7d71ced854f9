// The SSH messages the gateway sends with a text of its own, which ssh2's public API sends only
// without one: DISCONNECT with a description (OpenSSH prints "Received disconnect from …: TEXT"),
// USERAUTH_BANNER (printed before the login goes on), and CHANNEL_OPEN_FAILURE with the reason
// code and description the gateway chose (ssh -L prints "open failed: administratively
// prohibited: TEXT"). They are built with the connection's own packet writer (ssh2 1.17).
import type { Connection } from "ssh2";
import { sendPacket } from "ssh2/lib/protocol/utils.js";

/** SSH_MSG_* numbers (RFC 4253, 4252, 4254) and the reason codes used here. */
export const MESSAGE = { DISCONNECT: 1, USERAUTH_BANNER: 53 } as const;
export const DISCONNECT_REASON = { PROTOCOL_ERROR: 2, HOST_KEY_NOT_VERIFIABLE: 9, BY_APPLICATION: 11, TOO_MANY_CONNECTIONS: 12, NO_MORE_AUTH_METHODS_AVAILABLE: 14 } as const;
export const OPEN_FAILURE = { ADMINISTRATIVELY_PROHIBITED: 1, CONNECT_FAILED: 2, UNKNOWN_CHANNEL_TYPE: 3, RESOURCE_SHORTAGE: 4 } as const;

interface PacketWriter {
  readonly allocStart: number;
  readonly allocStartKEX: number;
  alloc(size: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}
interface Protocol {
  readonly _packetRW: { readonly write: PacketWriter };
  channelOpenFail(remote: number, reason: number, desc?: string): void;
}

function protocolOf(conn: Connection): Protocol | null {
  const proto = (conn as unknown as { _protocol?: Protocol })._protocol;
  return proto?._packetRW?.write ? proto : null;
}

/** A message of uint32 fields then strings (each: uint32 length, UTF-8 bytes). */
function send(conn: Connection, type: number, uints: readonly number[], strings: readonly string[], anytime: boolean): void {
  const proto = protocolOf(conn);
  if (proto === null) return;
  const w = proto._packetRW.write;
  const bytes = strings.map((s) => Buffer.from(s, "utf8"));
  const len = 1 + 4 * uints.length + bytes.reduce((n, b) => n + 4 + b.length, 0);
  let p = anytime ? w.allocStartKEX : w.allocStart;
  const packet = w.alloc(len, anytime);
  packet[p++] = type;
  for (const u of uints) p = packet.writeUInt32BE(u, p);
  for (const b of bytes) {
    p = packet.writeUInt32BE(b.length, p);
    p += b.copy(packet, p);
  }
  sendPacket(proto, w.finalize(packet, anytime), anytime);
}

/** Strips what a terminal would act on (escape sequences) and caps the length; ssh shows the text raw. */
function plain(text: string, max = 1000): string {
  // eslint-disable-next-line no-control-regex
  const t = text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "?");
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

/** Ends the connection with a reason the client shows, then closes the socket. */
export function disconnectWithMessage(conn: Connection, reason: number, text: string): void {
  try {
    send(conn, MESSAGE.DISCONNECT, [reason], [plain(text), ""], true);
  } catch {
    // The connection is going away either way.
  }
  conn.end();
}

/** A banner the client prints during login (before the next authentication reply). */
export function sendAuthBanner(conn: Connection, text: string): void {
  send(conn, MESSAGE.USERAUTH_BANNER, [], [`${plain(text)}\r\n`, ""], false);
}

/**
 * Calls `reject` (ssh2's refusal of a channel open, which says only "connect failed") so that
 * the failure goes out with `reason` and `text` instead.
 */
export function rejectChannelOpen(conn: Connection, reject: () => void, reason: number, text: string): void {
  const proto = protocolOf(conn);
  if (proto === null) return reject();
  const original = proto.channelOpenFail;
  proto.channelOpenFail = (remote: number) => original.call(proto, remote, reason, plain(text, 400));
  try {
    reject();
  } finally {
    proto.channelOpenFail = original;
  }
}

interface ChannelInternals {
  readonly outgoing: { readonly id: number; readonly state: string };
  readonly _client: { readonly _protocol: { exitStatus(id: number, code: number): void; exitSignal(id: number, name: string, coreDumped: boolean, msg: string): void } };
}

/**
 * exit-status or exit-signal on a caller's session channel, also after its EOF: the upstream
 * often sends EOF before the status, and ssh2's exit() sends nothing once EOF went out.
 */
export function sendExit(channel: unknown, exit: { code?: number; signal?: string; coreDumped?: boolean; message?: string }): void {
  const ch = channel as ChannelInternals;
  if (ch.outgoing.state !== "open" && ch.outgoing.state !== "eof") return;
  const proto = ch._client._protocol;
  if (exit.code !== undefined) proto.exitStatus(ch.outgoing.id, exit.code);
  else if (exit.signal !== undefined) proto.exitSignal(ch.outgoing.id, exit.signal.replace(/^SIG/, ""), exit.coreDumped ?? false, exit.message ?? "");
}
