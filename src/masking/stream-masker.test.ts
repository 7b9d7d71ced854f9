import { describe, expect, test } from "bun:test";
import { compileDetectors, DETECTOR_NAMES } from "./detectors.ts";
import { createStreamMasker, maskTerminalBytes } from "./stream-masker.ts";

const all = compileDetectors([...DETECTOR_NAMES]);
const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? enc(p) : Uint8Array.from(p))));

function streamed(chunks: readonly Uint8Array[], maxHold?: number): Uint8Array {
  const m = createStreamMasker(all, maxHold === undefined ? {} : { maxHold });
  return Buffer.concat([...chunks.map((c) => m.write(c)), m.flush()]);
}

const PEM = "-----BEGIN RSA PRIVATE KEY-----\r\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\r\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\r\n-----END RSA PRIVATE KEY-----\r\n";

// Each input with what masking it whole must contain, so a test that masks nothing cannot pass.
const CASES: [string, Uint8Array, string[]][] = [
  ["emails", enc("Contact alice@example.com or bob.smith+x@mail.example.org today.\r\n$ "), ["[masked:email]"]],
  ["cards", enc("card 4111 1111 1111 1111 exp 12/29, other 5500-0000-0000-0004; 4111111111111111\r\n"), ["[masked:card ****1111]", "[masked:card ****0004]"]],
  ["UTF-8", enc("naïve café — 名前: 山田 <yamada@example.jp> 😀 4111111111111111é\r\n"), ["[masked:email]", "[masked:card ****1111]", "😀"]],
  ["CSI", enc("\x1b[1;32mgreen\x1b[0m alice@example.com\x1b[K ali\x1b[31mce@example.com\x1b[0m\r\n\x1b[?2004h"), ["[masked:email]", "ali\x1b[31m"]],
  ["OSC", enc("\x1b]0;bob@example.com: ~\x07bob@example.com$ \x1b]8;;https://x.example/?u=carol@example.com\x1b\\link\x1b]8;;\x1b\\\r\n"), ["[masked:email]", "\x1b]0;bob@example.com: ~\x07"]],
  ["private key", enc(`key:\r\n${PEM}after alice@example.com\r\n`), ["[masked:cloud_key]\r\nafter [masked:email]"]],
  ["AWS secret", enc("aws_secret_access_key =\r\n  wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\r\nid AKIAIOSFODNN7EXAMPLE\r\n"), ["[masked:cloud_key]\r\nid [masked:cloud_key]"]],
  ["others", enc("tel +44 20 7946 0958, ssn 123-45-6789, iban DE89 3704 0044 0532 0130 00, (555) 123-4567\r\n"), ["[masked:phone]", "[masked:ssn]", "[masked:iban]"]],
  ["jwt", enc("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl\r\n"), ["[masked:jwt]"]],
  ["invalid UTF-8", bytes([0xff, 0xfe], "4111111111111111", [0xc3], " x@example.com ", [0xe2, 0x82], "\n"), ["[masked:card ****1111]", "[masked:email]"]],
];

describe("stream masker", () => {
  for (const [name, input, expected] of CASES) {
    test(`${name}: every split position gives the whole-input result`, () => {
      const whole = maskTerminalBytes(input, all);
      for (const e of expected) expect(text(whole)).toContain(text(enc(e)));
      for (let a = 0; a <= input.length; a++) {
        const two = streamed([input.subarray(0, a), input.subarray(a)]);
        if (text(two) !== text(whole)) throw new Error(`split at ${a} of ${JSON.stringify(text(input))}:\n got ${JSON.stringify(text(two))}\nwant ${JSON.stringify(text(whole))}`);
      }
      // Three pieces, and one byte at a time.
      for (let a = 0; a <= input.length; a += 3) {
        for (let b = a; b <= input.length; b += 5) {
          expect(text(streamed([input.subarray(0, a), input.subarray(a, b), input.subarray(b)]))).toBe(text(whole));
        }
      }
      expect(text(streamed([...input].map((x) => Uint8Array.of(x))))).toBe(text(whole));
    });
  }

  test("output with nothing to mask goes out at once, byte for byte, binary included", () => {
    const m = createStreamMasker(all);
    const listing = enc("total 8\r\ndrwxr-xr-x 2 root root 4096 Dec  6 12:00 .\r\n");
    expect(m.write(listing)).toEqual(listing);
    expect(m.held).toBe(0);
    const prompt = enc("\x1b[01;32malice@web1\x1b[00m:\x1b[01;34m~\x1b[00m$ ");
    expect(text(m.write(prompt))).toBe(text(prompt)); // alice@web1 is no e-mail: no dot
    expect(m.held).toBe(0);
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x40);
    expect(text(Buffer.concat([m.write(binary), m.flush()]))).toBe(text(binary));
  });

  test("a word that could start a match is held until flush(); escape sequences are never held", () => {
    const m = createStreamMasker(all);
    expect(text(m.write(enc("l")))).toBe("");
    expect(m.held).toBe(1);
    expect(text(m.write(enc("s")))).toBe("");
    expect(text(m.write(enc("\x1b[K")))).toBe("ls\x1b[K");
    expect(text(m.write(enc("\x1b]0;ti")))).toBe("\x1b]0;ti");
    expect(text(m.write(enc("tle\x07")))).toBe("tle\x07");
    expect(text(m.write(enc("mail x@example.co")))).toBe("mail ");
    expect(text(m.flush())).toBe("[masked:email]");
    expect(m.hits).toBe(1);
  });

  test("the hold is bounded: a long run with no safe cut is cut anyway, and counted", () => {
    const m = createStreamMasker(all, { maxHold: 4096 });
    let out = 0;
    for (let i = 0; i < 100; i++) {
      out += m.write(enc("a".repeat(1000))).length;
      expect(m.held).toBeLessThanOrEqual(4096 + 1000);
    }
    out += m.flush().length;
    expect(out).toBe(100_000);
    expect(m.forcedCuts).toBeGreaterThan(0);
  });

  test("a private key block is masked as soon as its BEGIN line is complete, and dropped to its END line", () => {
    const m = createStreamMasker(all);
    const lines = PEM.split("\r\n");
    expect(text(m.write(enc(`${lines[0]}\r\n`)))).toBe("[masked:cloud_key]");
    expect(text(m.write(enc(`${lines[1]}\r\n${lines[2]}\r\n`)))).toBe("");
    expect(m.held).toBeLessThan(40);
    expect(text(m.flush())).toBe("");
    expect(text(m.write(enc(`${lines[3]}\r\nok\r\n`)))).toBe("\r\nok\r\n");
  });

  test("an idle flush keeps back what may be the start of a BEGIN line; a final flush does not", () => {
    const m = createStreamMasker(all);
    expect(text(m.write(enc("$ cat id_rsa\r\n-----BEGIN OPENSSH PRIV")))).toBe("$ cat id_rsa\r\n");
    expect(text(m.flush())).toBe("");
    expect(text(m.write(enc("ATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAA\r\n")))).toBe("[masked:cloud_key]");
    const n = createStreamMasker(all);
    expect(text(n.write(enc("a ---")))).toBe("a ");
    expect(text(n.flush())).toBe("");
    expect(text(n.flush(true))).toBe("---");
  });
});
