import { describe, expect, test } from "bun:test";
import { compileQueryRedactor } from "./redact-query.ts";

const redact = compileQueryRedactor();

describe("query strings in HTTP audit records", () => {
  test("no query, or an empty one, records nothing", () => {
    expect(redact("")).toBeUndefined();
    expect(redact("?")).toBeUndefined();
  });

  test("ordinary parameters are kept as sent", () => {
    expect(redact("?page=2&sort=-created&q=a%20b+c")).toBe("page=2&sort=-created&q=a%20b+c");
    expect(redact("?keyword=lamp&monkey")).toBe("keyword=REDACTED&monkey"); // contains "key": redacted, erring on the safe side
  });

  test("the six default names, case-insensitive, keep their names and lose their values", () => {
    expect(redact("?token=t1&access_token=t2&key=k&password=p&secret=s&signature=sig&x=1")).toBe(
      "token=REDACTED&access_token=REDACTED&key=REDACTED&password=REDACTED&secret=REDACTED&signature=REDACTED&x=1",
    );
    expect(redact("?TOKEN=a&Password=b&SeCrEt=c")).toBe("TOKEN=REDACTED&Password=REDACTED&SeCrEt=REDACTED");
  });

  test("names that contain one: access-token, apiKey, X-Amz-Signature, client_secret, user[password], refresh_token", () => {
    expect(redact("?Access-Token=a&apiKey=b&X-Amz-Signature=c&client_secret=d&user[password]=e&refresh_token=f&user%5Bpassword%5D=g")).toBe(
      "Access-Token=REDACTED&apiKey=REDACTED&X-Amz-Signature=REDACTED&client_secret=REDACTED&user[password]=REDACTED&refresh_token=REDACTED&user%5Bpassword%5D=REDACTED",
    );
  });

  test("every occurrence of a repeated parameter", () => {
    expect(redact("?token=a&x=1&token=b&token=&token")).toBe("token=REDACTED&x=1&token=REDACTED&token=REDACTED&token");
  });

  test("percent-encoded names, double-encoded names, + and fullwidth letters", () => {
    expect(redact("?%74oken=a")).toBe("%74oken=REDACTED");
    expect(redact("?%2574oken=a")).toBe("%2574oken=REDACTED");
    expect(redact("?to%6Ben=a&pass+word=b&%EF%BD%94%EF%BD%8F%EF%BD%8B%EF%BD%85%EF%BD%8E=c")).toBe("to%6Ben=REDACTED&pass+word=REDACTED&%EF%BD%94%EF%BD%8F%EF%BD%8B%EF%BD%85%EF%BD%8E=REDACTED");
    expect(redact("?%ZZtoken=a&%c0token=b")).toBe("%ZZtoken=REDACTED&%c0token=REDACTED");
  });

  test("the value is everything after the first =, = and all", () => {
    expect(redact("?token=a=b=c&x=1")).toBe("token=REDACTED&x=1");
  });

  test("a parameter without = has no value and is kept; one hiding a value behind an encoded = loses it", () => {
    expect(redact("?token&debug")).toBe("token&debug");
    expect(redact("?token%3Dabc123&x=1")).toBe("token=REDACTED&x=1");
    expect(redact("?token%253Dabc123")).toBe("token=REDACTED");
  });

  test("; separates parameters too (some frameworks split on it)", () => {
    expect(redact("?a=1;token=abc;b=2")).toBe("a=1;token=REDACTED;b=2");
  });

  test("an encoded & inside a name does not hide a secret name", () => {
    expect(redact("?a%26token=abc")).toBe("a%26token=REDACTED");
  });

  test("configured names are added to the defaults", () => {
    const r = compileQueryRedactor(["sid", "X-Session"]);
    expect(r("?sid=1&x_session=2&token=3&page=4")).toBe("sid=REDACTED&x_session=REDACTED&token=REDACTED&page=4");
  });
});
