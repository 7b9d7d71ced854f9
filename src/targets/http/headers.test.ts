import { expect, test } from "bun:test";
import { bearerToken, downstreamResponseHeaders, upstreamRequestHeaders } from "./headers.ts";

test("the caller's token and hop-by-hop headers never reach the upstream; config headers win", () => {
  const incoming = new Headers({
    authorization: "Bearer caller-token",
    connection: "keep-alive, x-private",
    "x-private": "secret",
    "keep-alive": "timeout=5",
    te: "trailers",
    host: "gw:8080",
    accept: "application/json",
    "x-api-key": "forged",
  });
  const h = upstreamRequestHeaders(incoming, { "x-api-key": "real" }, { ip: "10.0.0.1", host: "gw:8080", proto: "http" });
  expect(h.get("authorization")).toBeNull();
  expect(h.get("x-private")).toBeNull();
  expect(h.get("keep-alive")).toBeNull();
  expect(h.get("te")).toBeNull();
  expect(h.get("host")).toBeNull();
  expect(h.get("accept")).toBe("application/json");
  expect(h.get("x-api-key")).toBe("real");
  expect(h.get("x-forwarded-for")).toBe("10.0.0.1");
  expect(h.get("x-forwarded-host")).toBe("gw:8080");
});

test("response hop-by-hop headers are dropped", () => {
  const h = downstreamResponseHeaders(new Headers({ "transfer-encoding": "chunked", "content-type": "text/plain" }));
  expect(h.get("transfer-encoding")).toBeNull();
  expect(h.get("content-type")).toBe("text/plain");
});

test("bearer tokens are read strictly", () => {
  expect(bearerToken(new Headers({ authorization: "Bearer abc.def.ghi" }))).toBe("abc.def.ghi");
  expect(bearerToken(new Headers({ authorization: "bearer  abc" }))).toBe("abc");
  expect(bearerToken(new Headers({ authorization: "Basic abc" }))).toBeNull();
  expect(bearerToken(new Headers({ authorization: "Bearer a b" }))).toBeNull();
  expect(bearerToken(new Headers())).toBeNull();
});

test("fields that would let the upstream run another method or path than the one decided are dropped", () => {
  const h = upstreamRequestHeaders(
    new Headers({
      "x-http-method-override": "DELETE",
      "X-HTTP-Method": "DELETE",
      "x-method-override": "PUT",
      "x-original-url": "/admin",
      "x-rewrite-url": "/admin",
      "x-original-method": "DELETE",
      forwarded: "for=1.2.3.4;host=evil",
      accept: "application/json",
    }),
    {},
    { ip: "127.0.0.1", host: "gw", proto: "http" },
  );
  for (const name of ["x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url", "x-original-method", "forwarded"]) expect(h.has(name)).toBe(false);
  expect(h.get("accept")).toBe("application/json");
  expect(h.get("x-forwarded-for")).toBe("127.0.0.1");
});
