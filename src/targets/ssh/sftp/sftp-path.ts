// Paths as policy sees them: absolute, with `.`, `..` and repeated slashes collapsed, never above
// "/". This is lexical: symbolic links are resolved by the server, at the time it acts, and the
// gateway cannot see them (a link is itself decided on both ends when it is made; see classify).

/** `path` made absolute against `base` (an absolute directory) and collapsed. */
export function resolveSftpPath(base: string, path: string): string {
  const segments: string[] = [];
  const full = path.startsWith("/") ? path : `${base}/${path}`;
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") segments.pop();
    else segments.push(part);
  }
  return `/${segments.join("/")}`;
}

/**
 * A client's path as policy sees it; null when it is relative and the session's home directory
 * (the server's working directory, where relative paths start) is not known yet.
 * An empty path is the working directory, as sftp-server's REALPATH treats it.
 */
export function normaliseSftpPath(path: string, home: string | null): string | null {
  if (path.startsWith("/")) return resolveSftpPath("/", path);
  if (home === null) return null;
  return resolveSftpPath(home, path);
}

/** The directory holding `path` (an already normalised absolute path). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}
