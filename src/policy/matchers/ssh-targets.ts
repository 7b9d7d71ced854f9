// The non-command objects of SSH requests in the forms rules match: SFTP paths (already
// normalised by the target; anything else is refused, not repaired) and forward destinations
// (host:port with the host in the canonical form of the URL standard, so that 127.1, 0x7f.0.0.1,
// 2130706433 and [::ffff:127.0.0.1] are all 127.0.0.1 and a deny rule about one catches them all).
import { GatewayError } from "../../core/errors.ts";
import { compileGlob } from "../glob.ts";

/** An absolute path with no empty, "." or ".." segment and no control character; else null. */
export function normalisedSftpPath(path: string | undefined): string | null {
  if (path === undefined || !path.startsWith("/")) return null;
  if (/[\u0000-\u001f\u007f]/.test(path)) return null;
  if (path === "/") return path;
  const segs = path.slice(1).split("/");
  if (segs.some((s) => s === "" || s === "." || s === "..")) return null;
  return path;
}

export interface Destination {
  /** Canonical host: lower-case name, dotted-quad IPv4, or [v6]. */
  readonly host: string;
  readonly port: number;
}

function canonicalHost(host: string): string | null {
  if (host === "" || /[\s/?#@\\%]/.test(host)) return null;
  let h: string;
  try {
    h = new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
  if (h.endsWith(".")) h = h.slice(0, -1);
  // An IPv4-mapped IPv6 address reaches the IPv4 host.
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(h);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    h = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return h === "" ? null : h;
}

/** "host:port" or "[v6]:port" in canonical form; null when it is not one. */
export function parseDestination(text: string | undefined): Destination | null {
  if (text === undefined) return null;
  const i = text.lastIndexOf(":");
  if (i <= 0) return null;
  const portText = text.slice(i + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  let host = text.slice(0, i);
  if (host.includes(":") && !(host.startsWith("[") && host.endsWith("]"))) host = `[${host}]`;
  const h = canonicalHost(host);
  return h === null ? null : { host: h, port };
}

export type DestinationPredicate = (d: Destination) => boolean;

/** "HOST:PORT" globs: `*` within one label of the host, `**` across labels; the port a number, lo-hi or `*`. */
export function compileDestinations(patterns: readonly string[]): DestinationPredicate {
  const tests = patterns.map((p): DestinationPredicate => {
    const bad = (why: string) => new GatewayError("E_POLICY_INVALID", `invalid destination "${p}": ${why} (expected HOST:PORT, e.g. db.internal:5432 or *.internal:*)`);
    const i = p.lastIndexOf(":");
    if (i <= 0) throw bad("no port");
    const portText = p.slice(i + 1);
    let port: (n: number) => boolean;
    if (portText === "*") port = () => true;
    else {
      const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(portText);
      if (!m) throw bad(`port "${portText}" is not a number, a range lo-hi or *`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo < 1 || hi > 65535 || lo > hi) throw bad(`port "${portText}" is out of range`);
      port = (n) => n >= lo && n <= hi;
    }
    const hostText = p.slice(0, i);
    let host: (h: string) => boolean;
    if (hostText.startsWith("[") || hostText.includes(":")) {
      const h = canonicalHost(hostText.startsWith("[") ? hostText : `[${hostText}]`);
      if (h === null) throw bad(`"${hostText}" is not an IPv6 address`);
      host = (x) => x === h;
    } else if (/[*?]/.test(hostText)) {
      const g = compileGlob(hostText.toLowerCase(), { separator: "." });
      host = (x) => g(x);
    } else {
      const h = canonicalHost(hostText);
      if (h === null) throw bad(`"${hostText}" is not a host name or address`);
      host = (x) => x === h;
    }
    return (d) => port(d.port) && host(d.host);
  });
  return (d) => tests.some((t) => t(d));
}
