// The HTTP bypass corpus: attempts to get a forbidden method or path to the upstream, or an
// unmasked field back, through the HTTP target. Each attempt is data; http-bypass.e2e.test.ts
// runs every one against the compiled gateway and a raw TCP upstream that records exactly what
// it received (method, request target as sent, headers, body) and answers like a lenient
// framework would route (see `upstreamView` in the test).
//
// Policy (see the test): developers may GET /api/**; /api/admin and /api/admin/** are denied
// for everyone; DELETE is denied everywhere; POST /api/orders/** needs review (never approved
// here, so it times out); GET /api/customers is masked ($.customers[*].name, email, card).
//
// An attempt is either `fetch` (method, path, headers: fetch normalises little of the path but
// refuses malformed input) or `raw` (bytes written to a TCP socket, for what fetch won't send).
// `$AUTH` in raw text becomes "Authorization: Bearer <developer token>", `$HOST` the gateway's
// host:port. `variant` (on /api/customers) picks how the upstream answers; it travels in the
// x-variant request header so the request target stays exactly as the attempt wrote it.
// `refused`, when given, is the status the gateway must answer with, and then nothing may
// reach the upstream at all.

export type Theme = "path" | "method" | "headers" | "smuggling" | "upgrade" | "masking" | "query";

export type Variant =
  | "plain"
  | "gzip-forced"
  | "gzip-double"
  | "br-forced"
  | "deflate-forced"
  | "text-plain"
  | "no-content-type"
  | "octet-stream"
  | "charset-utf16"
  | "charset-latin1"
  | "json-weird-ctype"
  | "dup-keys-hidden"
  | "unicode-escaped-key"
  | "unicode-escaped-email"
  | "email-as-key"
  | "card-number-json"
  | "card-dashes"
  | "deep-nesting"
  | "ndjson"
  | "range"
  | "etag"
  | "jsonp"
  | "problem-json";

interface Common {
  readonly id: string;
  readonly theme: Theme;
  readonly note: string;
  readonly refused?: number;
}

export type HttpAttempt = Common &
  (
    | { readonly fetch: { readonly method?: string; readonly path: string; readonly headers?: Readonly<Record<string, string>>; readonly body?: string; readonly variant?: Variant } }
    | { readonly raw: string; readonly variant?: Variant }
  );

/**
 * Attempts that still get through. Their tests run as `test.failing` (they pass only while
 * the bypass works, so fixing one fails the suite until its line here is removed). Every
 * entry is tracked by issue #2; never add one to make a red suite green without a write-up.
 */
export const KNOWN_HTTP_BYPASSES: Readonly<Record<string, string>> = {};

const AUTH = "$AUTH";
const rawGet = (target: string, extra = ""): string => `GET ${target} HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\n${extra}Connection: close\r\n\r\n`;
const rawReq = (method: string, target: string, extra = "", body = ""): string =>
  `${method} ${target} HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\n${extra}Connection: close\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`;

