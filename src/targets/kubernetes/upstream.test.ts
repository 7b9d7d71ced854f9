import { expect, test } from "bun:test";
import { upstreamHeaders, upstreamOf } from "./upstream.ts";

test("with a token source, each request's Authorization carries the token current at that moment", () => {
  let token: string | undefined = "first";
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443/", token: "as-started" }, () => token);
  const sent = () => upstreamHeaders(new Headers({ authorization: "Bearer caller" }), upstream, { impersonate: [], jsonOnly: false }).get("authorization");
  expect(sent()).toBe("Bearer first");
  token = "second";
  expect(sent()).toBe("Bearer second");
  token = undefined;
  expect(sent()).toBeNull();
});

test("without one, the token as started is sent", () => {
  const upstream = upstreamOf({ url: "https://10.0.0.1:6443", token: "as-started" });
  expect(upstream.base).toBe("https://10.0.0.1:6443");
  expect(upstreamHeaders(new Headers(), upstream, { impersonate: [], jsonOnly: false }).get("authorization")).toBe("Bearer as-started");
});
