// Wire constants of SFTP version 3 as OpenSSH's sftp-server speaks it: draft-ietf-secsh-filexfer-02
// plus the extensions listed in OpenSSH's PROTOCOL file (section 4), with the numbers of sftp.h.

/** The only protocol version the gateway relays (OpenSSH never speaks another). */
export const SFTP_VERSION = 3;

/**
 * Largest packet body (after the 4-byte length) either side may send: sftp-server and the
 * sftp client both drop the connection above SFTP_MAX_MSG_LENGTH (sftp-common.h), 256 KiB.
 */
export const SFTP_MAX_PACKET_LENGTH = 256 * 1024;

/** Packet type bytes (the first byte of every packet body). */
export const SftpPacketType = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;
export type SftpPacketTypeName = keyof typeof SftpPacketType;

/** Status codes of SSH_FXP_STATUS (SSH2_FX_*). */
export const SftpStatus = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** pflags of SSH_FXP_OPEN (SSH2_FXF_*). */
export const SftpOpenFlag = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** Which fields an ATTRS structure carries (SSH2_FILEXFER_ATTR_*). */
export const SftpAttrFlag = {
  SIZE: 0x00000001,
  UIDGID: 0x00000002,
  PERMISSIONS: 0x00000004,
  ACMODTIME: 0x00000008,
  EXTENDED: 0x80000000,
} as const;

/** The extension requests OpenSSH's sftp-server answers (PROTOCOL 4.3 – 4.12), by wire name. */
export const SftpExtension = {
  posixRename: "posix-rename@openssh.com",
  statvfs: "statvfs@openssh.com",
  fstatvfs: "fstatvfs@openssh.com",
  hardlink: "hardlink@openssh.com",
  fsync: "fsync@openssh.com",
  lsetstat: "lsetstat@openssh.com",
  limits: "limits@openssh.com",
  expandPath: "expand-path@openssh.com",
  copyData: "copy-data",
  homeDirectory: "home-directory",
  usersGroupsById: "users-groups-by-id@openssh.com",
} as const;
export type SftpExtensionName = (typeof SftpExtension)[keyof typeof SftpExtension];

/** sftp-server refuses an ATTRS with more extended pairs than this (decode_attrib). */
export const SFTP_MAX_ATTR_EXTENSIONS = 0x100000;

/** sftp-server reads a handle only when it is shorter than this (get_handle). */
export const SFTP_MAX_HANDLE_LENGTH = 256;

const TYPE_NAMES = new Map<number, string>(Object.entries(SftpPacketType).map(([k, v]) => [v, k]));
/** "OPEN (3)" for messages; "type 99" for a number the protocol does not define. */
export function describePacketType(type: number): string {
  const name = TYPE_NAMES.get(type);
  return name === undefined ? `type ${type}` : `${name} (${type})`;
}
