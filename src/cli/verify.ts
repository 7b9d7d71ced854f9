// `gatehouse verify LOG`: checks the audit log's whole hash chain and names the first bad record;
// checks its signed checkpoints, and with a head saved elsewhere, that nothing was cut after it;
// and that the recordings the records link to are there, unchanged.
import { readFile } from "node:fs/promises";
import { checkpointProblem, parseCheckpoint, type ChainHead } from "../audit/checkpoint.ts";
import { defaultSigningKeyPath, parsePublicKey, PUBLIC_KEY_PREFIX, readSigningKey, type PublicKey } from "../audit/signing-key.ts";
import { verifyLogReport, type VerifyReport } from "../audit/verify.ts";
import { loadConfig } from "../config/load.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { parseArgs, usageError, wantsHelp, type Command, type Io } from "./command.ts";

const usage = `Usage: gatehouse verify [LOG] [--config PATH] [--key KEY]… [--head SEQ:HASH | --checkpoint FILE]
                       [--recordings DIR | --skip-recordings] [--json]

Walks the whole hash chain of the audit log LOG: its rotated files (LOG.1, LOG.2, …, oldest
first), then LOG itself. Every line must be a well-formed record whose seq follows the one
before, whose prev is the previous record's hash, and whose hash matches its content. A last
line without a newline (a torn write) is reported too.

The gateway signs the chain's head with its Ed25519 key in audit.checkpoint records (every
1000 records or 60 s, and at stop; see audit.checkpoints). Each signature is checked against
the trusted key, and the records after the last checkpoint are reported as not yet
checkpointed. The chain alone cannot show records cut off its end; a head saved elsewhere can.

Records that link a recording (an SSH terminal session's asciicast file, an exec's captured
output) hold its size and SHA-256: each linked file must be there with exactly those, or
verify fails naming the session and the file.

  --config PATH      the gateway's configuration: LOG defaults to its audit.path, and the
                     trusted key to its signing key (audit.checkpoints.key_file, or
                     <state_dir>/audit-key/ed25519.pem)
  --key KEY          trust checkpoints signed by KEY: ${PUBLIC_KEY_PREFIX}… as \`gatehouse audit-key\` prints
                     it, or a file holding that or a PEM key; may be repeated. A checkpoint
                     signed by any other key fails.
  --head SEQ:HASH    the log must hold record SEQ with hash HASH (a checkpoint's seq and hash)
  --checkpoint FILE  a checkpoint saved elsewhere, e.g. the JSON of GET /audit/checkpoint on the
                     admin API: its signature must be valid, and the log must hold its seq and hash
  --recordings DIR   look for the linked recordings in DIR (by file name) instead of where the
                     gateway wrote them, e.g. a log copied with its recordings folder
  --skip-recordings  do not check recordings (a log copied without them)
  --json             print the result as JSON: {"ok":true,"records":N,"checkpoints":…} or
                     {"ok":false,"file":…,"line":…,"seq":…,"problem":…,"records":…}

Exit status: 0 the chain is intact (and holds the saved head), 1 it is not: a record is bad,
a signature is bad or by another key, a linked recording is missing or changed, or the log
was cut or rewritten after the saved head
(the first problem is printed as file:line and what is wrong); 2 bad usage.`;

interface TrustedKey {
  readonly key: PublicKey;
  readonly from: string;
}

export const verifyCommand: Command = {
  name: "verify",
  summary: "check the audit log's hash chain",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(usage + "\n");
      return 0;
    }
    try {
      return await verify(args, io);
    } catch (e) {
      if (!isGatewayError(e, "E_USAGE")) throw e;
      io.stderr(usageError("verify", e.message));
      return 2;
    }
  },
};

async function verify(args: readonly string[], io: Io): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    json: "boolean",
    config: "string",
    key: "strings",
    head: "string",
    checkpoint: "string",
    recordings: "string",
    "skip-recordings": "boolean",
  });
  const json = flags.json === true;
  if (positional.length > 1) throw new GatewayError("E_USAGE", `unexpected argument "${positional[1]}"`);
  if (flags.head !== undefined && flags.checkpoint !== undefined) throw new GatewayError("E_USAGE", "--head and --checkpoint exclude each other");
  if (flags.recordings !== undefined && flags["skip-recordings"] === true) throw new GatewayError("E_USAGE", "--recordings and --skip-recordings exclude each other");
  const recordings = flags["skip-recordings"] === true ? undefined : flags.recordings === undefined ? {} : { dir: flags.recordings as string };
  const configPath = flags.config as string | undefined;
  if (positional.length === 0 && configPath === undefined) throw new GatewayError("E_USAGE", "the audit log path is required (or --config)");
  let head = flags.head === undefined ? undefined : parseHead(flags.head as string);

  let config: Awaited<ReturnType<typeof loadConfig>> | undefined;
  if (configPath !== undefined) {
    try {
      config = await loadConfig(configPath, { resolveSecrets: false });
    } catch (e) {
      io.stderr(`gatehouse verify: cannot read the configuration: ${errorMessage(e)}\n`);
      return 1;
    }
  }
  const log = positional[0] ?? config!.audit.path;

  const keys: TrustedKey[] = [];
  const notes: string[] = [];
  for (const given of (flags.key as string[] | undefined) ?? []) keys.push({ key: await keyFromArgument(given), from: given.startsWith(PUBLIC_KEY_PREFIX) ? "--key" : given });
  if (keys.length === 0 && config !== undefined) {
    const path = config.audit.checkpoints?.key_file ?? defaultSigningKeyPath(config.gateway.state_dir);
    try {
      keys.push({ key: (await readSigningKey(path)).publicKey, from: path });
    } catch (e) {
      notes.push(`no signing key read from the configuration: ${errorMessage(e)}`);
    }
  }

  if (flags.checkpoint !== undefined) {
    const file = flags.checkpoint as string;
    if (keys.length === 0) throw new GatewayError("E_USAGE", `--checkpoint needs a trusted key to check its signature: give --key or --config${notes.length ? ` (${notes.join("; ")})` : ""}`);
    const saved = await checkpointFromFile(file);
    const problem = checkpointProblem(saved, keys.map((k) => k.key));
    if (problem !== null) {
      return print(io, json, { ok: false, file, line: 0, problem: `the saved checkpoint is not valid: ${problem}`, records: 0 }, keys, notes);
    }
    head = { seq: saved.seq, hash: saved.hash };
  }

  let report: VerifyReport;
  try {
    report = await verifyLogReport(log, { keys: keys.map((k) => k.key), ...(head ? { head } : {}), ...(recordings ? { recordings } : {}) });
  } catch (e) {
    io.stderr(`gatehouse verify: cannot read the audit log: ${errorMessage(e)}\n`);
    return 1;
  }
  return print(io, json, report, keys, notes);
}