export const HTTP_CORPUS: readonly HttpAttempt[] = [
  // ---- path normalisation: reach /api/admin/** ----
  { id: "admin-plain", theme: "path", note: "baseline: the deny rule holds", fetch: { path: "/api/admin/users" } },
  { id: "admin-dotdot", theme: "path", note: "dot-dot out of an allowed prefix", raw: rawGet("/api/x/../admin/users") },
  { id: "admin-dotdot-encoded", theme: "path", note: "%2e%2e is .. once decoded", raw: rawGet("/api/x/%2e%2e/admin/users") },
  { id: "admin-encoded-slash", theme: "path", note: "%2f: one segment to us, two to a decoding upstream", raw: rawGet("/api/x%2f..%2fadmin/users") },
  { id: "admin-double-encoded-slash", theme: "path", note: "%252f stays %252F: only a double-decoding upstream would see /", raw: rawGet("/api/x%252f..%252fadmin%252fusers") },
  { id: "admin-double-encoded-dots", theme: "path", note: "%252e%252e: double-encoded ..", raw: rawGet("/api/x/%252e%252e/admin/users") },
  { id: "admin-backslash", theme: "path", note: "raw backslash (some servers read it as /)", raw: rawGet("/api/x\\..\\admin/users") },
  { id: "admin-encoded-backslash", theme: "path", note: "%5c", raw: rawGet("/api/x%5c..%5cadmin/users") },
  { id: "admin-matrix-param", theme: "path", note: "Tomcat/Spring/Jetty strip ;params from each segment", raw: rawGet("/api/admin;x=1/users") },
  { id: "admin-matrix-only", theme: "path", note: "empty matrix parameter", raw: rawGet("/api/admin;/users") },
  { id: "admin-matrix-dotdot", theme: "path", note: "..;/ (Tomcat reads it as ..)", raw: rawGet("/api/x/..;/admin/users") },
  { id: "admin-double-slash", theme: "path", note: "//", raw: rawGet("/api//admin//users") },
  { id: "admin-leading-double-slash", theme: "path", note: "leading // (looks like a network-path reference)", raw: rawGet("//api/admin/users") },
  { id: "admin-trailing-dot", theme: "path", note: "trailing dot (IIS drops it)", raw: rawGet("/api/admin./users") },
  { id: "admin-upper", theme: "path", note: "case: /api/ADMIN (deny globs ignore case)", fetch: { path: "/api/ADMIN/users" } },
  { id: "admin-upper-prefix", theme: "path", note: "case: /API/admin is not under the case-sensitive allow /api/**", fetch: { path: "/API/admin/users" } },
  { id: "admin-encoded-letters", theme: "path", note: "%61dmin decodes to admin", raw: rawGet("/api/%61dmin/users") },
  { id: "admin-fullwidth", theme: "path", note: "fullwidth ＡＤＭＩＮ (NFKC folds it to ADMIN)", raw: rawGet("/api/%EF%BC%A1%EF%BC%A4%EF%BC%AD%EF%BC%A9%EF%BC%AE/users") },
  { id: "admin-null-byte", theme: "path", note: "%00 truncation", raw: rawGet("/api/admin%00/users") },
  { id: "admin-overlong-dot", theme: "path", note: "overlong UTF-8 . (%c0%ae)", raw: rawGet("/api/x/%c0%ae%c0%ae/admin/users"), refused: 400 },
  // Percent-encoded bytes that are not well-formed UTF-8: a lenient decoder reads an overlong
  // form as the character it spells and drops the rest, so each hides an /admin.
  { id: "utf8-overlong-slash-root", theme: "path", note: "%c0%af: overlong / at the root", raw: rawGet("/%c0%afadmin"), refused: 400 },
  { id: "utf8-overlong-slash-dotdot", theme: "path", note: "..%c0%af: overlong / after ..", raw: rawGet("/api/..%c0%afadmin"), refused: 400 },
  { id: "utf8-overlong-dots", theme: "path", note: "%c0%ae%c0%ae: overlong .. under /api", raw: rawGet("/api/%c0%ae%c0%ae/admin"), refused: 400 },
  { id: "utf8-overlong-slash-3byte", theme: "path", note: "%e0%80%af: three-byte overlong /", raw: rawGet("/api/x/..%e0%80%afadmin/users"), refused: 400 },
  { id: "utf8-overlong-slash-4byte", theme: "path", note: "%f0%80%80%af: four-byte overlong /", raw: rawGet("/api/x/..%f0%80%80%afadmin/users"), refused: 400 },
  { id: "utf8-overlong-backslash", theme: "path", note: "%c1%9c: overlong \\ (read as /)", raw: rawGet("/api/x/..%c1%9cadmin/users"), refused: 400 },
  { id: "utf8-lone-continuation", theme: "path", note: "%80: a continuation byte alone (dropped)", raw: rawGet("/api/admin%80/users"), refused: 400 },
  { id: "utf8-surrogate", theme: "path", note: "%ed%a0%80: UTF-16 surrogate D800 (dropped)", raw: rawGet("/api/admin%ed%a0%80/users"), refused: 400 },
  { id: "utf8-above-max", theme: "path", note: "%f4%90%80%80: above U+10FFFF (dropped)", raw: rawGet("/api/admin%f4%90%80%80/users"), refused: 400 },
  { id: "utf8-never-byte", theme: "path", note: "%ff: a byte UTF-8 never uses (dropped)", raw: rawGet("/api/admin%ff/users"), refused: 400 },
  { id: "utf8-truncated-2", theme: "path", note: "%c3 with no continuation (dropped)", raw: rawGet("/api/admin%c3/users"), refused: 400 },
  { id: "utf8-truncated-3", theme: "path", note: "%e2%82, one continuation short (dropped)", raw: rawGet("/api/admin%e2%82/users"), refused: 400 },
  { id: "admin-fragment", theme: "path", note: "# in the request target", raw: rawGet("/api/admin/users#/api/ok") },
  { id: "admin-absolute-form", theme: "path", note: "absolute-form request target", raw: rawGet("http://127.0.0.1/api/admin/users") },
  { id: "admin-absolute-form-other-host", theme: "path", note: "absolute-form naming another host", raw: rawGet("http://evil.example/api/x/../admin/users") },
  { id: "admin-asterisk", theme: "path", note: "* request target", raw: `OPTIONS * HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nConnection: close\r\n\r\n` },
  { id: "admin-connect", theme: "method", note: "CONNECT authority-form", raw: `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n${AUTH}\r\nConnection: close\r\n\r\n` },

  // ---- method tricks ----
  { id: "delete-plain", theme: "method", note: "baseline", fetch: { method: "DELETE", path: "/api/orders/1" } },
  { id: "delete-lowercase", theme: "method", note: "lower-case method token", raw: rawReq("delete", "/api/orders/1") },
  { id: "delete-method-override-header", theme: "method", note: "X-HTTP-Method-Override on a GET (must be stripped)", fetch: { path: "/api/orders/1", headers: { "x-http-method-override": "DELETE", "x-http-method": "DELETE", "x-method-override": "DELETE" } } },
  { id: "admin-original-url", theme: "headers", note: "X-Original-URL / X-Rewrite-URL (IIS/Symfony routing)", fetch: { path: "/api/ok", headers: { "x-original-url": "/api/admin/users", "x-rewrite-url": "/api/admin/users" } } },
  { id: "unknown-method", theme: "method", note: "PURGE", raw: rawReq("PURGE", "/api/orders/1") },
  { id: "head-admin", theme: "method", note: "HEAD to admin", fetch: { method: "HEAD", path: "/api/admin/users" } },
  { id: "options-admin", theme: "method", note: "OPTIONS to admin", fetch: { method: "OPTIONS", path: "/api/admin/users" } },
  { id: "post-orders-no-approval", theme: "method", note: "POST /api/orders/1 needs review, never approved", fetch: { method: "POST", path: "/api/orders/1", body: "{}" } },
  { id: "post-orders-case", theme: "method", note: "POST /api/ORDERS/1 (review globs ignore case)", fetch: { method: "POST", path: "/api/ORDERS/1", body: "{}" } },
  { id: "delete-with-websocket-upgrade", theme: "upgrade", note: "Upgrade: websocket makes the decision use GET: does a DELETE ride it?", raw: rawReq("DELETE", "/api/orders/1", "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n") },
  { id: "post-with-websocket-upgrade", theme: "upgrade", note: "POST /api/orders/1 dressed as an upgrade", raw: rawReq("POST", "/api/orders/1", "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", "{}") },

  // ---- header smuggling: client → gateway ----
  { id: "te-cl-conflict", theme: "smuggling", note: "TE and CL both; body hides a DELETE", raw: `POST /api/ok HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nDELETE /api/orders/1 HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nConnection: close\r\n\r\n` },
  { id: "te-chunked-identity", theme: "smuggling", note: "Transfer-Encoding: chunked, identity", raw: `GET /api/ok HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 56\r\n\r\n0\r\n\r\nDELETE /api/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n` },
  { id: "te-obs-fold", theme: "smuggling", note: "obs-fold continuation line", raw: `GET /api/ok HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nX-Foo: a\r\n Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` },
  { id: "duplicate-host", theme: "headers", note: "two Host headers", raw: `GET /api/admin/users HTTP/1.1\r\nHost: $HOST\r\nHost: other\r\n${AUTH}\r\nConnection: close\r\n\r\n` },
  { id: "host-with-path", theme: "headers", note: "Host carrying a path", raw: `GET /users HTTP/1.1\r\nHost: $HOST/api/admin\r\n${AUTH}\r\nConnection: close\r\n\r\n` },
  { id: "pipelined-delete", theme: "smuggling", note: "two pipelined requests on one client connection", raw: `GET /api/ok HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\n\r\nDELETE /api/orders/1 HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nConnection: close\r\n\r\n` },

  // ---- request smuggling: gateway → upstream ----
  { id: "body-holds-request", theme: "smuggling", note: "an allowed GET whose body is a second HTTP request", raw: rawReq("GET", "/api/ok", "", "DELETE /api/orders/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") },
  { id: "chunked-body-holds-request", theme: "smuggling", note: "chunked body (bad chunk size) holding a request", raw: `GET /api/ok HTTP/1.1\r\nHost: $HOST\r\n${AUTH}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0;x\r\n\r\nDELETE /api/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n` },
  { id: "header-crlf", theme: "smuggling", note: "encoded CRLF in the path (response/request splitting)", raw: rawGet("/api/ok%0d%0aDELETE%20/api/orders/1") },
  { id: "connection-names-header", theme: "headers", note: "Connection: x-variant drops a header; Connection: authorization", fetch: { path: "/api/admin/users", headers: { connection: "authorization, host" } } },

  // ---- upgrades ----
  { id: "ws-admin", theme: "upgrade", note: "WebSocket upgrade to a denied path", raw: rawGet("/api/admin/ws", "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n") },
  { id: "h2c-upgrade", theme: "upgrade", note: "h2c upgrade on an allowed path (tunnel after the decision)", raw: rawGet("/api/ok", "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n").replace("Connection: close", "Connection: Upgrade, HTTP2-Settings") },
  { id: "ws-masked-route", theme: "upgrade", note: "WebSocket on the masked route", raw: rawGet("/api/customers", "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n") },

  // ---- masking evasion: the route ----
  { id: "mask-plain", theme: "masking", note: "baseline", fetch: { path: "/api/customers" } },
  { id: "mask-trailing-slash", theme: "masking", note: "/api/customers/ (Express non-strict, Spring <6 trailing-slash match)", fetch: { path: "/api/customers/" } },
  { id: "mask-double-slash", theme: "masking", note: "//api//customers", raw: rawGet("//api//customers") },
  { id: "mask-case", theme: "masking", note: "/api/Customers (Express is case-insensitive by default)", fetch: { path: "/api/Customers" } },
  { id: "mask-matrix-param", theme: "masking", note: "/api/customers;x=1 (Tomcat/Spring)", raw: rawGet("/api/customers;x=1") },
  { id: "mask-dot-segment-tail", theme: "masking", note: "/api/customers/.", raw: rawGet("/api/customers/.") },
  { id: "mask-encoded-letter", theme: "masking", note: "/api/%63ustomers", raw: rawGet("/api/%63ustomers") },

  // ---- masking evasion: the body ----
  { id: "mask-accept-gzip", theme: "masking", note: "upstream compresses though the gateway asked for identity", fetch: { path: "/api/customers", headers: { "accept-encoding": "gzip" }, variant: "gzip-forced" } },
  { id: "mask-double-gzip", theme: "masking", note: "Content-Encoding: gzip, gzip", fetch: { path: "/api/customers", variant: "gzip-double" } },
  { id: "mask-br", theme: "masking", note: "brotli", fetch: { path: "/api/customers", headers: { "accept-encoding": "br" }, variant: "br-forced" } },
  { id: "mask-range", theme: "masking", note: "Range: bytes=0-50 (upstream honours it: 206 partial JSON)", fetch: { path: "/api/customers", headers: { range: "bytes=0-60" }, variant: "range" } },
  { id: "mask-range-tail", theme: "masking", note: "Range in the middle of the body, where the email sits", fetch: { path: "/api/customers", headers: { range: "bytes=30-120" }, variant: "range" } },
  { id: "mask-head", theme: "masking", note: "HEAD", fetch: { method: "HEAD", path: "/api/customers" } },
  { id: "mask-text-plain", theme: "masking", note: "JSON served as text/plain", fetch: { path: "/api/customers", variant: "text-plain" } },
  { id: "mask-no-ctype", theme: "masking", note: "no Content-Type", fetch: { path: "/api/customers", variant: "no-content-type" } },
  { id: "mask-octet", theme: "masking", note: "application/octet-stream", fetch: { path: "/api/customers", variant: "octet-stream" } },
  { id: "mask-utf16", theme: "masking", note: "charset=utf-16", fetch: { path: "/api/customers", variant: "charset-utf16" } },
  { id: "mask-weird-ctype", theme: "masking", note: "Content-Type: application/json, text/html", fetch: { path: "/api/customers", variant: "json-weird-ctype" } },
  { id: "mask-dup-keys-hidden", theme: "masking", note: "duplicate key: first value holds the email, last is harmless", fetch: { path: "/api/customers", variant: "dup-keys-hidden" } },
  { id: "mask-unicode-key", theme: "masking", note: '"\\u006eame" key', fetch: { path: "/api/customers", variant: "unicode-escaped-key" } },
  { id: "mask-unicode-email", theme: "masking", note: "email with \\u0040", fetch: { path: "/api/customers", variant: "unicode-escaped-email" } },
  { id: "mask-email-key", theme: "masking", note: "email as an object key (a map keyed by email)", fetch: { path: "/api/customers", variant: "email-as-key" } },
  { id: "mask-card-number", theme: "masking", note: "card as a JSON number", fetch: { path: "/api/customers", variant: "card-number-json" } },
  { id: "mask-card-dashes", theme: "masking", note: "card with dashes", fetch: { path: "/api/customers", variant: "card-dashes" } },
  { id: "mask-deep", theme: "masking", note: "100k-deep nesting", fetch: { path: "/api/customers", variant: "deep-nesting" } },
  { id: "mask-ndjson", theme: "masking", note: "NDJSON stream", fetch: { path: "/api/customers", variant: "ndjson" } },
  { id: "mask-jsonp", theme: "masking", note: "JSONP (application/javascript)", fetch: { path: "/api/customers", variant: "jsonp" } },
  { id: "mask-etag-304", theme: "masking", note: "If-None-Match → 304 (no body; must not carry data)", fetch: { path: "/api/customers", headers: { "if-none-match": '"v1"' }, variant: "etag" } },

  // ---- query strings ----
  { id: "query-path-param", theme: "query", note: "?path=/api/admin/users: the gateway decides on the path only (query passes through by design)", fetch: { path: "/api/ok?path=/api/admin/users" } },
  { id: "query-method-param", theme: "query", note: "?_method=DELETE on a GET", fetch: { path: "/api/orders/1?_method=DELETE" } },
  { id: "query-encoded-question", theme: "query", note: "%3f hides the rest of the path from a decoding upstream", raw: rawGet("/api/ok%3f/../../admin/users") },
];
