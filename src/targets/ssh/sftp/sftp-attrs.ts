// The ATTRS structure of draft-02 §5: a flags word saying which fields follow. Kept whole so a
// request can be re-encoded byte for byte (tests) and a setstat can say what it changes.
import { MalformedSftp, type SftpReader, type SftpWriter } from "./sftp-bytes.ts";
import { SFTP_MAX_ATTR_EXTENSIONS, SftpAttrFlag } from "./sftp-constants.ts";

export interface SftpAttrs {
  readonly size?: bigint;
  readonly uid?: number;
  readonly gid?: number;
  readonly permissions?: number;
  readonly atime?: number;
  readonly mtime?: number;
  readonly extended?: readonly (readonly [type: string, data: Uint8Array])[];
}

export function readAttrs(r: SftpReader): SftpAttrs {
  const flags = r.u32("attribute flags");
  const a: { -readonly [K in keyof SftpAttrs]: SftpAttrs[K] } = {};
  if (flags & SftpAttrFlag.SIZE) a.size = r.u64("size");
  if (flags & SftpAttrFlag.UIDGID) {
    a.uid = r.u32("uid");
    a.gid = r.u32("gid");
  }
  if (flags & SftpAttrFlag.PERMISSIONS) a.permissions = r.u32("permissions");
  if (flags & SftpAttrFlag.ACMODTIME) {
    a.atime = r.u32("atime");
    a.mtime = r.u32("mtime");
  }
  if (flags & SftpAttrFlag.EXTENDED) {
    const count = r.u32("extended attribute count");
    if (count > SFTP_MAX_ATTR_EXTENSIONS) throw new MalformedSftp(`${count} extended attributes (sftp-server takes at most ${SFTP_MAX_ATTR_EXTENSIONS})`);
    const ext: (readonly [string, Uint8Array])[] = [];
    for (let i = 0; i < count; i++) ext.push([r.text("extended attribute type"), r.bytesString("extended attribute data")]);
    a.extended = ext;
  }
  return a;
}

export function writeAttrs(w: SftpWriter, a: SftpAttrs): SftpWriter {
  let flags = 0;
  if (a.size !== undefined) flags |= SftpAttrFlag.SIZE;
  if (a.uid !== undefined || a.gid !== undefined) flags |= SftpAttrFlag.UIDGID;
  if (a.permissions !== undefined) flags |= SftpAttrFlag.PERMISSIONS;
  if (a.atime !== undefined || a.mtime !== undefined) flags |= SftpAttrFlag.ACMODTIME;
  if (a.extended !== undefined) flags |= SftpAttrFlag.EXTENDED;
  w.u32(flags);
  if (a.size !== undefined) w.u64(a.size);
  if (flags & SftpAttrFlag.UIDGID) w.u32(a.uid ?? 0).u32(a.gid ?? 0);
  if (a.permissions !== undefined) w.u32(a.permissions);
  if (flags & SftpAttrFlag.ACMODTIME) w.u32(a.atime ?? 0).u32(a.mtime ?? 0);
  if (a.extended !== undefined) {
    w.u32(a.extended.length);
    for (const [type, data] of a.extended) w.string(type).bytes(data);
  }
  return w;
}
