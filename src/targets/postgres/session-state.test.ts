import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { Outbox } from "./session-state.ts";

function collect(): { sink: PassThrough; writes: Uint8Array[] } {
  const sink = new PassThrough();
  const writes: Uint8Array[] = [];
  const write = sink.write.bind(sink);
  sink.write = ((chunk: Uint8Array) => (writes.push(chunk), write(chunk))) as typeof sink.write;
  return { sink, writes };
}

test("adjacent views of one buffer become one write; others are joined in order", () => {
  const chunk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const o = new Outbox();
  expect(o.empty).toBe(true);
  o.push(chunk.subarray(0, 3));
  o.push(chunk.subarray(3, 5));
  const { sink, writes } = collect();
  o.flush(sink);
  expect(writes.length).toBe(1);
  expect([...writes[0]!]).toEqual([1, 2, 3, 4, 5]);
  expect(o.empty).toBe(true);
  o.push(chunk.subarray(5, 6));
  o.push(new Uint8Array([9]));
  o.pushRange(chunk, 6, 8);
  o.flush(sink);
  expect([...writes[1]!]).toEqual([6, 9, 7, 8]);
  expect(o.flush(sink)).toBe(true);
  expect(writes.length).toBe(2);
});
