// What an SFTP client sends, typed: parseSftpRequest reads one packet body, encodeSftpRequest
// writes one packet (tests and the test client use it). Field order follows sftp-server.c,
// which is what the upstream runs; note SYMLINK's reversed arguments (PROTOCOL 4.1).
import { MalformedSftp, SftpReader, SftpWriter } from "./sftp-bytes.ts";
import { type SftpAttrs, readAttrs, writeAttrs } from "./sftp-attrs.ts";
import { SftpExtension, SftpPacketType, describePacketType } from "./sftp-constants.ts";

type Id = { readonly id: number };
type PathReq<T extends string> = Id & { readonly type: T; readonly path: string };
type HandleReq<T extends string> = Id & { readonly type: T; readonly handle: Uint8Array };

export type SftpExtendedRequest =
  | { readonly name: typeof SftpExtension.posixRename | typeof SftpExtension.hardlink; readonly oldPath: string; readonly newPath: string }
  | { readonly name: typeof SftpExtension.statvfs | typeof SftpExtension.expandPath; readonly path: string }
  | { readonly name: typeof SftpExtension.fstatvfs | typeof SftpExtension.fsync; readonly handle: Uint8Array }
  | { readonly name: typeof SftpExtension.lsetstat; readonly path: string; readonly attrs: SftpAttrs }
  | { readonly name: typeof SftpExtension.limits }
  | {
      readonly name: typeof SftpExtension.copyData;
      readonly readHandle: Uint8Array;
      readonly readOffset: bigint;
      readonly readLength: bigint;
      readonly writeHandle: Uint8Array;
      readonly writeOffset: bigint;
    }
  | { readonly name: typeof SftpExtension.homeDirectory; readonly username: string }
  | { readonly name: typeof SftpExtension.usersGroupsById; readonly uids: readonly number[]; readonly gids: readonly number[] }
  /** An extension the gateway does not know: never forwarded. */
  | { readonly name: string; readonly unknown: true; readonly data: Uint8Array };

export type SftpRequest =
  | { readonly type: "INIT"; readonly version: number; readonly extensions: readonly (readonly [string, Uint8Array])[] }
  | (PathReq<"OPEN"> & { readonly pflags: number; readonly attrs: SftpAttrs })
  | HandleReq<"CLOSE">
  | (HandleReq<"READ"> & { readonly offset: bigint; readonly length: number })
  | (HandleReq<"WRITE"> & { readonly offset: bigint; readonly data: Uint8Array })
  | PathReq<"LSTAT">
  | HandleReq<"FSTAT">
  | (PathReq<"SETSTAT"> & { readonly attrs: SftpAttrs })
  | (HandleReq<"FSETSTAT"> & { readonly attrs: SftpAttrs })
  | PathReq<"OPENDIR">
  | HandleReq<"READDIR">
  | PathReq<"REMOVE">
  | (PathReq<"MKDIR"> & { readonly attrs: SftpAttrs })
  | PathReq<"RMDIR">
  | PathReq<"REALPATH">
  | PathReq<"STAT">
  | (Id & { readonly type: "RENAME"; readonly oldPath: string; readonly newPath: string })
  | PathReq<"READLINK">
  /** OpenSSH order: the link's target first, then the link's own path. */
  | (Id & { readonly type: "SYMLINK"; readonly targetPath: string; readonly linkPath: string })
  | (Id & { readonly type: "EXTENDED"; readonly request: SftpExtendedRequest });

/** A packet we can frame but not read: answered with a status (when it has an id), never forwarded. */
export interface SftpInvalidRequest {
  readonly type: "invalid";
  readonly packetType: number;
  /** Absent when the packet is too short to hold one; the filter then closes the session. */
  readonly id?: number;
  readonly reason: string;
  /** The packet type is not one SFTP v3 defines (as opposed to a known type with bad fields). */
  readonly unknownType?: true;
}

