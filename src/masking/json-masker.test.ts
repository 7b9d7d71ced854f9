import { describe, expect, test } from "bun:test";
import { GatewayError, isGatewayError } from "../core/errors.ts";
import type { Masks } from "../core/types.ts";
import { classifyContentType } from "./content-type.ts";
import { compileJsonMasker, type JsonMasker } from "./json-masker.ts";

const masks = (m: Partial<Masks>): Masks => ({ json: [], columns: [], detectors: [], ...m });
const masker = (m: Partial<Masks>): JsonMasker => {
  const compiled = compileJsonMasker(masks(m));
  if (compiled === null) throw new Error("expected a masker");
  return compiled;
};
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function refusal(run: () => unknown): GatewayError {
  try {
    run();
  } catch (e) {
    if (isGatewayError(e, "E_MASK")) return e;
    throw e;
  }
  throw new Error("expected an E_MASK refusal");
}

describe("compileJsonMasker", () => {
  test("null when nothing applies to JSON", () => {
    expect(compileJsonMasker(masks({}))).toBeNull();
    expect(compileJsonMasker(masks({ columns: ["email"] }))).toBeNull();
    expect(compileJsonMasker(masks({ json: ["$.a"] }))).not.toBeNull();
    expect(compileJsonMasker(masks({ detectors: ["email"] }))).not.toBeNull();
  });

  test("an invalid path or detector is refused when compiling", () => {
    expect(refusal(() => compileJsonMasker(masks({ json: ["$.a["] }))).message).toContain('"$.a["');
    expect(refusal(() => compileJsonMasker(masks({ detectors: ["nope"] }))).message).toContain('"nope"');
  });
});

describe("maskValue", () => {
  const value = {
    user: { name: "Ann", email: "ann@example.com", notes: "call +44 20 7946 0958" },
    items: [
      { id: 1, owner: "bob@example.com", secret: { a: 1, b: [2, 3] } },
      { id: 2, owner: "carol@example.com", secret: null },
    ],
    "bob@example.com": "the key stays",
  };

  test("JSON paths replace whole subtrees of any type", () => {
    const r = masker({ json: ["$.items[*].secret", "$.user.name"] }).maskValue(value);
    expect(r.masked).toBe(3);
    expect(r.value).toEqual({
      user: { name: "[masked]", email: "ann@example.com", notes: "call +44 20 7946 0958" },
      items: [
        { id: 1, owner: "bob@example.com", secret: "[masked]" },
        { id: 2, owner: "carol@example.com", secret: "[masked]" },
      ],
      "bob@example.com": "the key stays",
    });
  });

  test("detectors run over every remaining string; a key they would mask refuses the document", () => {
    const { "bob@example.com": _key, ...rest } = value;
    const r = masker({ json: ["$.items[0]"], detectors: ["email", "phone"] }).maskValue(rest);
    expect(r.value).toEqual({
      user: { name: "Ann", email: "[masked:email]", notes: "call [masked:phone]" },
      items: ["[masked]", { id: 2, owner: "[masked:email]", secret: null }],
    });
    expect(r.masked).toBe(4);
    // An e-mail used as a key cannot be masked without changing the document: refused.
    expect(() => masker({ detectors: ["email"] }).maskValue(value)).toThrow(/JSON key/);
  });

  test("a key is judged the same every time: remembered answers refuse and pass as the first did", () => {
    const m = masker({ detectors: ["email"] });
    for (let i = 0; i < 3; i++) {
      expect(() => m.maskValue({ ok: 1, "ann@example.com": true })).toThrow(/JSON key/);
      expect(m.maskValue({ ok: "ann@example.com" }).value).toEqual({ ok: "[masked:email]" });
      expect(() => m.maskBody(utf8('{"x":{"bob@example.com":1}}'), "application/json")).toThrow(/JSON key/);
    }
  });

  test("recursive descent", () => {
    const r = masker({ json: ["$..owner"] }).maskValue(value);
    expect((r.value as typeof value).items.map((i) => i.owner)).toEqual(["[masked]", "[masked]"]);
    expect(r.masked).toBe(2);
  });

  test("the input is not changed, and comes back as is when nothing matched", () => {
    const before = structuredClone(value);
    const m = masker({ json: ["$..email"], detectors: ["card"] });
    m.maskValue(value);
    expect(value).toEqual(before);
    const r = masker({ json: ["$.nothing"], detectors: ["ssn"] }).maskValue(value);
    expect(r.masked).toBe(0);
    expect(r.value).toBe(value);
  });

  test("numbers that are card numbers are masked when card is on", () => {
    const input = { n: 4242424242424242, bad: 4242424242424241, ts: 1700000000000, small: 42, f: 4.5, big: 10n ** 15n * 4n + 242424242424242n };
    const r = masker({ detectors: ["card"] }).maskValue(input);
    expect(r.value).toEqual({ ...input, n: "[masked:card ****4242]", big: "[masked:card ****4242]" });
    expect(r.masked).toBe(2);
    expect(masker({ detectors: ["email"] }).maskValue(input).masked).toBe(0);
  });

  test("a rounded number of card length (past 2^53) is masked unchecked", () => {
    const r = masker({ detectors: ["card"] }).maskValue([4242424242424242424, 9007199254740993]);
    expect(r.value).toEqual(["[masked:card]", 9007199254740993]);
  });

  test("a __proto__ member stays a member", () => {
    const input = JSON.parse('{"__proto__": {"email": "x@example.com"}, "a": "y@example.com"}') as unknown;
    const r = masker({ detectors: ["email"] }).maskValue(input);
    expect(JSON.stringify(r.value)).toBe('{"__proto__":{"email":"[masked:email]"},"a":"[masked:email]"}');
    expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype);
  });

  test("something that is not JSON data is refused", () => {
    const m = masker({ detectors: ["email"] });
    expect(refusal(() => m.maskValue({ when: new Date(0) })).message).toContain("Date");
  });

  test("nesting too deep to walk is refused, not passed", () => {
    let deep: unknown = "bob@example.com";
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(refusal(() => masker({ detectors: ["email"] }).maskValue(deep)).message).toContain("cannot mask JSON value");
  });
});

