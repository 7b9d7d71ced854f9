// The MCP bypass corpus: attempts to get a denied tool call (or resource, prompt, server-initiated
// request, unparsable or ambiguous message) past the MCP target. Each attempt is data;
// mcp-bypass.e2e.test.ts runs every one against the compiled gateway over a live session and
// counts, in the upstreams themselves, what reached them: for every attempt, zero upstream
// messages beyond the lists and the lifecycle (a denied tool is never called), and the agent gets
// an HTTP error or a JSON-RPC error for every request it sent, never a result.
//
// Servers of the target (see MCP_BYPASS_POLICY below and the test):
//   adv    the SDK adversary over Streamable HTTP, with precise rules: echo, lookup_customer,
//          stall; read_file with `path` under /srv/data; fetch_url to docs.example.com; query
//          whose `sql` is SQL (analysts read sales.*); resources/read of file:///srv/data/**;
//          prompts/get summarize. delete_record is denied by an explicit rule.
//   wide   another adversary where every tool is allowed except delete_record and update_record
//          (denied): what stands between a confusable name and the upstream is the exact name
//          match and the pins (poisoned_notes is left out of the pin file).
//   other  a third adversary on which agents may call delete_record: naming it on adv's
//          endpoint ("other/delete_record", "other__delete_record" ...) must not borrow that rule.
//   rug    a fourth adversary, rug-pulled after pinning: echo changed, exfiltrate new.
//   files  the real server-filesystem over a temp folder (stdio, through the recording wrapper):
//          read_text_file and list_directory with `path` under its root; root/link-out and
//          root/link-secret are symlinks to a secret outside it.
//
// `$ROOT` in a body becomes the files server's root folder, `$SECRET` is what must never come back.

export type McpTheme =
  | "batch"
  | "json"
  | "encoding"
  | "headers"
  | "notification"
  | "ids"
  | "names"
  | "prefix"
  | "paths"
  | "resources"
  | "pins"
  | "sql"
  | "methods"
  | "server-requests"
  | "size"
  | "transport";

export interface McpAttempt {
  readonly id: string;
  readonly theme: McpTheme;
  readonly note: string;
  /** The server whose endpoint (/mcp/<server>) the attempt is sent to. */
  readonly server: "adv" | "wide" | "other" | "rug" | "files";
  /** The request body: text (sent as UTF-8) or exact bytes. */
  readonly body: string | Uint8Array;
  /** Extra request headers (Mcp-Method, Content-Type ...). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Send to this path instead of /mcp/<server> (the session header still names <server>'s session). */
  readonly path?: string;
  /** "none": no Mcp-Session-Id; "bogus": a made-up one. Default: the live session's. */
  readonly session?: "none" | "bogus";
  /** Before the attempt, start this request (an allowed `stall`) and keep it in flight. */
  readonly inFlight?: string;
  /**
   * "refused" (default): an error for every request, no success result, nothing but lists and
   * lifecycle upstream. "no-secret": the gateway may forward it (a lexically allowed path whose
   * real target is outside, which the upstream itself refuses); $SECRET must never come back.
   * "server-request-refused": the tool call is allowed, but the request the server makes of the
   * agent while answering it (sampling, elicitation, roots) must never reach the agent, and the
   * server must get an error for it.
   */
  readonly expect?: "refused" | "no-secret" | "server-request-refused";
}

/**
 * Attempts that still get through. Their tests run as `test.failing` (they pass only while the
 * bypass works, so fixing one fails the suite until its line here is removed). Never add one to
 * make a red suite green without a write-up in the final report.
 */
// sql-case-twin-argument was one until h-mcp-a's 326f82c (arguments differing only in case or
// Unicode form are refused): it failed before and passes after.
export const KNOWN_MCP_BYPASSES: Readonly<Record<string, string>> = {};

let nextId = 100;
const rpc = (method: string, params?: unknown, id: unknown = nextId++): string =>
  JSON.stringify(params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params });
const call = (name: string, args: Record<string, unknown> = {}, id?: unknown): string => rpc("tools/call", { name, arguments: args }, id);
const read = (uri: string): string => rpc("resources/read", { uri });
const sql = (text: unknown): string => call("query", { sql: text });
const bytes = (...parts: (string | number[])[]): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : p)));

const DEL = call("delete_record", { id: 1 });

