import { describe, expect, test } from "bun:test";
import { compileJsonMasker } from "../../masking/json-masker.ts";
import { maskResult } from "./result-masker.ts";

const masks = { json: [], columns: [], detectors: ["email", "cloud_key"] };
const masker = compileJsonMasker(masks);

describe("MCP result masking", () => {
  test("tool results: content text, embedded resources, structuredContent leaves; other blocks and the shape kept", () => {
    const result = {
      content: [
        { type: "text", text: "write to jane.doe@example.com" },
        { type: "image", data: "iVBORw0KGgo=", mimeType: "image/png" },
        { type: "resource", resource: { uri: "file:///a", text: "key AKIAIOSFODNN7EXAMPLE" } },
      ],
      structuredContent: { owner: { mail: "ops@example.com" }, count: 3, tags: ["x", "bob@example.org"] },
      isError: false,
    };
    const r = maskResult("tools/call", result, masks, masker);
    expect(r.masked).toBe(4);
    const json = JSON.stringify(r.result);
    for (const secret of ["jane.doe@example.com", "AKIAIOSFODNN7EXAMPLE", "ops@example.com", "bob@example.org"]) expect(json).not.toContain(secret);
    expect((r.result["content"] as unknown[])[1]).toBe(result.content[1]);
    expect((r.result["structuredContent"] as Record<string, unknown>)["count"]).toBe(3);
    expect(r.result["isError"]).toBe(false);
    // The input is not changed.
    expect(result.content[0]!.text).toBe("write to jane.doe@example.com");
  });

  test("resources/read contents and prompts/get messages", () => {
    const read = maskResult("resources/read", { contents: [{ uri: "u", mimeType: "text/plain", text: "a@b.example.com" }, { uri: "v", blob: "AAAA" }] }, masks, masker);
    expect(JSON.stringify(read.result)).not.toContain("a@b.example.com");
    expect(read.masked).toBe(1);
    const prompt = maskResult("prompts/get", { description: "for c@d.example.com", messages: [{ role: "user", content: { type: "text", text: "mail e@f.example.com" } }] }, masks, masker);
    expect(JSON.stringify(prompt.result)).not.toMatch(/@[a-z]\.example\.com/);
    expect(prompt.masked).toBe(2);
  });

  test("nothing to mask returns the same object; column masks are refused", () => {
    const plain = { content: [{ type: "text", text: "nothing here" }] };
    expect(maskResult("tools/call", plain, masks, masker).result).toBe(plain);
    expect(() => maskResult("tools/call", plain, { json: [], columns: ["email"], detectors: [] }, null)).toThrow(/table columns/);
  });
});
