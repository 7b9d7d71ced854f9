// Maps each SFTP request onto the policy's vocabulary (read, write, remove, rename, mkdir, list,
// setstat on normalised absolute paths): the checks to decide before it is forwarded, or why it
// is refused outright. Pure: the filter supplies the home directory and its table of handles.
import type { SftpOperation } from "../../../core/types.ts";
import { SftpExtension, SftpOpenFlag, SftpStatus } from "./sftp-constants.ts";
import { normaliseSftpPath, parentOf, resolveSftpPath } from "./sftp-path.ts";
import type { SftpRequest } from "./sftp-requests.ts";

/** One question to the policy: may the caller do `operation` on `path`? */
export interface SftpCheck {
  readonly operation: SftpOperation;
  /** Normalised absolute path the operation acts on. */
  readonly path: string;
  /** The other end of a rename (its new name) or of a link (what it points to). */
  readonly toPath?: string;
  /** The SFTP request this check comes from: "OPEN", "RENAME", "posix-rename@openssh.com" … */
  readonly request: string;
}

/** What the filter knows of a handle the server gave out (learned from its HANDLE reply). */
export interface SftpHandleInfo {
  readonly kind: "file" | "dir";
  readonly path: string;
  /** What the OPEN / OPENDIR was allowed for: read and/or write for files, list for directories. */
  readonly operations: readonly SftpOperation[];
  /** A CLOSE was forwarded: the handle is no longer usable through the gateway. */
  readonly closing: boolean;
}

export interface ClassifyContext {
  /** The server's working directory (normalised), where relative paths start; null until known. */
  readonly home: string | null;
  handle(handle: Uint8Array): SftpHandleInfo | undefined;
}

/**
 * Something to ask the server before deciding: STAT (following links) or LSTAT `path`, and refuse
 * when it turns out to be `refuseIf` (or cannot be told; a missing path is fine).
 */
export interface SftpProbe {
  readonly request: "STAT" | "LSTAT";
  readonly path: string;
  readonly refuseIf: "directory" | "symlink";
  readonly message: string;
}

export type SftpPlan =
  /** Decide every check (all must allow), then forward. `opens` is what a HANDLE reply will stand for. */
  | { readonly kind: "decide"; readonly checks: readonly SftpCheck[]; readonly opens?: Omit<SftpHandleInfo, "closing">; readonly probe?: SftpProbe }
  /** Forward without asking: covered by an earlier decision, or reveals nothing of the files. */
  | { readonly kind: "forward"; readonly learnHome?: boolean }
  /** Answer with this status, forward nothing. */
  | { readonly kind: "refuse"; readonly code: number; readonly message: string }
  /** A relative path while the home directory is not known yet. */
  | { readonly kind: "needs-home" };

const refuse = (message: string, code: number = SftpStatus.PERMISSION_DENIED): SftpPlan => ({ kind: "refuse", code, message });

/** The operations an OPEN's pflags ask for, as sftp-server maps them to open(2) flags. */
export function openOperations(pflags: number): SftpOperation[] {
  const ops: SftpOperation[] = [];
  // flags_from_portable: no READ and no WRITE still opens O_RDONLY.
  if (pflags & SftpOpenFlag.READ || !(pflags & SftpOpenFlag.WRITE)) ops.push("read");
  // CREAT and TRUNC change the file even without WRITE (O_RDONLY|O_TRUNC truncates).
  if (pflags & (SftpOpenFlag.WRITE | SftpOpenFlag.APPEND | SftpOpenFlag.CREAT | SftpOpenFlag.TRUNC)) ops.push("write");
  return ops;
}

function hex(h: Uint8Array): string {
  return Buffer.from(h).toString("hex");
}

/** A handle op is covered by the OPEN's decision when the handle was opened for `need`. */
function useHandle(ctx: ClassifyContext, handle: Uint8Array, need: SftpOperation | "any", kind: "file" | "dir" | "any", request: string): SftpPlan | SftpHandleInfo {
  const info = ctx.handle(handle);
  // A handle the gateway did not see the server give out was never decided: refuse it.
  if (info === undefined) return refuse(`${request}: unknown handle ${hex(handle)}`);
  if (info.closing) return refuse(`${request}: handle ${hex(handle)} is being closed`);
  if (kind !== "any" && info.kind !== kind) return refuse(`${request}: handle of ${info.path} is a ${info.kind === "dir" ? "directory" : "file"} handle`);
  if (need !== "any" && !info.operations.includes(need)) {
    return refuse(`${request}: ${info.path} was opened for ${info.operations.join(" and ")}, not ${need}`);
  }
  return info;
}