function print(io: Io, json: boolean, report: VerifyReport, keys: readonly TrustedKey[], notes: readonly string[]): number {
  if (json) {
    const trusted = keys.map((k) => ({ key_id: k.key.id, public_key: k.key.text, from: k.from }));
    io.stdout(JSON.stringify({ ...report, keys: trusted }) + "\n");
    for (const n of notes) io.stderr(`gatehouse verify: ${n}\n`);
    return report.ok ? 0 : 1;
  }
  for (const n of notes) io.stderr(`gatehouse verify: ${n}\n`);
  if (!report.ok) {
    const where = report.line > 0 ? `${report.file}:${report.line}` : report.file;
    const seq = report.seq === undefined ? "" : ` (seq ${report.seq})`;
    io.stdout(`FAILED: ${where}${seq}: ${report.problem}\n${report.records} records before it are intact\n`);
    return 1;
  }
  const lines = [`ok: ${report.records} records, chain intact`];
  const keyNames = keys.map((k) => `key ${k.key.id} (${k.key.text}) from ${k.from}`).join(", ");
  if (report.signatures === "verified") {
    lines.push(`checkpoints: ${report.checkpoints === 0 ? "none" : `${report.checkpoints}, every signature valid`}; trusted ${keyNames}`);
  } else {
    lines.push(`checkpoints: ${report.checkpoints}, signatures NOT checked: no key (give --key, from \`gatehouse audit-key\`, or --config)`);
  }
  const last = report.last_checkpoint;
  lines.push(last === null ? "no checkpoint in the log" : `last checkpoint: seq ${last.seq}, hash ${last.hash}, signed ${last.time} by key ${last.key_id}`);
  lines.push(`not yet checkpointed: ${report.not_checkpointed} records`);
  if (report.recordings === undefined) lines.push("recordings: NOT checked (--skip-recordings)");
  else if (report.recordings > 0) lines.push(`recordings: ${report.recordings} linked files, every size and sha-256 as recorded`);
  if (report.head !== undefined) lines.push(`saved head: seq ${report.head.seq} is in the log with hash ${report.head.hash}: nothing up to it was cut or rewritten`);
  io.stdout(lines.join("\n") + "\n");
  return 0;
}

function parseHead(text: string): ChainHead {
  const m = /^([0-9]+):([0-9a-f]{64})$/.exec(text);
  if (m === null) throw new GatewayError("E_USAGE", `invalid --head "${text}" (expected SEQ:HASH, e.g. 1200:<64 hex digits>)`);
  return { seq: Number(m[1]), hash: m[2]! };
}

async function keyFromArgument(given: string): Promise<PublicKey> {
  if (given.startsWith(PUBLIC_KEY_PREFIX)) return parsePublicKey(given, "--key");
  let text: string;
  try {
    text = await readFile(given, "utf8");
  } catch (e) {
    throw new GatewayError("E_USAGE", `--key ${given}: neither ${PUBLIC_KEY_PREFIX}… nor a readable file: ${errorMessage(e)}`, { cause: e });
  }
  return parsePublicKey(text, given);
}

/** The checkpoint in FILE: the admin API's JSON, or an audit.checkpoint record (a line of the log). */
async function checkpointFromFile(file: string) {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new GatewayError("E_USAGE", `--checkpoint ${file}: not a readable JSON file: ${errorMessage(e)}`, { cause: e });
  }
  const v = value as { type?: unknown; details?: unknown } | null;
  const parsed = parseCheckpoint(v !== null && typeof v === "object" && v.type === "audit.checkpoint" ? v.details : value);
  if (!parsed.ok) throw new GatewayError("E_USAGE", `--checkpoint ${file}: not a checkpoint: ${parsed.problem}`);
  return parsed.checkpoint;
}
