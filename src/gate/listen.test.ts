// Listen addresses: host and port split as the targets and the admin API bind them.
import { expect, test } from "bun:test";
import { isLoopbackHost, splitListen } from "./listen.ts";

test("host:port splits at the last colon; an IPv6 host loses its brackets", () => {
  expect(splitListen("127.0.0.1:5432")).toEqual(["127.0.0.1", 5432]);
  expect(splitListen("[::1]:0")).toEqual(["::1", 0]);
  expect(splitListen("0.0.0.0:8080")).toEqual(["0.0.0.0", 8080]);
});

test("a listen value without a host is refused with E_CONFIG_INVALID", () => {
  for (const bad of ["5432", ":5432"]) expect(() => splitListen(bad)).toThrow(expect.objectContaining({ code: "E_CONFIG_INVALID" }));
});

test("loopback: localhost, ::1 and 127.0.0.0/8; nothing else", () => {
  for (const h of ["localhost", "::1", "127.0.0.1", "127.1.2.3"]) expect(isLoopbackHost(h)).toBe(true);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "127.example.com", "db"]) expect(isLoopbackHost(h)).toBe(false);
});