const isInfo = (r: SftpPlan | SftpHandleInfo): r is SftpHandleInfo => "operations" in r;

/** Forward a request whose handles all check out; else the refusal. */
function handleOnly(r: SftpPlan | SftpHandleInfo): SftpPlan {
  return isInfo(r) ? { kind: "forward" } : r;
}

export function classifySftpRequest(req: Exclude<SftpRequest, { type: "INIT" }>, ctx: ClassifyContext): SftpPlan {
  const home = ctx.home;
  // Every path below goes through here; a relative one waits for (or is refused without) the home.
  const abs = (p: string): string => {
    const n = normaliseSftpPath(p, home);
    if (n === null) throw NEEDS_HOME;
    return n;
  };
  const one = (operation: SftpOperation, path: string, request: string = req.type): SftpPlan => ({ kind: "decide", checks: [{ operation, path: abs(path), request }] });
  try {
    switch (req.type) {
      case "OPEN": {
        const path = abs(req.path);
        const operations = openOperations(req.pflags);
        return { kind: "decide", checks: operations.map((operation) => ({ operation, path, request: "OPEN" })), opens: { kind: "file", path, operations } };
      }
      case "OPENDIR": {
        const path = abs(req.path);
        return { kind: "decide", checks: [{ operation: "list", path, request: "OPENDIR" }], opens: { kind: "dir", path, operations: ["list"] } };
      }
      case "REALPATH":
        // The client's first question is where it is; the answer is the home directory itself,
        // which the gateway needs to place relative paths. It reveals nothing else.
        if (home === null && (req.path === "." || req.path === "")) return { kind: "forward", learnHome: true };
        return one("list", req.path);
      case "STAT":
      case "LSTAT":
      case "READLINK":
        return one("list", req.path);
      case "REMOVE":
      case "RMDIR":
        return one("remove", req.path);
      case "MKDIR":
        return one("mkdir", req.path);
      case "SETSTAT":
        return one("setstat", req.path);
      case "RENAME":
        return renameChecks(abs(req.oldPath), abs(req.newPath), "RENAME");
      case "SYMLINK": {
        const link = abs(req.linkPath);
        // The kernel reads a relative target from the link's directory (OpenSSH passes it to
        // symlink(2) unchanged), so moving the link, or a directory above it, would point it
        // elsewhere after it was decided. Only absolute targets keep meaning what was decided.
        if (!req.targetPath.startsWith("/")) {
          const meant = resolveSftpPath(parentOf(link), req.targetPath);
          return refuse(`SYMLINK: the gateway makes symbolic links with absolute targets only ("${req.targetPath}" would point elsewhere once the link moves): use "${meant}"`);
        }
        const target = resolveSftpPath("/", req.targetPath);
        return {
          ...linkChecks(link, target, "SYMLINK"),
          probe: { request: "STAT", path: target, refuseIf: "directory", message: `SYMLINK: ${target} is a directory, and a link to it would carry the paths under it past the policy` },
        };
      }
      case "CLOSE":
        return handleOnly(useHandle(ctx, req.handle, "any", "any", "CLOSE"));
      case "READ":
        return handleOnly(useHandle(ctx, req.handle, "read", "file", "READ"));
      case "WRITE":
        return handleOnly(useHandle(ctx, req.handle, "write", "file", "WRITE"));
      case "FSTAT":
        // Metadata of a file the caller was allowed to open: covered by that OPEN, like READ.
        return handleOnly(useHandle(ctx, req.handle, "any", "any", "FSTAT"));
      case "READDIR":
        return handleOnly(useHandle(ctx, req.handle, "list", "dir", "READDIR"));
      case "FSETSTAT": {
        // Opening a file for reading does not allow changing its mode or owner: decide setstat.
        const info = useHandle(ctx, req.handle, "any", "any", "FSETSTAT");
        if (!isInfo(info)) return info;
        return { kind: "decide", checks: [{ operation: "setstat", path: info.path, request: "FSETSTAT" }] };
      }
      case "EXTENDED":
        return classifyExtended(req.request, ctx, abs, one);
    }
  } catch (e) {
    if (e === NEEDS_HOME) return { kind: "needs-home" };
    throw e;
  }
}

