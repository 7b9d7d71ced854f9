// `gatehouse schema`: prints the JSON Schema of a configuration file.
import { GatewayError, isGatewayError } from "../core/errors.ts";
import { schemaText } from "../config/json-schema.ts";
import { parseArgs, usageError, wantsHelp, type Command } from "./command.ts";

const usage = `Usage: gatehouse schema

Prints the JSON Schema (draft-07) that every configuration file follows. Save it and point
your editor at it, e.g. with a first line
  # yaml-language-server: $schema=./gatehouse.schema.json

Exit status: 0, or 2 on bad usage.`;

export const schemaCommand: Command = {
  name: "schema",
  summary: "print the JSON Schema of configuration files",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    try {
      const { positional } = parseArgs(args, {});
      if (positional.length > 0) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
    } catch (e) {
      if (!isGatewayError(e, "E_USAGE")) throw e;
      io.stderr(usageError("schema", e.message));
      return 2;
    }
    io.stdout(schemaText());
    return 0;
  },
};