describe("maskBody", () => {
  const json = JSON.stringify({ users: [{ email: "a@example.com", card: "4242 4242 4242 4242" }], total: 1 });

  test("application/json: parse, mask, re-serialise", () => {
    const r = masker({ json: ["$.users[*].card"], detectors: ["email"] }).maskBody(utf8(json), "application/json; charset=utf-8");
    expect(JSON.parse(text(r.body))).toEqual({ users: [{ email: "[masked:email]", card: "[masked]" }], total: 1 });
    expect(r.masked).toBe(2);
  });

  test.each(["application/problem+json", "application/vnd.api+json", "APPLICATION/JSON", 'application/json; charset="UTF-8"', "text/json"])(
    "%p is JSON",
    (contentType) => {
      const r = masker({ json: ["$.total"] }).maskBody(utf8(json), contentType);
      expect(JSON.parse(text(r.body)).total).toBe("[masked]");
    },
  );

  test("nothing masked: the body comes back as it was, byte for byte", () => {
    const pretty = utf8(JSON.stringify({ a: "b" }, null, 2));
    const r = masker({ detectors: ["email"] }).maskBody(pretty, "application/json");
    expect(r.masked).toBe(0);
    expect(r.body).toBe(pretty);
    // The parse-walk-serialise reference re-serialises it.
    expect(text(compileJsonMasker(masks({ detectors: ["email"] }), { onePass: false })!.maskBody(pretty, "application/json").body)).toBe('{"a":"b"}');
  });

  test("masked: only what changed is replaced, whitespace and the rest kept", () => {
    const body = '{ "a" : "b",\n  "e":"ann@example.com" , "n": 1.50 }';
    const r = masker({ detectors: ["email"] }).maskBody(utf8(body), "application/json");
    expect(text(r.body)).toBe('{ "a" : "b",\n  "e":"[masked:email]" , "n": 1.50 }');
  });

  test("duplicate keys: every occurrence is checked and masked, not only the last", () => {
    const body = '{"contact":"ann@example.com","contact":"none","contact":"bob@example.com"}';
    const r = masker({ detectors: ["email"] }).maskBody(utf8(body), "application/json");
    expect(text(r.body)).toBe('{"contact":"[masked:email]","contact":"none","contact":"[masked:email]"}');
    const p = masker({ json: ["$.contact"] }).maskBody(utf8(body), "application/json");
    expect(text(p.body)).toBe('{"contact":"[masked]","contact":"[masked]","contact":"[masked]"}');
    // The reference keeps only the last, which it checked.
    const old = compileJsonMasker(masks({ detectors: ["email"] }), { onePass: false })!.maskBody(utf8(body), "application/json");
    expect(text(old.body)).toBe('{"contact":"[masked:email]"}');
  });

  test("numbers keep every digit through masking", () => {
    const body = '{"id":12345678901234567890,"price":1.50,"huge":1e400,"card":6205500000000000004,"e":"bob@example.com"}';
    const r = masker({ detectors: ["email", "card"] }).maskBody(utf8(body), "application/json");
    expect(text(r.body)).toBe('{"id":12345678901234567890,"price":1.50,"huge":1e400,"card":"[masked:card ****0004]","e":"[masked:email]"}');
  });

  test("NDJSON is masked line by line, blank lines and CRLF kept", () => {
    const body = '{"e":"a@example.com"}\n\n{"e":"b@example.com","n":1}\r\n{"e":"none"}\n';
    const r = masker({ json: ["$.n"], detectors: ["email"] }).maskBody(utf8(body), "application/x-ndjson");
    expect(text(r.body)).toBe('{"e":"[masked:email]"}\n\n{"e":"[masked:email]","n":"[masked]"}\r\n{"e":"none"}\n');
    expect(r.masked).toBe(3);
  });

  test("an invalid NDJSON line is refused, naming the line", () => {
    const body = '{"e":"a@example.com"}\n{"e":\n';
    expect(refusal(() => masker({ detectors: ["email"] }).maskBody(utf8(body), "application/x-ndjson")).message).toBe(
      "line 2 of the response is not valid JSON, cannot mask it: refused",
    );
  });

  test("text/* with detectors only: the text is masked", () => {
    const r = masker({ detectors: ["email", "ssn"] }).maskBody(utf8("<p>bob@example.com 123-45-6789</p>"), "text/html; charset=utf-8");
    expect(text(r.body)).toBe("<p>[masked:email] [masked:ssn]</p>");
    expect(r.masked).toBe(2);
  });

  test("JSON paths on a text body are refused", () => {
    const e = refusal(() => masker({ json: ["$.a"], detectors: ["email"] }).maskBody(utf8('{"a":1}'), "text/plain"));
    expect(e.message).toBe("response is not JSON, cannot apply JSON path masks: refused");
  });

  test("invalid JSON under a JSON content type is refused", () => {
    const m = masker({ detectors: ["email"] });
    expect(refusal(() => m.maskBody(utf8('{"a": "bob@example.com"'), "application/json")).message).toBe(
      "response is not valid JSON, cannot mask it: refused",
    );
    // Two documents are not one JSON text either.
    expect(refusal(() => m.maskBody(utf8('{"a":1}\n{"a":2}'), "application/json")).code).toBe("E_MASK");
  });

  test.each([
    ["application/octet-stream", "neither JSON nor text"],
    ["image/png", "neither JSON nor text"],
    ["application/vnd.kubernetes.protobuf", "neither JSON nor text"],
    ["multipart/form-data; boundary=x", "neither JSON nor text"],
    [null, "without a content-type"],
    ["application/json; charset=iso-8859-1", 'charset "iso-8859-1"'],
    ["text/plain; charset=utf-16", 'charset "utf-16"'],
  ])("%p with a mask is refused", (contentType, why) => {
    for (const m of [masker({ detectors: ["email"] }), masker({ json: ["$.a"] })]) {
      const e = refusal(() => m.maskBody(utf8('{"a":"x"}'), contentType));
      expect(e.message).toContain(why);
      expect(e.message).toEndWith(": refused");
    }
  });

  test("bytes that are not UTF-8 are refused", () => {
    const bad = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    for (const type of ["application/json", "text/plain"]) {
      expect(refusal(() => masker({ detectors: ["email"] }).maskBody(bad, type)).message).toBe(
        "response is not valid UTF-8, cannot mask it: refused",
      );
    }
  });

  test("an empty body has nothing to mask, whatever its type", () => {
    const empty = new Uint8Array(0);
    expect(masker({ json: ["$.a"] }).maskBody(empty, null)).toEqual({ body: empty, masked: 0 });
    expect(masker({ json: ["$.a"] }).maskBody(empty, "application/octet-stream").masked).toBe(0);
  });

  test("a UTF-8 byte order mark before JSON is accepted", () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{"e":"bob@example.com"}')]);
    expect(text(masker({ detectors: ["email"] }).maskBody(body, "application/json").body)).toBe('{"e":"[masked:email]"}');
  });
});

