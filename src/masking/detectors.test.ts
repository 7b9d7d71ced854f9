import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../core/errors.ts";
import { ibanValid, luhnValid } from "./checksums.ts";
import { compileDetectors, DETECTOR_NAMES, maskValue } from "./detectors.ts";

// Secrets are assembled from pieces so that secret scanners do not flag this file.
const join = (...parts: string[]) => parts.join("");
const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

/** Each row: input, expected output with only that detector on. */
type Row = readonly [input: string, expected: string];

function table(name: string, positives: readonly Row[], negatives: readonly string[]) {
  describe(name, () => {
    const detector = compileDetectors([name]);
    test.each(positives)("masks %p", (input, expected) => {
      const r = detector.maskString(input);
      expect(r.value).toBe(expected);
      expect(r.hits).toBeGreaterThan(0);
    });
    test.each(negatives.map((n) => [n]))("leaves %p", (input) => {
      expect(detector.maskString(input)).toEqual({ value: input, hits: 0 });
    });
  });
}

describe("checksums", () => {
  test("Luhn", () => {
    expect(luhnValid("4242424242424242")).toBe(true);
    expect(luhnValid("79927398713")).toBe(true); // the textbook example
    expect(luhnValid("79927398710")).toBe(false);
    expect(luhnValid("4242424242424241")).toBe(false);
    expect(luhnValid("")).toBe(false);
    expect(luhnValid("4242x")).toBe(false);
  });
  test("IBAN mod 97", () => {
    expect(ibanValid("GB82WEST12345698765432")).toBe(true);
    expect(ibanValid("GB82WEST12345698765433")).toBe(false);
    expect(ibanValid("GB28WEST12345698765432")).toBe(false);
    expect(ibanValid("gb82west12345698765432")).toBe(false);
    expect(ibanValid("GB82WEST")).toBe(false);
  });
});

table(
  "email",
  [
    ["bob@example.com", "[masked:email]"],
    ["write to bob.smith+tag@mail.example.co.uk today", "write to [masked:email] today"],
    ["<A_B%c-d@sub-domain.example.org>", "<[masked:email]>"],
    ["end of sentence alice@example.net.", "end of sentence [masked:email]."],
  ],
  ["no at sign here", "@mention", "user@localhost", "a@b", "foo@", "@example.com"],
);

table(
  "card",
  [
    // Published test numbers of the card networks (Stripe / PayPal test cards).
    ["4242424242424242", "[masked:card ****4242]"],
    ["4242 4242 4242 4242", "[masked:card ****4242]"],
    ["4242-4242-4242-4242", "[masked:card ****4242]"],
    ["paid with 5555555555554444.", "paid with [masked:card ****4444]."],
    ["2223003122003222", "[masked:card ****3222]"],
    ["378282246310005", "[masked:card ****0005]"],
    ["3782 822463 10005", "[masked:card ****0005]"],
    ["6011111111111117", "[masked:card ****1117]"],
    ["3056930009020004", "[masked:card ****0004]"],
    ["36227206271667", "[masked:card ****1667]"],
    ["3566002020360505", "[masked:card ****0505]"],
    ["6205500000000000004", "[masked:card ****0004]"],
    ["4222222222222", "[masked:card ****2222]"],
    ["card=4111111111111111;", "card=[masked:card ****1111];"],
    // A CVV written after the number is not part of it.
    ["4242 4242 4242 4242 123", "[masked:card ****4242] 123"],
  ],
  [
    "4242424242424241", // Luhn fails
    "4111111111111112",
    "4242 4242 4242 4241",
    "1700000000000", // a millisecond timestamp: Luhn-valid, but no card network starts with 1
    "7992739871300", // Luhn-valid, starts with 7
    "424242424242", // 12 digits
    "42424242424242424242", // 20 digits in a row: an id, not a card
    "order 12345 67890",
    "4242_4242_4242_4242",
  ],
);

test("card: a 5th group of 4 is not read as a separate number", () => {
  // 20 grouped digits do not pass; the first 16 form a valid card and are masked.
  const r = compileDetectors(["card"]).maskString("4242 4242 4242 4242 4242");
  expect(r).toEqual({ value: "[masked:card ****4242] 4242", hits: 1 });
});

