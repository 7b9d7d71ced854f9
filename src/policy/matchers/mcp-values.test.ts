import { describe, expect, test } from "bun:test";
import { posix } from "node:path";
import { canonicalHostPattern, isUnder, normalisedPath, pathForms, urlHost } from "./mcp-values.ts";

describe("normalisedPath", () => {
  test("agrees with path.posix.normalize on generated absolute paths", () => {
    const pool = ["a", "b", "..", ".", "", "c.d", "...", ".e"];
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 5000; i++) {
      const n = 1 + Math.floor(rand() * 8);
      const p = `/${Array.from({ length: n }, () => pool[Math.floor(rand() * pool.length)]).join("/")}`;
      const want = posix.normalize(p).replace(/(.)\/+$/, "$1");
      expect(normalisedPath(p)).toBe(want);
    }
  });

  test("what cannot be read safely is null", () => {
    for (const bad of ["a/b", "./a", "~/x", "~root/x", "/a\u0000b", "/a\nb", "/a\\..\\b", "/a/%2e%2e/b", "/a%2fb", 5, null, ["/a"]]) expect(normalisedPath(bad)).toBeNull();
  });

  test("the compatibility form a server might normalise to is a second form", () => {
    expect(pathForms("/srv/data/\uff0e\uff0e/x")).toEqual(["/srv/data/\uff0e\uff0e/x", "/srv/x"]);
    expect(pathForms("/srv/data/x")).toEqual(["/srv/data/x"]);
    expect(isUnder("/srv/database", "/srv/data", false)).toBe(false);
    expect(isUnder("/SRV/data/x", "/srv/data", true)).toBe(true);
    expect(isUnder("/SRV/data/x", "/srv/data", false)).toBe(false);
    expect(isUnder("/anything", "/", false)).toBe(true);
  });
});

describe("urlHost", () => {
  test("hosts as the WHATWG parser reads them", () => {
    expect(urlHost("https://Example.COM./x")).toBe("example.com");
    expect(urlHost("http://0x7f.1/")).toBe("127.0.0.1");
    expect(urlHost("http://[::1]:8080/")).toBe("::1");
    expect(urlHost("https://bücher.de/")).toBe("xn--bcher-kva.de");
    expect(urlHost("wss://example.com/socket")).toBe("example.com");
  });

  test("what parsers may read differently is null", () => {
    for (const bad of ["https://a@b/", "https://a:b@c/", "https://a\\@b/", "https://a%2eb/", "https://a b/", "https://a\tb/", " https://a/", "ftp://a/", "file:///etc/passwd", "https:/a/", "https:///a", "//a/", 1]) expect(urlHost(bad)).toBeNull();
  });

  test("host patterns", () => {
    expect(canonicalHostPattern("*.Example.com")).toEqual({ host: "example.com", subdomains: true });
    expect(canonicalHostPattern("[::1]")).toEqual({ host: "::1", subdomains: false });
    for (const bad of ["", "*.", "a@b", "a/b", "*a.com", "a b"]) expect(canonicalHostPattern(bad)).toBeNull();
  });
});
