import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../../../core/errors.ts";
import { saslprep } from "./saslprep.ts";
import { createScramClient, md5Password } from "./scram.ts";

const RFC7677 = {
  nonce: "rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

function started(password = "pencil") {
  const c = createScramClient({ username: "user", password, nonce: RFC7677.nonce });
  c.clientFirstMessage();
  return c;
}

describe("SCRAM-SHA-256 client", () => {
  test("RFC 7677 test vector", () => {
    const c = createScramClient({ username: "user", password: "pencil", nonce: RFC7677.nonce });
    expect(c.clientFirstMessage()).toBe("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    expect(c.clientFinalMessage(RFC7677.serverFirst)).toBe(RFC7677.clientFinal);
    expect(c.verified).toBe(false);
    c.verifyServerFinal(RFC7677.serverFinal);
    expect(c.verified).toBe(true);
  });

  test("PostgreSQL style: empty username, random nonce", () => {
    const a = createScramClient({ password: "x" }).clientFirstMessage();
    const b = createScramClient({ password: "x" }).clientFirstMessage();
    expect(a).toMatch(/^n,,n=,r=[A-Za-z0-9+/]{24}$/);
    expect(a).not.toBe(b);
  });

  test("a server signature from the wrong password is refused", () => {
    const c = started("not-pencil");
    c.clientFinalMessage(RFC7677.serverFirst);
    expect(() => c.verifyServerFinal(RFC7677.serverFinal)).toThrow("signature does not verify");
    expect(c.verified).toBe(false);
  });

  test("a server nonce that does not extend ours is refused", () => {
    const c = started();
    try {
      c.clientFinalMessage("r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
      throw new Error("no error");
    } catch (e) {
      expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    }
    expect(() => started().clientFinalMessage(`r=${RFC7677.nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`)).toThrow("nonce");
  });

  test.each([
    ["missing salt", "r=rOprNGfwEbeRWgbNEkqOxyz,i=4096"],
    ["zero iterations", "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0"],
    ["huge iterations", "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999"],
    ["non-numeric iterations", "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k"],
    ["salt not base64", "r=rOprNGfwEbeRWgbNEkqOxyz,s=***,i=4096"],
    ["mandatory extension", "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"],
    ["garbage", "hello"],
  ])("malformed server-first: %s", (_name, serverFirst) => {
    try {
      started().clientFinalMessage(serverFirst);
      throw new Error("no error");
    } catch (e) {
      expect(isGatewayError(e, "E_PROTOCOL")).toBe(true);
    }
  });

  test("server-final with e= reports the server's error", () => {
    const c = started();
    c.clientFinalMessage(RFC7677.serverFirst);
    expect(() => c.verifyServerFinal("e=invalid-proof")).toThrow("invalid-proof");
    expect(c.verified).toBe(false);
  });

  test("steps out of order are refused", () => {
    const c = createScramClient({ password: "p" });
    expect(() => c.clientFinalMessage(RFC7677.serverFirst)).toThrow("out of order");
    expect(() => c.verifyServerFinal(RFC7677.serverFinal)).toThrow("out of order");
    c.clientFirstMessage();
    expect(() => c.clientFirstMessage()).toThrow("already sent");
  });

  test("usernames are escaped as saslname", () => {
    expect(createScramClient({ username: "a=b,c", password: "p", nonce: "n" }).clientFirstMessage()).toBe("n,,n=a=3Db=2Cc,r=n");
  });
});

describe("MD5 password", () => {
  test("known value (computed independently with Python's hashlib)", () => {
    expect(md5Password("postgres", "secret", new Uint8Array([1, 2, 3, 4]))).toBe("md5bb41a296aab6baccb36ff243a562abff");
  });

  test("salt must be 4 bytes", () => {
    expect(() => md5Password("u", "p", new Uint8Array(3))).toThrow("4 bytes");
  });
});

describe("SASLprep", () => {
  test.each([
    ["ASCII unchanged", "pencil", "pencil"],
    ["ASCII controls unchanged (PostgreSQL skips ASCII)", "a\u0007b", "a\u0007b"],
    ["soft hyphen mapped to nothing (RFC 4013 example)", "I\u00ADX", "IX"],
    ["non-ASCII space mapped to space", "a\u00A0b", "a b"],
    ["NFKC: feminine ordinal", "\u00AA", "a"],
    ["NFKC: roman numeral nine", "\u2168", "IX"],
    ["prohibited character → used as is", "\u00E9\u0007", "\u00E9\u0007"],
    ["bidi: RandAL then digit → used as is (RFC 4013 example)", "\u0627\u0031", "\u0627\u0031"],
    ["bidi: all RandAL is fine", "\u0627\u0628", "\u0627\u0628"],
    ["composed stays composed", "e\u0301", "\u00E9"],
  ])("%s", (_name, input, expected) => {
    expect(saslprep(input)).toBe(expected);
  });
});
