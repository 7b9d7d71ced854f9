import { expect, test } from "bun:test";
import { stderrWriter } from "./stderr-writer.ts";

const text = (chunks: Uint8Array[]) => chunks.map((c) => Buffer.from(c).toString()).join("");

test("each line goes out whole, over partial writes", () => {
  const out: Uint8Array[] = [];
  const write = stderrWriter({ write: (b, off) => (out.push(b.subarray(off, off + 3)), Math.min(3, b.length - off)), fallback: () => expect.unreachable() });
  write("gatehouse serving ✓\n");
  write("second\n");
  expect(text(out)).toBe("gatehouse serving ✓\nsecond\n");
});

test("once a write fails (EAGAIN on a full non-blocking pipe), the rest of that line and every later one go to the fallback, in order", () => {
  const direct: Uint8Array[] = [];
  const fallback: Uint8Array[] = [];
  let calls = 0;
  const write = stderrWriter({
    write: (b, off) => {
      if (++calls === 2) throw Object.assign(new Error("EAGAIN"), { code: "EAGAIN" });
      direct.push(b.subarray(off, off + 4));
      return Math.min(4, b.length - off);
    },
    fallback: (b) => void fallback.push(Buffer.from(b)),
  });
  write("abcdefgh\n");
  write("next\n");
  expect(text(direct)).toBe("abcd");
  expect(text(fallback)).toBe("efgh\nnext\n");
  expect(calls).toBe(2);
});