table(
  "ssn",
  [
    ["123-45-6789", "[masked:ssn]"],
    ["SSN: 078-05-1120.", "SSN: [masked:ssn]."],
    ["665-01-0001", "[masked:ssn]"],
    ["899-99-9999", "[masked:ssn]"],
  ],
  [
    "000-12-3456", // area 000
    "666-12-3456", // area 666
    "900-12-3456", // areas 9xx
    "987-65-4321",
    "123-00-4567", // group 00
    "123-45-0000", // serial 0000
    "123456789", // no dashes
    "1123-45-6789", // longer run
    "123-45-67890",
    "2024-01-15",
  ],
);

table(
  "iban",
  [
    // Examples published by the national banks / the IBAN registry.
    ["GB82 WEST 1234 5698 7654 32", "[masked:iban]"],
    ["GB82WEST12345698765432", "[masked:iban]"],
    ["to DE89 3704 0044 0532 0130 00.", "to [masked:iban]."],
    ["DE89370400440532013000", "[masked:iban]"],
    ["FR14 2004 1010 0505 0001 3M02 606", "[masked:iban]"],
    ["NL91 ABNA 0417 1643 00", "[masked:iban]"],
    ["CH93 0076 2011 6238 5295 7", "[masked:iban]"],
    ["ES91 2100 0418 4502 0005 1332", "[masked:iban]"],
    ["IT60 X054 2811 1010 0000 0123 456", "[masked:iban]"],
    ["NO9386011117947", "[masked:iban]"],
    ["MT84 MALT 0110 0001 2345 MTLC AST0 01S", "[masked:iban]"],
    // A following word of four capitals is not swallowed.
    ["BE68 5390 0754 7034 THEN more", "[masked:iban] THEN more"],
  ],
  [
    "GB82 WEST 1234 5698 7654 33", // one digit changed
    "GB83WEST12345698765432", // check digits changed
    "DE89 3704 0044 0532 0130 01",
    "gb82west12345698765432", // not written as an IBAN is
    "XX00 0000 0000",
    "AB12",
    "HTTP2 is fine",
  ],
);

table(
  "phone",
  [
    ["+14155552671", "[masked:phone]"],
    ["call +44 20 7946 0958 now", "call [masked:phone] now"],
    ["+44 (0)20 7946 0958", "[masked:phone]"],
    ["+1 (555) 123-4567", "[masked:phone]"],
    ["+1-555-123-4567", "[masked:phone]"],
    ["+33 6 12 34 56 78", "[masked:phone]"],
    ["(555) 123-4567", "[masked:phone]"],
    ["555-123-4567", "[masked:phone]"],
    ["555.123.4567", "[masked:phone]"],
    ["1-800-555-1234", "[masked:phone]"],
    ["020 7946 0958", "[masked:phone]"],
    ["(020) 7946 0958", "[masked:phone]"],
    ["06 12 34 56 78", "[masked:phone]"],
    ["tel:+4915123456789;", "tel:[masked:phone];"],
  ],
  [
    "2024-01-15", // ISO date
    "15.01.2024", // European date
    "01/02/2024",
    "01-02-2024 12:30",
    "2024-01-15T10:00:00+01:00", // a time zone is not a phone
    "Mon, 15 Jan 2024 10:00:00 +0100",
    "1.2.3",
    "10.0.19045", // version
    "192.168.1.100", // address
    "12345678901", // plain integer
    "3.14159265358979",
    "+1234567", // 7 digits after +
    "price 1 200 300",
    "1+2=3",
  ],
);

