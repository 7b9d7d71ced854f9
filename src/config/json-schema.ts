// The JSON Schema document of a config file, for editors (yaml-language-server) and for
// policies/gatehouse.schema.json, which is this output committed.
import { jsonSchema } from "./schema.ts";

export const SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#";
export const SCHEMA_ID = "urn:gatehouse:schema:config";

export function schemaDocument(): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol keys and leaves plain JSON Schema.
  const body = JSON.parse(JSON.stringify(jsonSchema())) as Record<string, unknown>;
  return { $schema: SCHEMA_DIALECT, $id: SCHEMA_ID, ...body };
}

/** The exact text `gatehouse schema` prints. */
export function schemaText(): string {
  return `${JSON.stringify(schemaDocument(), null, 2)}\n`;
}
