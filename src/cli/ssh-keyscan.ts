// `gatehouse ssh-keyscan HOST[:PORT]`: fetches an SSH server's host key and prints the value to
// pin in a `kind: ssh` target's upstream.host_key, with its fingerprint to compare against the
// host's own (the gateway trusts no key on first use, so the pin must come from somewhere).
import { Client } from "ssh2";
import { GatewayError } from "../core/errors.ts";
import { fingerprintOf, keyTypeOf } from "../targets/ssh/host-key-pin.ts";
import { parseArgs, type Command } from "./command.ts";

const usage = `Usage: gatehouse ssh-keyscan HOST[:PORT] [--timeout SECONDS]

Connects to the SSH server at HOST (port 22 unless given; [::1]:2222 for IPv6), reads the host
key it presents and prints the line to paste as upstream.host_key of a kind: ssh target:

  host_key: "ssh-ed25519 AAAA…"

and, on stderr, its SHA256 fingerprint. Check that fingerprint against the host's own
(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host) before you trust it: a key
fetched over the network is only as good as the network. Nothing is logged in.

Exit status: 0, 1 when no key could be read, 2 on bad usage.`;

export function splitHostPort(text: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] !== undefined ? Number(bracketed[2]) : 22 };
  const colons = text.split(":").length - 1;
  if (colons === 1) {
    const [host, port] = text.split(":");
    if (!/^\d+$/.test(port!)) throw new GatewayError("E_USAGE", `"${text}": the port must be a number`);
    return { host: host!, port: Number(port) };
  }
  return { host: text, port: 22 };
}

/** The host key the server at host:port presents (its SSH wire blob). */
export function fetchHostKey(host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let key: Buffer | null = null;
    client.on("error", (e: Error) => (key !== null ? resolve(key) : reject(new GatewayError("E_UPSTREAM", `cannot read the host key of ${host}:${port}: ${e.message}`, { cause: e }))));
    client.on("close", () => (key !== null ? resolve(key) : reject(new GatewayError("E_UPSTREAM", `${host}:${port} closed the connection before showing a host key`))));
    client.connect({
      host,
      port,
      username: "gatehouse-ssh-keyscan",
      readyTimeout: timeoutMs,
      // Refusing the key ends the handshake: nothing is sent past it.
      hostVerifier: (k: Buffer) => {
        key = k;
        return false;
      },
    });
  });
}

export const sshKeyscanCommand: Command = {
  name: "ssh-keyscan",
  summary: "print an SSH server's host key, to pin in a kind: ssh target",
  usage,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, { timeout: "string" });
    if (positional.length !== 1) throw new GatewayError("E_USAGE", positional.length === 0 ? "give HOST[:PORT]" : `unexpected argument "${positional[1]}"`);
    const { host, port } = splitHostPort(positional[0]!);
    if (!(port >= 1 && port <= 65535)) throw new GatewayError("E_USAGE", `port ${port} is out of range`);
    const seconds = flags.timeout === undefined ? 10 : Number(flags.timeout);
    if (!(seconds > 0)) throw new GatewayError("E_USAGE", `--timeout takes a number of seconds, got "${String(flags.timeout)}"`);
    let key: Buffer;
    try {
      key = await fetchHostKey(host, port, seconds * 1000);
    } catch (e) {
      io.stderr(`gatehouse ssh-keyscan: ${(e as Error).message}\n`);
      return 1;
    }
    io.stdout(`host_key: "${keyTypeOf(key)} ${key.toString("base64")}"\n`);
    io.stderr(`${host}:${port} ${keyTypeOf(key)} ${fingerprintOf(key)}: compare with the host's own fingerprint before pinning it\n`);
    return 0;
  },
};
