// `gatehouse verify LOG`: checks the audit log's whole hash chain and names the first bad record.
import { verifyLog } from "../audit/verify.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { parseArgs, wantsHelp, type Command } from "./command.ts";

const usage = `Usage: gatehouse verify LOG [--json]

Walks the whole hash chain of the audit log LOG: its rotated files (LOG.1, LOG.2, …, oldest
first), then LOG itself. Every line must be a well-formed record whose seq follows the one
before, whose prev is the previous record's hash, and whose hash matches its content. A last
line without a newline (a torn write) is reported too.

  --json   print the result as JSON: {"ok":true,"records":N} or
           {"ok":false,"file":…,"line":…,"seq":…,"problem":…,"records":…}

Exit status: 0 the chain is intact, 1 it is not (the first bad record is printed as
file:line and what is wrong), 2 bad usage.`;

export const verifyCommand: Command = {
  name: "verify",
  summary: "check the audit log's hash chain",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(usage + "\n");
      return 0;
    }
    let json = false;
    let log: string;
    try {
      const { flags, positional } = parseArgs(args, { json: "boolean" });
      json = flags.json === true;
      if (positional.length !== 1) {
        throw new GatewayError("E_USAGE", positional.length === 0 ? "the audit log path is required" : `unexpected argument "${positional[1]}"`);
      }
      log = positional[0]!;
    } catch (e) {
      if (!isGatewayError(e, "E_USAGE")) throw e;
      io.stderr(`gatehouse verify: ${e.message}\n\n${usage}\n`);
      return 2;
    }
    let result;
    try {
      result = await verifyLog(log);
    } catch (e) {
      io.stderr(`gatehouse verify: cannot read the audit log: ${errorMessage(e)}\n`);
      return 1;
    }
    if (json) {
      io.stdout(JSON.stringify(result) + "\n");
    } else if (result.ok) {
      io.stdout(`ok: ${result.records} records, chain intact\n`);
    } else {
      const where = result.line > 0 ? `${result.file}:${result.line}` : result.file;
      const seq = result.seq === undefined ? "" : ` (seq ${result.seq})`;
      io.stdout(`FAILED: ${where}${seq}: ${result.problem}\n${result.records} records before it are intact\n`);
    }
    return result.ok ? 0 : 1;
  },
};