const PATH_TYPES = {
  [SftpPacketType.LSTAT]: "LSTAT",
  [SftpPacketType.OPENDIR]: "OPENDIR",
  [SftpPacketType.REMOVE]: "REMOVE",
  [SftpPacketType.RMDIR]: "RMDIR",
  [SftpPacketType.REALPATH]: "REALPATH",
  [SftpPacketType.STAT]: "STAT",
  [SftpPacketType.READLINK]: "READLINK",
} as const;
const HANDLE_TYPES = {
  [SftpPacketType.CLOSE]: "CLOSE",
  [SftpPacketType.FSTAT]: "FSTAT",
  [SftpPacketType.READDIR]: "READDIR",
} as const;

function u32List(bytes: Uint8Array, what: string): number[] {
  if (bytes.length % 4 !== 0) throw new MalformedSftp(`${what} is not a list of uint32`);
  const r = new SftpReader(bytes);
  const out: number[] = [];
  while (r.remaining > 0) out.push(r.u32(what));
  return out;
}

function readExtended(r: SftpReader): SftpExtendedRequest {
  const name = r.text("extension name");
  switch (name) {
    case SftpExtension.posixRename:
    case SftpExtension.hardlink:
      return { name, oldPath: r.path("old path"), newPath: r.path("new path") };
    case SftpExtension.statvfs:
    case SftpExtension.expandPath:
      return { name, path: r.path("path") };
    case SftpExtension.fstatvfs:
    case SftpExtension.fsync:
      return { name, handle: r.bytesString("handle") };
    case SftpExtension.lsetstat:
      return { name, path: r.path("path"), attrs: readAttrs(r) };
    case SftpExtension.limits:
      return { name };
    case SftpExtension.copyData:
      return {
        name,
        readHandle: r.bytesString("read-from handle"),
        readOffset: r.u64("read-from offset"),
        readLength: r.u64("read length"),
        writeHandle: r.bytesString("write-to handle"),
        writeOffset: r.u64("write-to offset"),
      };
    case SftpExtension.homeDirectory:
      return { name, username: r.path("user name") };
    case SftpExtension.usersGroupsById:
      return { name, uids: u32List(r.bytesString("uids"), "uids"), gids: u32List(r.bytesString("gids"), "gids") };
    default:
      return { name, unknown: true, data: r.rest() };
  }
}

function readBody(type: number, id: number, r: SftpReader): SftpRequest | null {
  switch (type) {
    case SftpPacketType.OPEN:
      return { type: "OPEN", id, path: r.path("path"), pflags: r.u32("pflags"), attrs: readAttrs(r) };
    case SftpPacketType.READ:
      return { type: "READ", id, handle: r.bytesString("handle"), offset: r.u64("offset"), length: r.u32("length") };
    case SftpPacketType.WRITE:
      return { type: "WRITE", id, handle: r.bytesString("handle"), offset: r.u64("offset"), data: r.bytesString("data") };
    case SftpPacketType.SETSTAT:
      return { type: "SETSTAT", id, path: r.path("path"), attrs: readAttrs(r) };
    case SftpPacketType.FSETSTAT:
      return { type: "FSETSTAT", id, handle: r.bytesString("handle"), attrs: readAttrs(r) };
    case SftpPacketType.MKDIR:
      return { type: "MKDIR", id, path: r.path("path"), attrs: readAttrs(r) };
    case SftpPacketType.RENAME:
      return { type: "RENAME", id, oldPath: r.path("old path"), newPath: r.path("new path") };
    case SftpPacketType.SYMLINK:
      return { type: "SYMLINK", id, targetPath: r.path("target path"), linkPath: r.path("link path") };
    case SftpPacketType.EXTENDED:
      return { type: "EXTENDED", id, request: readExtended(r) };
  }
  const pathType = PATH_TYPES[type as keyof typeof PATH_TYPES];
  if (pathType !== undefined) return { type: pathType, id, path: r.path("path") };
  const handleType = HANDLE_TYPES[type as keyof typeof HANDLE_TYPES];
  if (handleType !== undefined) return { type: handleType, id, handle: r.bytesString("handle") };
  return null;
}