describe("classifyContentType", () => {
  test.each([
    ["application/json", "json", null],
    ["application/merge-patch+json; charset=UTF-8", "json", "utf-8"],
    ["application/x-ndjson", "ndjson", null],
    ["application/jsonl", "ndjson", null],
    ["text/event-stream", "text", null],
    ["text/plain;charset=\"us-ascii\"", "text", "us-ascii"],
    ["application/xml", "other", null],
    ["application/jsonp", "other", null],
    ["json", "other", null],
    [null, "other", null],
  ] as const)("%p → %p", (header, kind, charset) => {
    const t = classifyContentType(header);
    expect(t.kind).toBe(kind);
    expect(t.charset).toBe(charset);
  });
});

describe("a masker that has seen many documents", () => {
  // The memo of key answers must never change an outcome: a masker that has masked thousands
  // of documents answers each one as a masker compiled for it alone does.
  test("generated documents: the same bodies, counts and refusals as a fresh masker", () => {
    let seed = 5;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const keys = ["id", "email", "name", "card", "note", "ann@example.com", "phone", "aws_secret_access_key", "4242424242424242", "__proto__", "users"];
    const strings = ["plain", "ann@example.com", "call +44 20 7946 0958", "4242 4242 4242 4242", "AKIAABCDEFGHIJKLMNOP", "x".repeat(40), "bob@example.org and eve@example.net", ""];
    const numbers = ["1", "-0", "4242424242424242", "12345678901234567890", "1.50", "1e400", "6205500000000000004"];
    const value = (depth: number): string => {
      const r = rand();
      if (depth > 3 || r < 0.4) return rand() < 0.5 ? JSON.stringify(pick(strings)) : pick(numbers);
      if (r < 0.7) return `[${Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1)).join(",")}]`;
      return `{${Array.from({ length: Math.floor(rand() * 4) }, () => `${JSON.stringify(pick(keys))}:${value(depth + 1)}`).join(",")}}`;
    };
    const maskSets: Partial<Masks>[] = [{ detectors: ["email"] }, { detectors: ["email", "card", "phone", "cloud_key"] }, { json: ["$..card", "$.users[*].name"], detectors: ["email"] }];
    for (const m of maskSets) {
      const longLived = masker(m);
      let refused = 0;
      for (let i = 0; i < 1500; i++) {
        const body = utf8(value(0));
        const outcome = (mk: JsonMasker) => {
          try {
            const r = mk.maskBody(body, "application/json");
            return { body: text(r.body), masked: r.masked };
          } catch (e) {
            return { refused: (e as Error).message };
          }
        };
        const got = outcome(longLived);
        expect({ doc: text(body), ...got }).toEqual({ doc: text(body), ...outcome(masker(m)) });
        if ("refused" in got) refused++;
      }
      // Both kinds of outcome were compared, not only one.
      expect(refused).toBeGreaterThan(10);
      expect(refused).toBeLessThan(1400);
    }
  });
});
