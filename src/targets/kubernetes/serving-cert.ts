// The Kubernetes target's own TLS certificate when the configuration names none: a self-signed
// ECDSA P-256 certificate made at first start and kept in the state folder, so kubeconfigs that
// carry it (gatehouse kubeconfig) stay valid across restarts. Built here from DER by hand: the
// binary has no X.509 library and must not need the openssl CLI.
import { generateKeyPairSync, createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import type { KubernetesTarget } from "../../config/schema.ts";
import { splitListen } from "../../gate/listen.ts";

export interface ServingCert {
  readonly certPem: string;
  readonly keyPem: string;
  /** Where they are kept (null: given by the configuration). */
  readonly dir: string | null;
}

// DER: tag, length, content.
function tlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), content]);
}
const seq = (...parts: Uint8Array[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Uint8Array[]) => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 + n, inner);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const octets = (b: Uint8Array) => tlv(0x04, b);
const bits = (b: Uint8Array, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));

function oid(dotted: string): Uint8Array {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(d: Date): Uint8Array {
  const s = d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
  return tlv(0x17, Buffer.from(s, "ascii"));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split(".").map(Number));
  // IPv6: expand "::" then 8 groups of 16 bits.
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

const ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/** A self-signed certificate (PEM) and its key (PKCS#8 PEM) for these DNS names and IP addresses. */
export function makeSelfSignedCert(commonName: string, hosts: readonly string[], now = new Date()): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const name = seq(set(seq(oid("2.5.4.3"), utf8(commonName))));
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + 10 * 365 * 24 * 60 * 60 * 1000);
  const san = [...new Set(hosts)].map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, "ascii"))));
  const extensions = seq(
    // CA:TRUE so that clients may take it as its own trust anchor (certificate-authority-data).
    seq(oid("2.5.29.19"), bool(true), octets(seq(bool(true)))),
    // digitalSignature and keyCertSign.
    seq(oid("2.5.29.15"), bool(true), octets(bits(Buffer.from([0x84]), 2))),
    seq(oid("2.5.29.37"), octets(seq(oid("1.3.6.1.5.5.7.3.1")))),
    seq(oid("2.5.29.17"), octets(seq(...san))),
  );
  const tbs = seq(
    explicit(0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    seq(oid(ECDSA_SHA256)),
    name,
    seq(utcTime(notBefore), utcTime(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(3, extensions),
  );
  const signature = sign("sha256", tbs, privateKey);
  const der = seq(tbs, seq(oid(ECDSA_SHA256)), bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { certPem, keyPem };
}

/** The hosts a generated certificate covers: loopback, localhost, this machine's name and the listen host. */
export function servingHosts(listenHost: string, hostname: string): string[] {
  const hosts = ["127.0.0.1", "::1", "localhost"];
  if (hostname) hosts.push(hostname);
  if (listenHost && !["0.0.0.0", "::", "*", ""].includes(listenHost)) hosts.push(listenHost);
  return [...new Set(hosts)];
}

/**
 * The certificate in `dir` (tls.crt, tls.key), made on first use. One that no longer covers
 * every host (the listen address changed) or has expired is made again.
 */
export function loadOrCreateServingCert(dir: string, commonName: string, hosts: readonly string[], now = new Date()): ServingCert {
  const certPath = join(dir, "tls.crt");
  const keyPath = join(dir, "tls.key");
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, "utf8");
    const keyPem = readFileSync(keyPath, "utf8");
    const x = new X509Certificate(certPem);
    const covers = hosts.every((h) => (isIP(h) ? x.checkIP(h) !== undefined : x.checkHost(h) !== undefined));
    if (covers && new Date(x.validTo) > now && x.checkPrivateKey(createPrivateKey(keyPem))) return { certPem, keyPem, dir };
  }
  const made = makeSelfSignedCert(commonName, hosts, now);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Key first, each written whole then renamed, so a crash leaves an old pair or a new one.
  writeFileSync(`${keyPath}.tmp`, made.keyPem, { mode: 0o600 });
  renameSync(`${keyPath}.tmp`, keyPath);
  writeFileSync(`${certPath}.tmp`, made.certPem, { mode: 0o644 });
  renameSync(`${certPath}.tmp`, certPath);
  return { ...made, dir };
}

/** The serving certificate of a target: the configured one, or one made in the state folder at first start. */
export function servingCertOf(cfg: KubernetesTarget, stateDir: string): { certPem: string; keyPem: string } {
  if (cfg.tls) return { certPem: readFileSync(cfg.tls.cert, "utf8"), keyPem: readFileSync(cfg.tls.key, "utf8") };
  const [host] = splitListen(cfg.listen);
  return loadOrCreateServingCert(join(stateDir, "kubernetes", cfg.name), `gatehouse ${cfg.name}`, servingHosts(host, hostname()));
}
