// RowDescription ('T'): the columns of the rows that follow; masking finds its columns here.
import { ByteReader } from "./byte-reader.ts";
import type { FieldDescription, RowDescription } from "./backend-message.ts";

/** Smallest field: empty name (1) + 4 + 2 + 4 + 2 + 4 + 2. */
const MIN_FIELD_SIZE = 19;

export function parseRowDescription(body: Uint8Array): RowDescription {
  const r = new ByteReader(body, "RowDescription");
  const n = r.count16("field count", MIN_FIELD_SIZE);
  const fields: FieldDescription[] = new Array(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstring(`field ${i} name`),
      tableOid: r.uint32(`field ${i} table OID`),
      columnAttr: r.int16(`field ${i} column number`),
      typeOid: r.uint32(`field ${i} type OID`),
      typeSize: r.int16(`field ${i} type size`),
      typeModifier: r.int32(`field ${i} type modifier`),
      format: r.format(`field ${i} format`),
    };
  }
  r.end();
  return { type: "RowDescription", fields };
}
