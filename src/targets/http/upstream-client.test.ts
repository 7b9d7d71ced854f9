import { describe, expect, test } from "bun:test";
import { upstreamFieldBlock } from "../../gate/http1-client.ts";
import { bodiless, upstreamClient } from "./upstream-client.ts";

describe("upstream-client", () => {
  test("only a plain-http upstream without credentials in its URL gets the own client", () => {
    expect(upstreamClient(new URL("https://api.internal"), { maxWhole: 1 })).toBeNull();
    expect(upstreamClient(new URL("http://u:p@api.internal"), { maxWhole: 1 })).toBeNull();
    const c = upstreamClient(new URL("http://127.0.0.1:8080/base"), { maxWhole: 1 })!;
    expect(c.hostHeader).toBe("127.0.0.1:8080");
    expect(c.requestTarget("http://127.0.0.1:8080/base/a?b=c")).toBe("/base/a?b=c");
    expect(c.requestTarget("http://127.0.0.1:8080")).toBeNull();
    expect(c.requestTarget("http://127.0.0.1:80801/x")).toBeNull();
    expect(c.requestTarget("http://other:8080/x")).toBeNull();
    c.close();
    const v6 = upstreamClient(new URL("http://[::1]:9000"), { maxWhole: 1 })!;
    expect(v6.hostHeader).toBe("[::1]:9000");
    v6.close();
    const dflt = upstreamClient(new URL("http://api.internal"), { maxWhole: 1 })!;
    expect(dflt.hostHeader).toBe("api.internal");
    dflt.close();
  });

  test("bodiless: GET/HEAD/OPTIONS/DELETE with no body and no length or coding announced", () => {
    expect(bodiless(new Request("http://x/", { method: "GET" }), "GET")).toBe(true);
    expect(bodiless(new Request("http://x/", { method: "DELETE" }), "DELETE")).toBe(true);
    expect(bodiless(new Request("http://x/", { method: "POST" }), "POST")).toBe(false);
    expect(bodiless(new Request("http://x/", { method: "DELETE", body: "x" }), "DELETE")).toBe(false);
    expect(bodiless(new Request("http://x/", { method: "GET", headers: { "content-length": "0" } }), "GET")).toBe(false);
  });

  test("the field block: as given, with fetch's Accept and User-Agent when absent; fields the client writes itself send it to fetch", () => {
    const fields = Object.assign(Object.create(null) as Record<string, string>, { "x-a": "1", accept: "text/html" });
    expect(upstreamFieldBlock(fields)).toBe(`x-a: 1\r\naccept: text/html\r\nuser-agent: Bun/${Bun.version}\r\n`);
    expect(upstreamFieldBlock(Object.assign(Object.create(null) as Record<string, string>, { "user-agent": "me" }))).toBe("user-agent: me\r\naccept: */*\r\n");
    for (const name of ["host", "content-length", "transfer-encoding", "connection", "bad name"]) {
      expect(upstreamFieldBlock(Object.assign(Object.create(null) as Record<string, string>, { [name]: "v" }))).toBeNull();
    }
  });
});
