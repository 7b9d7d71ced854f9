import { expect, test } from "bun:test";
import { encodeRowDescription } from "./encode.ts";
import { parseRowDescription } from "./row-description.ts";

test("parses every field attribute, including unsigned OIDs and negative sizes", () => {
  const fields = [
    { name: "id", tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 as const },
    { name: "email", tableOid: 3000000000, columnAttr: 2, typeOid: 1043, typeSize: -1, typeModifier: 104, format: 1 as const },
    { name: "", tableOid: 0, columnAttr: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 as const },
  ];
  const raw = encodeRowDescription(fields);
  expect(raw[0]).toBe(0x54);
  // Name, then 18 bytes of attributes per field; the second field's table OID is unsigned on the wire.
  const view = new DataView(raw.buffer, raw.byteOffset);
  expect(view.getUint32(7 + 3)).toBe(16384);
  expect(view.getUint32(7 + 3 + 18 + 6)).toBe(3000000000);
  expect(parseRowDescription(raw.subarray(5))).toEqual({ type: "RowDescription", fields });
});