export const MCP_CORPUS: readonly McpAttempt[] = [
  // ---- JSON-RPC batches: one denied member must not ride along with allowed ones ----
  { id: "batch-allowed-and-denied", theme: "batch", note: "echo and delete_record in one batch", server: "adv", body: `[${call("echo", { text: "a" })},${DEL}]` },
  { id: "batch-single-denied", theme: "batch", note: "a batch of one", server: "adv", body: `[${DEL}]` },
  { id: "batch-empty", theme: "batch", note: "[]", server: "adv", body: "[]" },
  { id: "batch-nested", theme: "batch", note: "a batch inside a batch", server: "adv", body: `[[${DEL}]]` },
  { id: "batch-ping-then-call", theme: "batch", note: "a harmless first member", server: "adv", body: `[${rpc("ping")},${DEL}]` },
  { id: "batch-whitespace-prefix", theme: "batch", note: "leading whitespace before [", server: "adv", body: ` \n\t[${DEL}]` },

  // ---- duplicate keys: first-wins and last-wins parsers see different calls ----
  { id: "dup-name", theme: "json", note: "name twice: echo then delete_record", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_record","arguments":{"text":"x","id":1}}}` },
  { id: "dup-name-reversed", theme: "json", note: "name twice: delete_record then echo", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_record","name":"echo","arguments":{"text":"x","id":1}}}` },
  { id: "dup-method", theme: "json", note: "method twice: tools/list then tools/call", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "dup-params", theme: "json", note: "params twice", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}},"params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "dup-argument", theme: "json", note: "path twice: inside then outside the root", server: "files", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"$ROOT/report.txt","path":"$ROOT/../outside/secret.txt"}}}` },
  { id: "dup-name-escaped", theme: "json", note: `"n\\u0061me" is "name" once unescaped`, server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","n\\u0061me":"delete_record","arguments":{"text":"x","id":1}}}` },
  { id: "dup-id", theme: "json", note: "id twice", server: "adv", body: `{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "two-objects", theme: "json", note: "two JSON texts back to back", server: "adv", body: `${call("echo", { text: "a" })}${DEL}` },
  { id: "trailing-comment", theme: "json", note: "a JSON5-style comment after the object", server: "adv", body: `${DEL} // just a comment` },
  { id: "params-positional", theme: "json", note: "params as an array", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_record",{"id":1}]}` },
  { id: "name-not-string", theme: "json", note: "name as an array", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["delete_record"],"arguments":{"id":1}}}` },
  { id: "jsonrpc-missing", theme: "json", note: "no jsonrpc member", server: "adv", body: `{"id":1,"method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "jsonrpc-1", theme: "json", note: `"jsonrpc":"1.0"`, server: "adv", body: `{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "deep-nesting", theme: "json", note: "arguments nested 100 000 deep", server: "adv", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":${"[".repeat(100_000)}${"]".repeat(100_000)}}}}` },

  // ---- encoding: bytes the gateway cannot read are refused, never guessed at ----
  { id: "utf8-invalid-in-name", theme: "encoding", note: "0xFF inside the tool name", server: "wide", body: bytes(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_record`, [0xff], `","arguments":{"id":1}}}`) },
  { id: "utf8-overlong-dots", theme: "encoding", note: "overlong . . (C0 AE) in a path", server: "files", body: bytes(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_text_file","arguments":{"path":"$ROOT/`, [0xc0, 0xae, 0xc0, 0xae], `/`, [0xc0, 0xae, 0xc0, 0xae], `/etc/passwd"}}}`) },
  { id: "utf8-truncated", theme: "encoding", note: "a lead byte with no continuation", server: "wide", body: bytes(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo`, [0xe2, 0x82], `","arguments":{"text":"x"}}}`) },
  { id: "lone-surrogate-escape", theme: "encoding", note: `"\\ud800" in the tool name`, server: "wide", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_record\\ud800","arguments":{"id":1}}}` },
  { id: "nul-in-name", theme: "encoding", note: `"\\u0000" splitting the name`, server: "wide", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo\\u0000delete_record","arguments":{"id":1}}}` },
  { id: "utf16-body", theme: "encoding", note: "the body in UTF-16LE with a charset that says so", server: "adv", headers: { "content-type": "application/json; charset=utf-16le" }, body: new Uint8Array(Buffer.from(DEL, "utf16le")) },
  { id: "bom-prefix", theme: "encoding", note: "a UTF-8 byte order mark before the JSON", server: "adv", body: bytes([0xef, 0xbb, 0xbf], DEL) },

  // ---- routing headers that disagree with the body ----
  { id: "hdr-method-mismatch", theme: "headers", note: "Mcp-Method: tools/list on a tools/call body", server: "adv", headers: { "mcp-method": "tools/list" }, body: DEL },
  { id: "hdr-name-mismatch", theme: "headers", note: "Mcp-Name: echo on a delete_record body", server: "adv", headers: { "mcp-method": "tools/call", "mcp-name": "echo" }, body: DEL },
  { id: "hdr-param-mismatch", theme: "headers", note: "Mcp-Param-Path inside the root, body outside", server: "files", headers: { "mcp-method": "tools/call", "mcp-name": "read_text_file", "mcp-param-path": "$ROOT/report.txt" }, body: call("read_text_file", { path: "$ROOT/../outside/secret.txt" }) },
  { id: "hdr-resource-mismatch", theme: "headers", note: "Mcp-Name names an allowed resource, the body another", server: "adv", headers: { "mcp-method": "resources/read", "mcp-name": "file:///srv/data/report.txt" }, body: read("file:///etc/passwd") },
  { id: "hdr-method-case", theme: "headers", note: "Mcp-Method in another case", server: "adv", headers: { "mcp-method": "TOOLS/CALL" }, body: DEL },
  { id: "hdr-param-case-twins", theme: "headers", note: "arguments Path and path, one header", server: "files", headers: { "mcp-param-path": "$ROOT/report.txt" }, body: call("read_text_file", { Path: "$ROOT/report.txt", path: "$ROOT/../outside/secret.txt" }) },

  // ---- a tools/call that expects no answer ----
  { id: "notification-denied-tool", theme: "notification", note: "tools/call without an id (delete_record)", server: "adv", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "notification-allowed-tool", theme: "notification", note: "tools/call without an id, even for echo: no answer means no audit of the outcome", server: "adv", body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}` },
  { id: "notification-resources-read", theme: "notification", note: "resources/read without an id", server: "adv", body: `{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"file:///etc/passwd"}}` },
  { id: "id-null", theme: "ids", note: `"id": null`, server: "adv", body: `{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "id-object", theme: "ids", note: "an object as id", server: "adv", body: `{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"delete_record","arguments":{"id":1}}}` },
  { id: "id-collides-in-flight", theme: "ids", note: "delete_record with the id of an allowed call still running", server: "adv", inFlight: call("stall", {}, 7), body: call("delete_record", { id: 1 }, 7) },
  { id: "id-collides-string-number", theme: "ids", note: `"7" while 7 is in flight`, server: "adv", inFlight: call("stall", {}, 7), body: call("delete_record", { id: 1 }, "7") },
  { id: "client-sends-response", theme: "ids", note: "an unsolicited JSON-RPC response from the agent", server: "adv", body: `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"approved"}]}}` },

  // ---- tool names that look like an allowed one, or like the denied one ----
  { id: "name-upper", theme: "names", note: "DELETE_RECORD", server: "wide", body: call("DELETE_RECORD", { id: 1 }) },
  { id: "name-mixed-case", theme: "names", note: "Delete_Record", server: "wide", body: call("Delete_Record", { id: 1 }) },
  { id: "name-trailing-space", theme: "names", note: `"delete_record "`, server: "wide", body: call("delete_record ", { id: 1 }) },
  { id: "name-trailing-newline", theme: "names", note: `"delete_record\\n"`, server: "wide", body: call("delete_record\n", { id: 1 }) },
  { id: "name-fullwidth", theme: "names", note: "fullwidth ｄｅｌｅｔｅ_record (NFKC folds it)", server: "wide", body: call("ｄｅｌｅｔｅ_record", { id: 1 }) },
  { id: "name-cyrillic-e", theme: "names", note: "Cyrillic е in delеte_record", server: "wide", body: call("del\u0435te_record", { id: 1 }) },
  { id: "name-zero-width", theme: "names", note: "a zero-width space inside", server: "wide", body: call("delete\u200b_record", { id: 1 }) },
  { id: "name-hyphen", theme: "names", note: "delete-record (servers that normalise separators)", server: "wide", body: call("delete-record", { id: 1 }) },
  { id: "name-combining", theme: "names", note: "e + combining acute", server: "wide", body: call("dele\u0301te_record", { id: 1 }) },
  { id: "name-unpinned-poisoned", theme: "names", note: "poisoned_notes: allowed by `*` but never pinned", server: "wide", body: call("poisoned_notes", { note: "x" }) },

  // ---- another server's tool named on this endpoint ----
  { id: "prefix-slash", theme: "prefix", note: "other/delete_record on adv", server: "adv", body: call("other/delete_record", { id: 1 }) },
  { id: "prefix-double-underscore", theme: "prefix", note: "other__delete_record (aggregators' prefix) on adv", server: "adv", body: call("other__delete_record", { id: 1 }) },
  { id: "prefix-dot", theme: "prefix", note: "other.delete_record on wide", server: "wide", body: call("other.delete_record", { id: 1 }) },
  { id: "prefix-colon", theme: "prefix", note: "other:delete_record on wide", server: "wide", body: call("other:delete_record", { id: 1 }) },
  { id: "prefix-endpoint-dotdot", theme: "prefix", note: "POST /mcp/adv/../other with adv's session", server: "adv", path: "/mcp/adv/../other", body: DEL },
  { id: "prefix-endpoint-encoded", theme: "prefix", note: "POST /mcp/adv%2F..%2Fother", server: "adv", path: "/mcp/adv%2F..%2Fother", body: DEL },
  { id: "prefix-endpoint-case", theme: "prefix", note: "POST /mcp/OTHER with adv's session", server: "adv", path: "/mcp/OTHER", body: DEL },
  { id: "prefix-session-of-other", theme: "prefix", note: "adv's session id sent to other's endpoint: a session belongs to one server", server: "adv", path: "/mcp/other", body: call("echo", { text: "x" }) },

  // ---- path arguments outside the root (server-filesystem) ----
  { id: "path-dotdot", theme: "paths", note: "$ROOT/../outside/secret.txt", server: "files", body: call("read_text_file", { path: "$ROOT/../outside/secret.txt" }) },
  { id: "path-dotdot-deep", theme: "paths", note: "$ROOT/notes/../../outside/secret.txt", server: "files", body: call("read_text_file", { path: "$ROOT/notes/../../outside/secret.txt" }) },
  { id: "path-dot-segments", theme: "paths", note: "$ROOT/./notes/./../../outside/secret.txt", server: "files", body: call("read_text_file", { path: "$ROOT/./notes/./../../outside/secret.txt" }) },
  { id: "path-double-slash", theme: "paths", note: "$ROOT//..//outside/secret.txt", server: "files", body: call("read_text_file", { path: "$ROOT//..//outside/secret.txt" }) },
  { id: "path-prefix-sibling", theme: "paths", note: "a sibling whose name starts with the root's (…/data-other)", server: "files", body: call("read_text_file", { path: "$ROOT-other/x.txt" }) },
  { id: "path-relative", theme: "paths", note: "a relative path", server: "files", body: call("read_text_file", { path: "../outside/secret.txt" }) },
  { id: "path-etc-passwd", theme: "paths", note: "/etc/passwd", server: "files", body: call("read_text_file", { path: "/etc/passwd" }) },
  { id: "path-tilde", theme: "paths", note: "~/.ssh/id_rsa (server-filesystem expands ~)", server: "files", body: call("read_text_file", { path: "~/.ssh/id_rsa" }) },
  { id: "path-backslash", theme: "paths", note: "backslashes (a Windows-minded normaliser reads them as /)", server: "files", body: call("read_text_file", { path: "$ROOT\\..\\outside\\secret.txt" }) },
  { id: "path-file-url", theme: "paths", note: "a file:// URL as the path", server: "files", body: call("read_text_file", { path: "file:///etc/passwd" }) },
  { id: "path-array", theme: "paths", note: "path as an array of an inside and an outside path", server: "files", body: call("read_text_file", { path: ["$ROOT/report.txt", "$ROOT/../outside/secret.txt"] }) },
  { id: "path-fullwidth-dots", theme: "paths", note: "fullwidth ．． (NFKC folds it to ..)", server: "files", body: call("read_text_file", { path: "$ROOT/\uff0e\uff0e/outside/secret.txt" }), expect: "no-secret" },
  { id: "path-write-inside", theme: "paths", note: "write_file inside the root: writes are not allowed at all", server: "files", body: call("write_file", { path: "$ROOT/new.txt", content: "x" }) },
  { id: "path-multiple-files", theme: "paths", note: "read_multiple_files: not allowed, even with paths inside", server: "files", body: call("read_multiple_files", { paths: ["$ROOT/report.txt", "$ROOT/../outside/secret.txt"] }) },
  { id: "path-symlink-file", theme: "paths", note: "a symlink inside the root to a file outside (the server refuses it)", server: "files", body: call("read_text_file", { path: "$ROOT/link-secret" }), expect: "no-secret" },
  { id: "path-symlink-dir", theme: "paths", note: "through a symlinked folder", server: "files", body: call("read_text_file", { path: "$ROOT/link-out/secret.txt" }), expect: "no-secret" },

  // ---- resource URIs outside file:///srv/data/** ----
  { id: "res-etc-passwd", theme: "resources", note: "file:///etc/passwd", server: "adv", body: read("file:///etc/passwd") },
  { id: "res-dotdot", theme: "resources", note: "file:///srv/data/../../etc/passwd", server: "adv", body: read("file:///srv/data/../../etc/passwd") },
  { id: "res-encoded-dotdot", theme: "resources", note: "file:///srv/data/%2e%2e/%2e%2e/etc/passwd", server: "adv", body: read("file:///srv/data/%2e%2e/%2e%2e/etc/passwd") },
  { id: "res-encoded-slash", theme: "resources", note: "file:///srv/data/..%2f..%2fetc/passwd", server: "adv", body: read("file:///srv/data/..%2f..%2fetc/passwd") },
  { id: "res-localhost-host", theme: "resources", note: "file://localhost/etc/passwd", server: "adv", body: read("file://localhost/etc/passwd") },
  { id: "res-scheme-case", theme: "resources", note: "FILE:///srv/data/../../etc/passwd", server: "adv", body: read("FILE:///srv/data/../../etc/passwd") },
  { id: "res-host-prefix", theme: "resources", note: "file://srv/data/x: srv is a host here, not a folder", server: "adv", body: read("file://srv/data/report.txt") },
  { id: "res-subscribe-outside", theme: "resources", note: "resources/subscribe to file:///etc/passwd", server: "adv", body: rpc("resources/subscribe", { uri: "file:///etc/passwd" }) },

  // ---- quarantined tools: new or changed since the pin file was written ----
  { id: "pin-changed-tool", theme: "pins", note: "echo on rug: its description changed after pinning", server: "rug", body: call("echo", { text: "x" }) },
  { id: "pin-new-tool", theme: "pins", note: "exfiltrate on rug: added after pinning", server: "rug", body: call("exfiltrate", { data: "x" }) },
  { id: "pin-never-pinned", theme: "pins", note: "poisoned_notes on rug: never pinned", server: "rug", body: call("poisoned_notes", { note: "x" }) },

  // ---- SQL in the `sql` argument of adv's query tool: analysts read sales.* ----
  { id: "sql-commit-drop", theme: "sql", note: "COMMIT; DROP (escapes server-postgres's read-only transaction)", server: "adv", body: sql("COMMIT; DROP TABLE sales.customers") },
  { id: "sql-select-then-drop", theme: "sql", note: "an allowed SELECT, then DROP", server: "adv", body: sql("SELECT * FROM sales.customers; DROP TABLE sales.customers") },
  { id: "sql-block-comment", theme: "sql", note: "DROP hidden after a block comment", server: "adv", body: sql("/* SELECT * FROM sales.customers */ DROP TABLE sales.customers") },
  { id: "sql-line-comment", theme: "sql", note: "a line comment, a newline, then DELETE", server: "adv", body: sql("SELECT 1 FROM sales.customers -- harmless\n; DELETE FROM sales.orders") },
  { id: "sql-dollar-quote", theme: "sql", note: "a ; inside dollar quotes, then DROP", server: "adv", body: sql("SELECT $$;$$ FROM sales.customers; DROP TABLE sales.orders") },
  { id: "sql-do-block", theme: "sql", note: "DO $$ … EXECUTE 'DROP …' $$", server: "adv", body: sql("DO $$BEGIN EXECUTE 'DROP TABLE sales.orders'; END$$") },
  { id: "sql-cte-delete", theme: "sql", note: "a data-modifying CTE inside a SELECT", server: "adv", body: sql("WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d") },
  { id: "sql-other-schema", theme: "sql", note: "a read outside sales.*", server: "adv", body: sql("SELECT key FROM secret.api_keys") },
  { id: "sql-union-other-schema", theme: "sql", note: "UNION with a table outside sales.*", server: "adv", body: sql("SELECT name FROM sales.customers UNION SELECT key FROM secret.api_keys") },
  { id: "sql-read-file", theme: "sql", note: "pg_read_file", server: "adv", body: sql("SELECT pg_read_file('/etc/passwd')") },
  { id: "sql-copy-program", theme: "sql", note: "COPY … TO PROGRAM", server: "adv", body: sql("COPY sales.customers TO PROGRAM 'id'") },
  { id: "sql-set-tx-rw", theme: "sql", note: "ROLLBACK; SET TRANSACTION READ WRITE; DELETE", server: "adv", body: sql("ROLLBACK; SET TRANSACTION READ WRITE; DELETE FROM sales.orders") },
  { id: "sql-unparsable", theme: "sql", note: "SQL the parser cannot read (fail closed)", server: "adv", body: sql("SELEC * FROM sales.customers WHERE") },
  { id: "sql-not-a-string", theme: "sql", note: "sql as an array of statements", server: "adv", body: sql(["SELECT 1 FROM sales.customers", "DROP TABLE sales.orders"]) },
  { id: "sql-case-twin-argument", theme: "sql", note: "sql and SQL: a server that reads either", server: "adv", body: call("query", { sql: "SELECT * FROM sales.customers", SQL: "DROP TABLE sales.orders" }) },
  { id: "args-case-twin-path", theme: "paths", note: "path inside /srv/data and an undeclared PATH outside it", server: "adv", body: call("read_file", { path: "/srv/data/report.txt", PATH: "/etc/passwd" }) },
  { id: "args-undeclared-extra", theme: "paths", note: "an argument the pinned schema does not declare", server: "adv", body: call("read_file", { path: "/srv/data/report.txt", follow_symlinks: true }) },
  { id: "sql-missing", theme: "sql", note: "no sql argument at all (nothing to classify)", server: "adv", body: call("query", { statement: "DROP TABLE sales.orders" }) },

  { id: "sql-explain-analyze-delete", theme: "sql", note: "EXPLAIN ANALYZE runs the DELETE it explains", server: "adv", body: sql("EXPLAIN ANALYZE DELETE FROM sales.orders") },
  { id: "sql-prepare-execute", theme: "sql", note: "PREPARE a DELETE, then EXECUTE it", server: "adv", body: sql("PREPARE p AS DELETE FROM sales.orders; EXECUTE p") },
  { id: "sql-user-function-in-sales", theme: "sql", note: "a function in sales.* (it could write)", server: "adv", body: sql("SELECT sales.touch_orders()") },
  { id: "sql-call-procedure", theme: "sql", note: "CALL a procedure", server: "adv", body: sql("CALL public.wipe_proc()") },
  { id: "sql-set-role", theme: "sql", note: "SET ROLE on the server's shared connection, then read", server: "adv", body: sql("SET ROLE postgres; SELECT * FROM sales.customers") },
  { id: "sql-select-into", theme: "sql", note: "SELECT … INTO creates a table", server: "adv", body: sql("SELECT * INTO public.stolen FROM sales.customers") },
  { id: "sql-lock", theme: "sql", note: "LOCK TABLE (holds the table for everyone)", server: "adv", body: sql("BEGIN; LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE") },
  { id: "sql-copy-to-file", theme: "sql", note: "COPY … TO a server file", server: "adv", body: sql("COPY sales.customers TO '/tmp/x.csv'") },

  // ---- methods ----
  { id: "completion-denied-prompt", theme: "methods", note: "completion/complete of a prompt no rule allows (it shows what the prompt accepts)", server: "adv", body: rpc("completion/complete", { ref: { type: "ref/prompt", name: "admin_prompt" }, argument: { name: "x", value: "" } }) },
  { id: "completion-outside-resource", theme: "methods", note: "completion/complete of a resource URI outside file:///srv/data/", server: "adv", body: rpc("completion/complete", { ref: { type: "ref/resource", uri: "file:///etc/{name}" }, argument: { name: "name", value: "pa" } }) },
  { id: "tasks-result-foreign", theme: "methods", note: "tasks/result of a task this session never made", server: "adv", body: rpc("tasks/result", { taskId: "task-of-someone-else" }) },
  { id: "tasks-list", theme: "methods", note: "tasks/list (other sessions' tasks)", server: "adv", body: rpc("tasks/list") },
  { id: "task-augmented-delete", theme: "methods", note: "delete_record as a task (params.task)", server: "adv", body: rpc("tools/call", { name: "delete_record", arguments: { id: 1 }, task: { ttl: 60000 } }) },
  { id: "stateless-version-delete", theme: "methods", note: "delete_record declaring the 2026-07-28 stateless revision in _meta", server: "adv", body: rpc("tools/call", { name: "delete_record", arguments: { id: 1 }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } }) },
  { id: "reinitialize", theme: "methods", note: "a second initialize inside the session", server: "adv", body: rpc("initialize", { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "again", version: "1" } }) },
  { id: "method-unknown", theme: "methods", note: "tools/execute", server: "adv", body: rpc("tools/execute", { name: "delete_record", arguments: { id: 1 } }) },
  { id: "method-admin", theme: "methods", note: "admin/shutdown", server: "adv", body: rpc("admin/shutdown") },
  { id: "method-case", theme: "methods", note: "Tools/Call", server: "adv", body: rpc("Tools/Call", { name: "delete_record", arguments: { id: 1 } }) },
  { id: "method-trailing-space", theme: "methods", note: `"tools/call "`, server: "adv", body: rpc("tools/call ", { name: "delete_record", arguments: { id: 1 } }) },
  { id: "method-server-only", theme: "methods", note: "sampling/createMessage sent by the agent to the server", server: "adv", body: rpc("sampling/createMessage", { messages: [], maxTokens: 1 }) },
  { id: "method-prompt-denied", theme: "methods", note: "prompts/get admin_prompt (only summarize is allowed)", server: "adv", body: rpc("prompts/get", { name: "admin_prompt" }) },
  { id: "method-tool-not-allowed", theme: "methods", note: "update_record: no rule allows it on adv", server: "adv", body: call("update_record", { id: 1, value: "x" }) },
  { id: "method-denied-plain", theme: "methods", note: "baseline: delete_record on adv", server: "adv", body: DEL },
  { id: "url-host-not-allowed", theme: "methods", note: "fetch_url to a host off the list", server: "adv", body: call("fetch_url", { url: "https://evil.example/x" }) },
  { id: "url-userinfo-trick", theme: "methods", note: "docs.example.com@evil.example", server: "adv", body: call("fetch_url", { url: "https://docs.example.com@evil.example/x" }) },
  { id: "url-subdomain-trick", theme: "methods", note: "docs.example.com.evil.example", server: "adv", body: call("fetch_url", { url: "https://docs.example.com.evil.example/x" }) },

  // ---- server-initiated requests (not allowed by any rule): the agent must never see them ----
  { id: "srv-sampling", theme: "server-requests", note: "the server asks for sampling/createMessage", server: "wide", body: call("ask_sampling"), expect: "server-request-refused" },
  { id: "srv-elicitation", theme: "server-requests", note: "the server asks for elicitation/create (form)", server: "wide", body: call("ask_elicitation"), expect: "server-request-refused" },
  { id: "srv-url-elicitation", theme: "server-requests", note: "URL elicitation to a host off the list", server: "wide", body: call("ask_url_elicitation", { url: "https://evil.example/login" }), expect: "server-request-refused" },
  { id: "srv-roots", theme: "server-requests", note: "the server asks for roots/list", server: "wide", body: call("ask_roots"), expect: "server-request-refused" },

  // ---- size ----
  { id: "size-oversized", theme: "size", note: "a 2 MiB echo (limit 64 KiB)", server: "adv", body: call("echo", { text: "x".repeat(2 * 1024 * 1024) }) },
  { id: "size-oversized-chunked", theme: "size", note: "the same, chunked with no Content-Length", server: "adv", headers: { "x-chunked": "1" }, body: call("echo", { text: "x".repeat(2 * 1024 * 1024) }) },

  // ---- transport ----
  { id: "session-none", theme: "transport", note: "a tools/call with no Mcp-Session-Id", server: "adv", session: "none", body: call("echo", { text: "x" }) },
  { id: "session-bogus", theme: "transport", note: "a made-up Mcp-Session-Id", server: "adv", session: "bogus", body: call("echo", { text: "x" }) },
  { id: "content-type-text", theme: "transport", note: "Content-Type: text/plain", server: "adv", headers: { "content-type": "text/plain" }, body: DEL },
  { id: "endpoint-unknown", theme: "transport", note: "a server that is not configured", server: "adv", path: "/mcp/nope", body: DEL },
];

/**
 * What the same policy allows, sent the same way: each must come back with a result and reach
 * its upstream. Without these, a gateway that refused everything would pass the corpus.
 */
export const MCP_CONTROLS: readonly McpAttempt[] = [
  { id: "ok-echo", theme: "methods", note: "echo on adv", server: "adv", body: call("echo", { text: "hello" }) },
  { id: "ok-read-file", theme: "paths", note: "read_file under /srv/data on adv", server: "adv", body: call("read_file", { path: "/srv/data/report.txt" }) },
  { id: "ok-files-read", theme: "paths", note: "read_text_file inside the files root", server: "files", body: call("read_text_file", { path: "$ROOT/report.txt" }) },
  { id: "ok-files-list", theme: "paths", note: "list_directory of the files root", server: "files", body: call("list_directory", { path: "$ROOT" }) },
  { id: "ok-fetch", theme: "methods", note: "fetch_url to docs.example.com", server: "adv", body: call("fetch_url", { url: "https://docs.example.com/guide" }) },
  { id: "ok-sql-read", theme: "sql", note: "SELECT from sales.customers", server: "adv", body: sql("SELECT name FROM sales.customers WHERE id = 1") },
  { id: "ok-sql-join", theme: "sql", note: "a join of two sales tables", server: "adv", body: sql("SELECT c.name, o.amount FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id") },
  { id: "ok-resource", theme: "resources", note: "resources/read under file:///srv/data/", server: "adv", body: read("file:///srv/data/report.txt") },
  { id: "ok-prompt", theme: "methods", note: "prompts/get summarize", server: "adv", body: rpc("prompts/get", { name: "summarize", arguments: { id: "1" } }) },
  { id: "ok-wide-update-other", theme: "names", note: "wide allows every pinned tool but the denied two: echo", server: "wide", body: call("echo", { text: "x" }) },
  { id: "ok-other-delete", theme: "prefix", note: "delete_record on other, where agents may", server: "other", body: DEL },
  { id: "ok-rug-unchanged", theme: "pins", note: "lookup_customer on rug: still as pinned", server: "rug", body: call("lookup_customer", { id: 1 }) },
];

/** The rules the corpus runs against (group agents); `root` is the files server's folder. */
export function mcpBypassRules(root: string): string {
  return `
  - name: no-deletes
    mcp: { servers: [adv, wide], tools: [delete_record] }
    effect: deny
    message: agents may not delete records
  - name: no-updates-wide
    mcp: { servers: [wide], tools: [update_record] }
    effect: deny
  - name: adv-read-tools
    groups: [agents]
    mcp: { servers: [adv], tools: [echo, lookup_customer, stall] }
    effect: allow
    mask: { detectors: [email, cloud_key, jwt, card] }
  - name: adv-read-file
    groups: [agents]
    mcp: { servers: [adv], tools: [read_file], arguments: { path: { under: /srv/data } } }
    effect: allow
  - name: adv-fetch
    groups: [agents]
    mcp: { servers: [adv], tools: [fetch_url], arguments: { url: { hosts: [docs.example.com] } } }
    effect: allow
  - name: adv-sql
    groups: [agents]
    mcp: { servers: [adv], tools: [query], sql: { classes: [read], tables: ["sales.*"] } }
    effect: allow
  - name: adv-resources
    groups: [agents]
    mcp: { servers: [adv], resources: ["file:///srv/data/**"] }
    effect: allow
  - name: adv-prompts
    groups: [agents]
    mcp: { servers: [adv], prompts: [summarize] }
    effect: allow
  - name: wide-anything
    groups: [agents]
    mcp: { servers: [wide, rug], tools: ["*"] }
    effect: allow
  - name: other-deletes
    groups: [agents]
    mcp: { servers: [other], tools: [delete_record] }
    effect: allow
  - name: files-read
    groups: [agents]
    mcp: { servers: [files], tools: [read_text_file, list_directory], arguments: { path: { under: ${JSON.stringify(root)} } } }
    effect: allow
`;
}
