import { expect, test } from "bun:test";
import { bearerOf, bearerToken, downstreamResponseHeaders, upstreamRequestFields, upstreamRequestFieldsOfLines, upstreamRequestHeaders } from "./headers.ts";

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

// The rules as first written (a delete per name that could be there): the reference for the
// one-pass version above, on generated header sets.
function referenceUpstream(incoming: Headers, extra: Record<string, string>, client: { ip: string; host: string | null; proto: string }): Headers {
  const h = new Headers(incoming);
  for (const name of ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]) h.delete(name);
  for (const name of (incoming.get("connection") ?? "").split(",")) if (name.trim()) h.delete(name.trim());
  h.delete("authorization");
  h.delete("host");
  for (const name of ["x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url", "x-original-method", "forwarded"]) h.delete(name);
  const prior = incoming.get("x-forwarded-for");
  h.set("x-forwarded-for", prior ? `${prior}, ${client.ip}` : client.ip);
  if (client.host) h.set("x-forwarded-host", client.host);
  h.set("x-forwarded-proto", client.proto);
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  return h;
}

test("generated header sets: the same fields reach the upstream and the client as with a delete per name", () => {
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const names = ["Authorization", "HOST", "Connection", "connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization", "Proxy-Authenticate", "X-HTTP-Method-Override", "x-http-method", "X-Method-Override", "X-Original-URL", "x-rewrite-url", "X-Original-Method", "Forwarded", "Accept", "X-Private", "x-forwarded-for", "Content-Type", "Cookie", "X-Api-Key"];
  const values = ["a", "keep-alive, x-private", "close", "X-Private, Accept", "1.2.3.4", "", "upgrade"];
  for (let i = 0; i < 2000; i++) {
    const init: [string, string][] = [];
    const n = Math.floor(rand() * 8);
    for (let k = 0; k < n; k++) init.push([names[Math.floor(rand() * names.length)]!, values[Math.floor(rand() * values.length)]!]);
    const incoming = new Headers(init);
    const client = { ip: "10.0.0.1", host: rand() < 0.5 ? "gw:8080" : null, proto: "http" };
    const extra: Record<string, string> = rand() < 0.5 ? { "x-api-key": "real" } : {};
    // Both as fetch reads them (a Headers from entries: values trimmed, as on the wire).
    const fields = upstreamRequestFields(incoming, extra, client);
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect([...new Headers(Object.entries(fields))]).toEqual([...new Headers([...referenceUpstream(incoming, extra, client)])]);
    const hop = new Headers(incoming);
    for (const name of ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]) hop.delete(name);
    expect([...downstreamResponseHeaders(incoming)]).toEqual([...hop]);
  }
});

// The fast lane builds the upstream fields from the head's lines (each name once, lower-cased,
// values trimmed, as the listener's parser gives them); the full path from the Request's Headers.
// On random line sets both must give the same fields, and the same token.
test("upstreamRequestFieldsOfLines gives what upstreamRequestFields gives of the same lines as Headers (2,000 random sets)", () => {
  let seed = 11;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return (seed >>> 16) % n;
  };
  const names = ["accept", "authorization", "connection", "cookie", "forwarded", "host", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-a", "x-b", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-http-method-override", "x-original-url", "x-private"];
  const values = ["1", "a b", "Bearer tok", "bearer  tok2 ", "Bearer a, Bearer b", "keep-alive, x-private", "X-A , x-b", "close", "10.0.0.7", "", "k=v; k2=v2", "\u00e9t\u00e9"];
  const extras: Record<string, string>[] = [{}, { "x-api-key": "real" }, { "X-A": "from config" }, { authorization: "Bearer upstream" }];
  let compared = 0;
  for (let i = 0; i < 2000; i++) {
    const lines: [string, string][] = [];
    // Values as the parser gives them: without surrounding SP or HTAB.
    for (const name of names) if (rand(3) === 0) lines.push([name, values[rand(values.length)]!.replace(/^[ \t]+|[ \t]+$/g, "")]);
    // The order sent varies; each name appears once (the lane leaves repeated names to the full path).
    lines.sort(() => rand(3) - 1);
    const extra = extras[rand(extras.length)]!;
    const client = { ip: "127.0.0.1", host: rand(2) === 0 ? "gw:1" : null, proto: "http" };
    const headers = new Headers(lines);
    const sorted = (o: Record<string, string>) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1));
    expect(sorted(upstreamRequestFieldsOfLines(lines, extra, client))).toEqual(sorted(upstreamRequestFields(headers, extra, client)));
    const authorization = lines.find(([n]) => n === "authorization")?.[1];
    expect(authorization === undefined ? null : bearerOf(authorization)).toBe(bearerToken(headers));
    compared++;
  }
  expect(compared).toBe(2000);
});
