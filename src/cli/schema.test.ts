import { expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { schemaCommand } from "./schema.ts";

function capture() {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env: {}, signal: new AbortController().signal };
  return { io, out: () => out, err: () => err };
}

test("prints a JSON Schema with $schema and $id", async () => {
  const c = capture();
  expect(await schemaCommand.run([], c.io)).toBe(0);
  const doc = JSON.parse(c.out());
  expect(doc.$schema).toBe("http://json-schema.org/draft-07/schema#");
  expect(doc.$id).toBe("urn:gatehouse:schema:config");
  expect(Object.keys(doc.properties)).toEqual(["gateway", "audit", "identity", "targets", "rules", "console"]);
  expect(doc.additionalProperties).toBe(false);
});

test("policies/gatehouse.schema.json is the current output (regenerate with `gatehouse schema`)", async () => {
  const c = capture();
  await schemaCommand.run([], c.io);
  const committed = await readFile(join(import.meta.dir, "../../policies/gatehouse.schema.json"), "utf8");
  expect(committed).toBe(c.out());
});

test("arguments are a usage error", async () => {
  const c = capture();
  expect(await schemaCommand.run(["extra"], c.io)).toBe(2);
  expect(c.err()).toContain(`unexpected argument "extra"`);
});
