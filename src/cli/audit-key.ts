// `gatehouse audit-key`: prints the public half of the key that signs the audit log's
// checkpoints, in the form `gatehouse verify --key` accepts, so that the log can be checked
// by someone who has neither the state folder nor the private key.
import { loadAuditSigningKey, readSigningKey } from "../audit/signing-key.ts";
import { loadConfig } from "../config/load.ts";
import { GatewayError } from "../core/errors.ts";
import { parseArgs, type Command } from "./command.ts";

const usage = `Usage: gatehouse audit-key --config PATH [--json]
       gatehouse audit-key --key-file FILE [--json]

Prints the public key that checks the audit log's signed checkpoints as ed25519:… on stdout
(give it to \`gatehouse verify --key\`), and its key id and file on stderr. The key is
audit.checkpoints.key_file of the configuration, or <state_dir>/audit-key/ed25519.pem, which is
created here if the gateway has not created it yet, so the public key can be recorded before
the first start.

  --config PATH     the gateway's configuration (a YAML file or a folder of them)
  --key-file FILE   an Ed25519 private key file (PKCS#8 PEM) instead
  --json            print {"key_id":…,"public_key":…,"file":…}`;

export const auditKeyCommand: Command = {
  name: "audit-key",
  summary: "print the public key that checks the audit log's checkpoints",
  usage,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, { config: "string", "key-file": "string", json: "boolean" });
    if (positional.length > 0) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
    const configPath = flags.config as string | undefined;
    const keyFile = flags["key-file"] as string | undefined;
    if ((configPath === undefined) === (keyFile === undefined)) throw new GatewayError("E_USAGE", "give either --config PATH or --key-file FILE");
    let key;
    if (keyFile !== undefined) {
      key = await readSigningKey(keyFile);
    } else {
      const config = await loadConfig(configPath!, { resolveSecrets: false });
      key = await loadAuditSigningKey(config.gateway.state_dir, config.audit.checkpoints?.key_file);
    }
    if (flags.json === true) {
      io.stdout(JSON.stringify({ key_id: key.publicKey.id, public_key: key.publicKey.text, file: key.path }) + "\n");
    } else {
      io.stdout(`${key.publicKey.text}\n`);
      io.stderr(`key id ${key.publicKey.id}, private key ${key.path}\n`);
    }
    return 0;
  },
};
