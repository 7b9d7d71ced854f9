// What an SFTP server sends, typed: parseSftpReply reads one packet body, encodeSftpReply writes
// one packet (the filter's own refusals, tests). EXTENDED_REPLY stays raw: its layout depends on
// the request it answers, which only the caller knows.
import { MalformedSftp, SftpReader, SftpWriter } from "./sftp-bytes.ts";
import { type SftpAttrs, readAttrs, writeAttrs } from "./sftp-attrs.ts";
import { SftpPacketType, describePacketType } from "./sftp-constants.ts";

export interface SftpNameEntry {
  readonly filename: string;
  readonly longname: string;
  readonly attrs: SftpAttrs;
}

export type SftpReply =
  | { readonly type: "VERSION"; readonly version: number; readonly extensions: readonly (readonly [string, string])[] }
  | { readonly type: "STATUS"; readonly id: number; readonly code: number; readonly message: string; readonly language: string }
  | { readonly type: "HANDLE"; readonly id: number; readonly handle: Uint8Array }
  | { readonly type: "DATA"; readonly id: number; readonly data: Uint8Array }
  | { readonly type: "NAME"; readonly id: number; readonly entries: readonly SftpNameEntry[] }
  | { readonly type: "ATTRS"; readonly id: number; readonly attrs: SftpAttrs }
  | { readonly type: "EXTENDED_REPLY"; readonly id: number; readonly data: Uint8Array };

function readReply(type: number, r: SftpReader): SftpReply {
  if (type === SftpPacketType.VERSION) {
    const version = r.u32("version");
    const extensions: (readonly [string, string])[] = [];
    while (r.remaining > 0) extensions.push([r.text("extension name"), r.text("extension version")]);
    return { type: "VERSION", version, extensions };
  }
  const id = r.u32("request id");
  switch (type) {
    case SftpPacketType.STATUS: {
      const code = r.u32("status code");
      // draft-02 servers may stop after the code; OpenSSH always sends message and language.
      const message = r.remaining > 0 ? r.text("status message") : "";
      const language = r.remaining > 0 ? r.text("language tag") : "";
      return { type: "STATUS", id, code, message, language };
    }
    case SftpPacketType.HANDLE:
      return { type: "HANDLE", id, handle: r.bytesString("handle") };
    case SftpPacketType.DATA:
      return { type: "DATA", id, data: r.bytesString("data") };
    case SftpPacketType.NAME: {
      const count = r.u32("name count");
      const entries: SftpNameEntry[] = [];
      for (let i = 0; i < count; i++) entries.push({ filename: r.text("file name"), longname: r.text("long name"), attrs: readAttrs(r) });
      return { type: "NAME", id, entries };
    }
    case SftpPacketType.ATTRS:
      return { type: "ATTRS", id, attrs: readAttrs(r) };
    case SftpPacketType.EXTENDED_REPLY:
      return { type: "EXTENDED_REPLY", id, data: r.rest() };
  }
  throw new MalformedSftp(`unknown SFTP reply ${describePacketType(type)}`);
}

/** One server packet body (type byte first) → a reply. Throws MalformedSftp. */
export function parseSftpReply(body: Uint8Array): SftpReply {
  const r = new SftpReader(body);
  const type = r.u8("type");
  const reply = readReply(type, r);
  r.end(describePacketType(type));
  return reply;
}

/** One whole packet (length prefix included) for a reply. */
export function encodeSftpReply(reply: SftpReply): Uint8Array {
  const w = new SftpWriter().u8(SftpPacketType[reply.type]);
  if (reply.type === "VERSION") {
    w.u32(reply.version);
    for (const [name, version] of reply.extensions) w.string(name).string(version);
    return w.finish();
  }
  w.u32(reply.id);
  switch (reply.type) {
    case "STATUS":
      w.u32(reply.code).string(reply.message).string(reply.language);
      break;
    case "HANDLE":
      w.bytes(reply.handle);
      break;
    case "DATA":
      w.bytes(reply.data);
      break;
    case "NAME":
      w.u32(reply.entries.length);
      for (const e of reply.entries) writeAttrs(w.string(e.filename).string(e.longname), e.attrs);
      break;
    case "ATTRS":
      writeAttrs(w, reply.attrs);
      break;
    case "EXTENDED_REPLY":
      w.raw(reply.data);
      break;
  }
  return w.finish();
}

/** The status packet the gateway answers a refused request with (message in English, "en"). */
export function encodeSftpStatus(id: number, code: number, message: string): Uint8Array {
  return encodeSftpReply({ type: "STATUS", id, code, message, language: "en" });
}
