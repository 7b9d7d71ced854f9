import { describe, expect, test } from "bun:test";
import wasmPath from "libpg-query/wasm/libpg-query.wasm" with { type: "file" };
import { isGatewayError } from "../../../core/errors.ts";
import { loadSqlParser } from "./sql-parser.ts";

describe("loadSqlParser", () => {
  test("takes the WASM bytes from the caller when given", async () => {
    let asked = 0;
    const parser = await loadSqlParser({
      wasm: async () => {
        asked += 1;
        return Bun.file(wasmPath).arrayBuffer();
      },
    });
    expect(asked).toBe(1);
    expect(parser.analyze("SELECT 1", { searchPath: ["public"] }).ok).toBe(true);
  });

  test("bytes that are not the parser fail the load with a GatewayError, not later", async () => {
    const err = await loadSqlParser({ wasm: async () => new TextEncoder().encode("not wasm").buffer as ArrayBuffer }).catch((e: unknown) => e);
    expect(isGatewayError(err, "E_INTERNAL")).toBe(true);
    expect((err as Error).message).toContain("cannot load libpg-query's WASM");
  });
});
