import { describe, expect, test } from "bun:test";
import { readMessage, readMessageText, writeMessage } from "./json-rpc.ts";
import { parseStrictJson } from "./strict-json.ts";
import { routingHeaderMismatch } from "./routing-headers.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const refused = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return null;
};

describe("strict JSON", () => {
  test("reads what JSON.parse reads", () => {
    for (const t of ['{"a":[1,2.5e3,-0,"x\\u00e9\\n",true,false,null],"b":{}}', "[]", '"\\ud83d\\ude00"', "  0 "]) expect(parseStrictJson(t)).toEqual(JSON.parse(t));
  });
  test("refuses a duplicate key at any depth, also when escaped differently", () => {
    expect(refused(() => parseStrictJson('{"a":1,"a":2}'))).toContain('duplicate key "a"');
    expect(refused(() => parseStrictJson('{"x":{"name":"echo","n\\u0061me":"rm"}}'))).toContain('duplicate key "name"');
    expect(refused(() => parseStrictJson('{"a":[{"b":1,"b":1}]}'))).toContain("duplicate");
  });
  test("refuses lone surrogates, control characters, trailing text, deep nesting", () => {
    expect(refused(() => parseStrictJson('"\\ud800"'))).toContain("surrogate");
    expect(refused(() => parseStrictJson('"a\u0001"'))).toContain("control character");
    expect(refused(() => parseStrictJson('{"a":1} {"b":2}'))).toContain("after the JSON value");
    expect(refused(() => parseStrictJson("[".repeat(100) + "]".repeat(100)))).toContain("nested deeper");
    expect(refused(() => parseStrictJson("NaN"))).not.toBeNull();
    expect(refused(() => parseStrictJson("1e999"))).toContain("out of range");
  });
  test("__proto__ is data, never a prototype", () => {
    const v = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect((v as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe("JSON-RPC messages", () => {
  test("sorts requests, notifications and responses", () => {
    expect(readMessage(enc('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}'))).toEqual({ kind: "request", id: 1, method: "tools/call", params: { name: "echo" } });
    expect(readMessage(enc('{"jsonrpc":"2.0","method":"notifications/initialized"}')).kind).toBe("notification");
    expect(readMessage(enc('{"jsonrpc":"2.0","id":"a","result":{}}')).kind).toBe("response");
    expect(readMessage(enc('{"jsonrpc":"2.0","id":"a","error":{"code":-1,"message":"x"}}')).kind).toBe("response");
  });
  test("refuses batches", () => {
    expect(refused(() => readMessage(enc('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')))).toContain("batches are refused");
  });
  test("refuses invalid UTF-8 and a byte-order mark", () => {
    const bad = new Uint8Array([...enc('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ec'), 0xff, ...enc('ho"}}')]);
    expect(refused(() => readMessage(bad))).toContain("not valid UTF-8");
    // An overlong encoding of "/" (0xc0 0xaf): a lenient decoder might read a path separator.
    expect(refused(() => readMessage(new Uint8Array([...enc('{"jsonrpc":"2.0","id":1,"method":"a'), 0xc0, 0xaf, ...enc('"}')])))).toContain("UTF-8");
    expect(refused(() => readMessage(new Uint8Array([0xef, 0xbb, 0xbf, ...enc('{"jsonrpc":"2.0","id":1,"method":"ping"}')])))).toContain("byte-order mark");
  });
  test("refuses duplicate keys in the envelope and in arguments", () => {
    expect(refused(() => readMessageText('{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}'))).toContain("duplicate");
    expect(refused(() => readMessageText('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{"path":"/ok","path":"/etc/shadow"}}}'))).toContain("duplicate");
  });
  test("refuses ambiguous shapes", () => {
    for (const t of [
      '{"id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":null,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
      '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}',
      '{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["echo"]}',
      '{"jsonrpc":"2.0","id":1,"method":"ping","extra":1}',
      '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
      '"ping"',
    ])
      expect(refused(() => readMessageText(t))).not.toBeNull();
  });
  test("writes what it reads", () => {
    const t = '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"m":"x"}}}';
    expect(writeMessage(readMessageText(t))).toBe(t);
  });
});

describe("routing headers", () => {
  const call = readMessageText('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/a","Mode":"r"}}}');
  test("agreeing headers pass", () => {
    expect(routingHeaderMismatch(new Headers({ "mcp-method": "tools/call", "mcp-name": "read_file", "mcp-param-path": "/srv/a", "Mcp-Param-Mode": "r" }), call)).toBeNull();
    expect(routingHeaderMismatch(new Headers(), call)).toBeNull();
  });
  test("headers that disagree with the body are refused", () => {
    expect(routingHeaderMismatch(new Headers({ "mcp-method": "tools/list" }), call)).toContain("Mcp-Method");
    expect(routingHeaderMismatch(new Headers({ "mcp-name": "list_directory" }), call)).toContain("Mcp-Name");
    expect(routingHeaderMismatch(new Headers({ "mcp-param-path": "/srv/b" }), call)).toContain("mcp-param-path");
    expect(routingHeaderMismatch(new Headers({ "mcp-param-missing": "x" }), call)).toContain("no argument");
    const twoCases = readMessageText('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"path":"/a","PATH":"/b"}}}');
    expect(routingHeaderMismatch(new Headers({ "mcp-param-path": "/a" }), twoCases)).toContain("differ only in case");
  });
});
