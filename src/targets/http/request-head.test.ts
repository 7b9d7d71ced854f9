import { expect, test } from "bun:test";
import { MAX_HEAD_BYTES, headTooLarge } from "./request-head.ts";

test("an ordinary head is within the limits", () => {
  expect(headTooLarge("GET", "http://h:1/api/x?y=1", new Headers({ host: "h:1", authorization: `Bearer ${"a".repeat(2000)}` }))).toBeNull();
});

test("a head over the size limit is refused with its size; the request line counts, the URL's origin does not", () => {
  const big = new Headers({ host: "h", "x-big": "a".repeat(MAX_HEAD_BYTES) });
  expect(headTooLarge("GET", "http://h/x", big)).toMatch(/^the request line and headers take about \d+ bytes; the gateway takes at most 16384$/);
  const longUrl = `http://${"h".repeat(MAX_HEAD_BYTES)}/x`;
  expect(headTooLarge("GET", longUrl, new Headers())).toBeNull();
  expect(headTooLarge("GET", `http://h/${"p".repeat(MAX_HEAD_BYTES)}`, new Headers())).not.toBeNull();
});