const jwtHeader = b64url('{"alg":"HS256","typ":"JWT"}');
const jwtPayload = b64url('{"sub":"1234567890","name":"John Doe","iat":1516239022}');
const jwt = `${jwtHeader}.${jwtPayload}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
table(
  "jwt",
  [
    [jwt, "[masked:jwt]"],
    [`Authorization: Bearer ${jwt}`, "Authorization: Bearer [masked:jwt]"],
    [`token ${jwt}. Next`, "token [masked:jwt]. Next"],
    [`${b64url('{"alg":"none"}')}.${jwtPayload}.`, "[masked:jwt]"], // unsecured: empty signature
    [`${b64url('{\n "alg": "RS256"\n}')}.${jwtPayload}.sig`, "[masked:jwt]"], // header starting "{\n"
    [`${b64url('{"alg":"dir","enc":"A256GCM"}')}..iv-part.cipher-text.tag-part`, "[masked:jwt]"], // JWE
  ],
  [
    "a.b.c",
    "www.example.com",
    "eyes.are.blue",
    "api.eu-west-1.amazonaws.com",
    `${b64url('{"typ":"JWT"}')}.${jwtPayload}.sig`, // header without alg
    `${b64url('["alg"]')}.${jwtPayload}.sig`, // header not an object
    `${jwtHeader}`, // one segment
    `${jwtHeader}.${jwtPayload}`, // two segments
    "eyJub3QganNvbg.e30.sig", // header is not JSON
  ],
);

const awsKeyId = join("AKIA", "IOSFODNN7EXAMPLE");
const awsSecret = join("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY");
const gcpKey = join("AIza", "SyA1b2C3d4E5f6G7h8I9j0K_l-M2n3O4p5Q");
const ghp = join("ghp", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8");
const pat = join("github", "_pat_", "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW");
const slack = join("xox", "b-", "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx");
const stripe = join("sk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc");
const stripeRestricted = join("rk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc");
const pemBegin = join("-----BEGIN ", "RSA PRIVATE KEY-----");
const pemEnd = join("-----END ", "RSA PRIVATE KEY-----");

test("cloud_key fixtures have the real lengths", () => {
  expect(awsKeyId).toHaveLength(20);
  expect(awsSecret).toHaveLength(40);
  expect(gcpKey).toHaveLength(39);
  expect(ghp).toHaveLength(40);
});

table(
  "cloud_key",
  [
    [awsKeyId, "[masked:cloud_key]"],
    [`key id ${join("ASIA", "Y34FZKBOKMUTVV7A")} here`, "key id [masked:cloud_key] here"],
    [`aws_secret_access_key = ${awsSecret}`, "aws_secret_access_key = [masked:cloud_key]"],
    [`AWS_SECRET_ACCESS_KEY=${awsSecret}\n`, "AWS_SECRET_ACCESS_KEY=[masked:cloud_key]\n"],
    [`{"SecretAccessKey": "${awsSecret}"}`, '{"SecretAccessKey": "[masked:cloud_key]"}'],
    [`{\\"aws_secret_access_key\\":\\"${awsSecret}\\"}`, '{\\"aws_secret_access_key\\":\\"[masked:cloud_key]\\"}'],
    [`key=${gcpKey}&q=1`, "key=[masked:cloud_key]&q=1"],
    [`token ${ghp}`, "token [masked:cloud_key]"],
    [join("gho", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"), "[masked:cloud_key]"],
    [join("ghs", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"), "[masked:cloud_key]"],
    [join("ghu", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"), "[masked:cloud_key]"],
    [join("ghr", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"), "[masked:cloud_key]"],
    [pat, "[masked:cloud_key]"],
    [`SLACK=${slack}`, "SLACK=[masked:cloud_key]"],
    [join("xox", "p-", "1234567890-abcdefghij"), "[masked:cloud_key]"],
    [stripe, "[masked:cloud_key]"],
    [stripeRestricted, "[masked:cloud_key]"],
    [`a\n${pemBegin}\nMIIEowIBAAKCAQEA\nabcd\n${pemEnd}\nb`, "a\n[masked:cloud_key]\nb"],
    [join("-----BEGIN ", "PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END ", "PRIVATE KEY-----"), "[masked:cloud_key]"],
    [join("-----BEGIN ", "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r"), "[masked:cloud_key]"], // no END: to the end
  ],
  [
    join("AKIA", "IOSFODNN7EXAMPL"), // 15 after the prefix
    join("AKIA", "IOSFODNN7EXAMPLE", "X"), // 17: part of a longer word
    join("akia", "iosfodnn7example"),
    awsSecret, // 40 base64 characters without a name are not recognisable
    `password = ${awsSecret}`,
    join("AIza", "Sy"),
    join("ghp", "_short"),
    join("sk", "_live_"),
    join("xox", "b-"),
    join("-----BEGIN ", "PUBLIC KEY-----\nMIIBIjANBgkq\n-----END ", "PUBLIC KEY-----"),
    join("-----BEGIN ", "CERTIFICATE-----"),
  ],
);

describe("several detectors together", () => {
  const all = compileDetectors(DETECTOR_NAMES);

  test("masks every value in a longer text, in place", () => {
    const input = `Customer alice@example.com (+1 (555) 123-4567, SSN 123-45-6789) paid with 4242 4242 4242 4242 from GB82 WEST 1234 5698 7654 32; key ${awsKeyId}; token ${jwt}.`;
    const r = all.maskString(input);
    expect(r.value).toBe(
      "Customer [masked:email] ([masked:phone], SSN [masked:ssn]) paid with [masked:card ****4242] from [masked:iban]; key [masked:cloud_key]; token [masked:jwt].",
    );
    expect(r.hits).toBe(7);
  });

  test("several values of one kind", () => {
    const r = compileDetectors(["email"]).maskString("a@example.com,b@example.com c@example.org");
    expect(r).toEqual({ value: "[masked:email],[masked:email] [masked:email]", hits: 3 });
  });

  test("the same input gives the same output, and masking twice changes nothing more", () => {
    const input = "x 5555 5555 5555 4444 y bob@example.com";
    const once = all.maskString(input);
    expect(all.maskString(input)).toEqual(once);
    expect(all.maskString(once.value)).toEqual({ value: once.value, hits: 0 });
  });

  test("a string without anything sensitive comes back unchanged", () => {
    const input = "GET /api/v1/orders?page=2&limit=50 HTTP/1.1 took 12 ms, version 1.2.3 on 2024-01-15";
    expect(all.maskString(input)).toEqual({ value: input, hits: 0 });
    expect(all.maskString("")).toEqual({ value: "", hits: 0 });
  });

  test("only the named detectors run", () => {
    const r = compileDetectors(["ssn"]).maskString("bob@example.com 123-45-6789 4242424242424242");
    expect(r.value).toBe("bob@example.com [masked:ssn] 4242424242424242");
  });

  test("a field named like an AWS secret key masks its 40-character value", () => {
    const d = compileDetectors(["cloud_key"]);
    expect(d.maskString(awsSecret, "aws_secret_access_key")).toEqual({ value: "[masked:cloud_key]", hits: 1 });
    expect(d.maskString(awsSecret, "SecretAccessKey").hits).toBe(1);
    expect(d.maskString(awsSecret, "description").hits).toBe(0);
    expect(compileDetectors(["email"]).maskString(awsSecret, "aws_secret_access_key").hits).toBe(0);
  });
});

describe("maskNumber", () => {
  test("card digits only when card is on", () => {
    expect(compileDetectors(["card"]).maskNumber("4242424242424242")).toBe("[masked:card ****4242]");
    expect(compileDetectors(["card"]).maskNumber("4242424242424241")).toBeNull();
    expect(compileDetectors(["card"]).maskNumber("1700000000000")).toBeNull();
    expect(compileDetectors(["email"]).maskNumber("4242424242424242")).toBeNull();
  });
});

describe("compileDetectors", () => {
  test("an unknown detector name is refused at compile time", () => {
    let caught: unknown;
    try {
      compileDetectors(["email", "passport"]);
    } catch (e) {
      caught = e;
    }
    expect(isGatewayError(caught, "E_MASK")).toBe(true);
    expect((caught as Error).message).toContain('"passport"');
  });

  test("no names: nothing is masked", () => {
    const d = compileDetectors([]);
    expect(d.maskString("bob@example.com")).toEqual({ value: "bob@example.com", hits: 0 });
  });

  test("duplicates collapse", () => {
    expect(compileDetectors(["email", "email"]).names).toEqual(["email"]);
  });

  test("whole-value replacement", () => {
    expect(maskValue()).toBe("[masked]");
  });
});
