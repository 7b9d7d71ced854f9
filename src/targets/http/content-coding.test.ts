import { describe, expect, test } from "bun:test";
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import { isGatewayError } from "../../core/errors.ts";
import { decodeContentCoding } from "./content-coding.ts";

const json = Buffer.from(JSON.stringify({ email: "ada@example.com" }));
const text = (b: Uint8Array): string => Buffer.from(b).toString();

describe("decodeContentCoding", () => {
  test("undoes gzip, x-gzip, deflate (zlib and raw), br, identity, and lists last first", () => {
    expect(text(decodeContentCoding(gzipSync(json), "gzip", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(gzipSync(json), "X-Gzip", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(deflateSync(json), "deflate", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(deflateRawSync(json), "deflate", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(brotliCompressSync(json), "br", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(json, "identity", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(gzipSync(gzipSync(json)), "gzip, gzip", 1e6))).toBe(json.toString());
    expect(text(decodeContentCoding(brotliCompressSync(gzipSync(json)), "gzip, br", 1e6))).toBe(json.toString());
  });

  test("refuses unknown codings, corrupt bodies and bodies that inflate past the limit", () => {
    for (const [body, coding, max] of [
      [json, "zstd", 1e6],
      [json, "compress", 1e6],
      [json, "gzip", 1e6],
      [gzipSync(Buffer.alloc(200_000)), "gzip", 100_000],
      [brotliCompressSync(Buffer.alloc(200_000)), "br", 100_000],
      [gzipSync(json), "gzip, gzip", 1e6],
    ] as const) {
      let error: unknown = null;
      try {
        decodeContentCoding(body, coding, max);
      } catch (e) {
        error = e;
      }
      expect(isGatewayError(error, "E_MASK")).toBe(true);
    }
  });
});