const NEEDS_HOME = Symbol("needs-home");

/**
 * A rename is decided on both names: once as the source (path, with its new name as toPath, which
 * is what the record shows) and once for the new name alone, so a rule that only looks at `path`
 * cannot be used to move a file out of, or into, the paths it covers.
 */
function renameChecks(from: string, to: string, request: string): SftpPlan {
  return { kind: "decide", checks: [{ operation: "rename", path: from, toPath: to, request }, { operation: "rename", path: to, request }] };
}

/**
 * A link (symbolic or hard) is a write of its own name, pointing at toPath. It is also decided as
 * a write of what it points to: through the link, every later operation on the link's path acts on
 * the target, which policy would see only under the link's name. Without the second check a caller
 * allowed to write in /tmp could link /tmp/x to /etc/passwd and then write it as "/tmp/x".
 * A symbolic link to a directory would do the same for every path under it, which no single check
 * can cover: the filter asks the server first (the probe) and refuses those.
 * What stays the server's business: links made outside the gateway, and changes other processes
 * make between the probe and the link (policy is lexical; hard boundaries are file permissions).
 */
function linkChecks(link: string, target: string, request: string): Extract<SftpPlan, { kind: "decide" }> {
  return { kind: "decide", checks: [{ operation: "write", path: link, toPath: target, request }, { operation: "write", path: target, request }] };
}

function classifyExtended(
  e: Extract<SftpRequest, { type: "EXTENDED" }>["request"],
  ctx: ClassifyContext,
  abs: (p: string) => string,
  one: (operation: SftpOperation, path: string, request?: string) => SftpPlan,
): SftpPlan {
  if ("unknown" in e) return refuse(`SFTP extension "${e.name}" is not allowed by the gateway`);
  switch (e.name) {
    case SftpExtension.posixRename:
      return renameChecks(abs(e.oldPath), abs(e.newPath), e.name);
    case SftpExtension.hardlink: {
      // link(2) reads both names from the working directory. A hard link to a symbolic link is a
      // new symbolic link (with the same, possibly relative, target) that was never decided.
      const old = abs(e.oldPath);
      return {
        ...linkChecks(abs(e.newPath), old, e.name),
        probe: { request: "LSTAT", path: old, refuseIf: "symlink", message: `${e.name}: ${old} is a symbolic link; the gateway does not copy symbolic links by hard link` },
      };
    }
    case SftpExtension.statvfs:
      return one("list", e.path, e.name);
    case SftpExtension.lsetstat:
      return one("setstat", e.path, e.name);
    case SftpExtension.expandPath: {
      // sftp-server expands "~" and "~/…" to its working directory; "~user" to that user's home,
      // which the gateway cannot know, so it refuses to guess.
      const p = e.path;
      if (p === "~" || p === "") return one("list", ".", e.name);
      if (p.startsWith("~/")) return one("list", p.slice(2), e.name);
      if (p.startsWith("~")) return refuse(`${e.name}: the gateway cannot tell where "${p.split("/")[0]}" is`);
      return one("list", p, e.name);
    }
    case SftpExtension.homeDirectory:
      if (e.username !== "") return refuse(`${e.name}: the gateway cannot tell where user "${e.username}"'s home directory is`);
      if (ctx.home === null) return { kind: "forward" };
      return one("list", ".", e.name);
    case SftpExtension.fstatvfs:
      return handleOnly(useHandle(ctx, e.handle, "any", "any", e.name));
    case SftpExtension.fsync:
      return handleOnly(useHandle(ctx, e.handle, "write", "file", e.name));
    case SftpExtension.copyData: {
      const from = useHandle(ctx, e.readHandle, "read", "file", e.name);
      if (!isInfo(from)) return from;
      return handleOnly(useHandle(ctx, e.writeHandle, "write", "file", e.name));
    }
    case SftpExtension.limits:
    case SftpExtension.usersGroupsById:
      // Server limits and the names of user and group ids: nothing of the files themselves.
      return { kind: "forward" };
  }
}