/** One client packet body (type byte first) → a request, or why it cannot be read. */
export function parseSftpRequest(body: Uint8Array): SftpRequest | SftpInvalidRequest {
  const r = new SftpReader(body);
  const type = r.u8("type");
  if (type === SftpPacketType.INIT) {
    try {
      const version = r.u32("version");
      const extensions: (readonly [string, Uint8Array])[] = [];
      while (r.remaining > 0) extensions.push([r.text("extension name"), r.bytesString("extension data")]);
      return { type: "INIT", version, extensions };
    } catch (e) {
      if (e instanceof MalformedSftp) return { type: "invalid", packetType: type, reason: `INIT: ${e.reason}` };
      throw e;
    }
  }
  if (r.remaining < 4) return { type: "invalid", packetType: type, reason: `${describePacketType(type)} is too short to hold a request id` };
  const id = r.u32("request id");
  try {
    const req = readBody(type, id, r);
    if (req === null) return { type: "invalid", packetType: type, id, reason: `unknown SFTP request ${describePacketType(type)}`, unknownType: true };
    if (!(req.type === "EXTENDED" && "unknown" in req.request)) r.end(describePacketType(type));
    return req;
  } catch (e) {
    if (e instanceof MalformedSftp) return { type: "invalid", packetType: type, id, reason: `${describePacketType(type)}: ${e.reason}` };
    throw e;
  }
}

function writeExtended(w: SftpWriter, e: SftpExtendedRequest): void {
  w.string(e.name);
  if ("unknown" in e) {
    w.raw(e.data);
    return;
  }
  switch (e.name) {
    case SftpExtension.posixRename:
    case SftpExtension.hardlink:
      w.string(e.oldPath).string(e.newPath);
      return;
    case SftpExtension.statvfs:
    case SftpExtension.expandPath:
      w.string(e.path);
      return;
    case SftpExtension.fstatvfs:
    case SftpExtension.fsync:
      w.bytes(e.handle);
      return;
    case SftpExtension.lsetstat:
      writeAttrs(w.string(e.path), e.attrs);
      return;
    case SftpExtension.limits:
      return;
    case SftpExtension.copyData:
      w.bytes(e.readHandle).u64(e.readOffset).u64(e.readLength).bytes(e.writeHandle).u64(e.writeOffset);
      return;
    case SftpExtension.homeDirectory:
      w.string(e.username);
      return;
    case SftpExtension.usersGroupsById: {
      const ids = (list: readonly number[]) => {
        const l = new SftpWriter();
        for (const n of list) l.u32(n);
        return l.finish().subarray(4);
      };
      w.bytes(ids(e.uids)).bytes(ids(e.gids));
      return;
    }
  }
}

/** One whole packet (length prefix included) for a request. */
export function encodeSftpRequest(req: SftpRequest): Uint8Array {
  const w = new SftpWriter().u8(SftpPacketType[req.type]);
  if (req.type === "INIT") {
    w.u32(req.version);
    for (const [name, data] of req.extensions) w.string(name).bytes(data);
    return w.finish();
  }
  w.u32(req.id);
  switch (req.type) {
    case "OPEN":
      writeAttrs(w.string(req.path).u32(req.pflags), req.attrs);
      break;
    case "READ":
      w.bytes(req.handle).u64(req.offset).u32(req.length);
      break;
    case "WRITE":
      w.bytes(req.handle).u64(req.offset).bytes(req.data);
      break;
    case "SETSTAT":
    case "MKDIR":
      writeAttrs(w.string(req.path), req.attrs);
      break;
    case "FSETSTAT":
      writeAttrs(w.bytes(req.handle), req.attrs);
      break;
    case "RENAME":
      w.string(req.oldPath).string(req.newPath);
      break;
    case "SYMLINK":
      w.string(req.targetPath).string(req.linkPath);
      break;
    case "EXTENDED":
      writeExtended(w, req.request);
      break;
    case "CLOSE":
    case "FSTAT":
    case "READDIR":
      w.bytes(req.handle);
      break;
    default:
      w.string(req.path);
  }
  return w.finish();
}
