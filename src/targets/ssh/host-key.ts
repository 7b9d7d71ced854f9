// The gateway's own SSH host key for a target: the configured file, or one made at first start
// in the state folder (ed25519, mode 0600) and kept, so callers' known_hosts stay valid across
// restarts. Its fingerprint is what a caller compares when ssh asks about a new host.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { utils } from "ssh2";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import { fingerprintOf } from "./host-key-pin.ts";

export interface HostKey {
  /** The private key as ssh2's Server takes it. */
  readonly privateKey: Buffer;
  /** The public key line ("ssh-ed25519 AAAA…"), for callers' known_hosts. */
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly path: string;
  /** Made now (first start), not read. */
  readonly created: boolean;
}

export function defaultHostKeyPath(stateDir: string, target: string): string {
  return join(stateDir, "ssh", target, "ssh_host_ed25519_key");
}

/** Reads the host key at `path`, or makes one there when `create` and there is none. */
export function loadHostKey(path: string, create: boolean): HostKey {
  let created = false;
  if (!existsSync(path)) {
    if (!create) throw new GatewayError("E_CONFIG_INVALID", `host_key "${path}" does not exist`);
    const pair = utils.generateKeyPairSync("ed25519", { comment: "gatehouse" });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // wx: two gateways starting on one state folder must not overwrite each other's key.
    try {
      writeFileSync(path, pair.private, { mode: 0o600, flag: "wx" });
      writeFileSync(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
      created = true;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw new GatewayError("E_CONFIG_INVALID", `cannot write the SSH host key "${path}": ${errorMessage(e)}`, { cause: e });
    }
  }
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (e) {
    throw new GatewayError("E_CONFIG_INVALID", `cannot read the SSH host key "${path}": ${(e as { code?: string }).code ?? errorMessage(e)}`, { cause: e });
  }
  const parsed = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error || !key.isPrivateKey()) {
    const why = key instanceof Error ? key.message : "not a private key";
    throw new GatewayError("E_CONFIG_INVALID", `the SSH host key "${path}" cannot be used: ${why} (an OpenSSH private key without passphrase is expected, e.g. from ssh-keygen -t ed25519 -N "")`);
  }
  if (created) chmodSync(path, 0o600);
  const blob = key.getPublicSSH();
  return { privateKey: text, publicKey: `${key.type} ${blob.toString("base64")}`, fingerprint: fingerprintOf(blob), path, created };
}
