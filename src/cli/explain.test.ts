import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isGatewayError } from "../core/errors.ts";
import { runPolicyTests } from "../policy/test-runner.ts";
import { explainCommand, parseAt, parseHttpRequest } from "./explain.ts";

let root: string;
const CONFIG = `
targets:
  - { name: sales-db, kind: postgres, listen: "127.0.0.1:6432", upstream: { host: 127.0.0.1, port: 5432, database: d, user: u, password: "\${env:PW}" } }
  - { name: api, kind: http, listen: "127.0.0.1:8081", upstream: "http://127.0.0.1:3" }
rules:
  - name: no-drop
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked
  - name: analysts-read
    groups: [analysts]
    targets: [sales-db]
    postgres: { classes: [read], tables: ["sales.*"] }
    when: { days: [mon-fri], hours: "09:00-17:00" }
    effect: allow
    mask: { columns: [email] }
  - name: dbas
    groups: [dbas]
    targets: [sales-db]
    effect: allow
  - name: deploy-writes
    targets: [api]
    claims: { repository_id: "4242", ref: refs/heads/main, kubernetes.io.namespace: ops }
    http: { methods: [POST], paths: ["/deploy"] }
    effect: allow
  - name: api-read
    groups: [analysts]
    targets: [api]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
    mask: { json: ["$.email"] }
`;
const MONDAY = "2026-03-02T10:00:00Z";
const SATURDAY = "2026-03-07T10:00:00Z";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-explain-"));
  await writeFile(join(root, "gatehouse.yaml"), CONFIG);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function explain(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env: {}, signal: new AbortController().signal };
  const code = await explainCommand.run(["--config", root, ...args], io);
  return { code, out, err };
}

describe("gatehouse explain, SQL", () => {
  test("a denied read: what the gateway saw, the near misses and why, and the DETAIL the client gets", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "--at", MONDAY, "SELECT o.id FROM sales.orders o JOIN hr.salaries s USING (id)");
    expect(r.code).toBe(0);
    expect(r.out).toContain("alice (groups analysts) on sales-db (postgres) at 2026-03-02T10:00:00.000Z");
    expect(r.out).toContain("seen: read of hr.salaries, sales.orders");
    expect(r.out).toContain("  classes:   read\n  tables:    hr.salaries, sales.orders\n  functions: (none)\n");
    expect(r.out).toContain("✗ analysts-read (allow, ");
    expect(r.out).toContain("table hr.salaries is not in its tables [sales.*]");
    expect(r.out).toContain("✗ dbas (allow, ");
    expect(r.out).toContain("you are in none of its groups [dbas]");
    expect(r.out).toContain("decision: deny, no rule matched: no rule allows this request");
    expect(r.out).toContain("the client gets: ERROR 42501: no rule allows this request\n  DETAIL: read of hr.salaries, sales.orders; no rule allows it for you\n");
    // The search_path it assumed, and what needs the live catalog, are said.
    expect(r.out).toContain('search_path: "$user", public');
    expect(r.out).toContain("note: the gateway also looks these names up in the database's catalog");
    // The HTTP rule is for another target and kind: not listed.
    expect(r.out).not.toContain("api-read");
  });

  test("outside the rule's hours: the rule and its window", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "--at", SATURDAY, "SELECT * FROM sales.orders");
    expect(r.out).toContain("outside its hours: only mon-fri 09:00-17:00 UTC");
    expect(r.out).toContain("DETAIL: read of sales.orders; rule analysts-read allows it only mon-fri 09:00-17:00 UTC");
  });

  test("an allowed read with its masks; a deny rule keeps its message; each statement on its own", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "--at", "2026-03-02 10:00", "SELECT email FROM sales.customers; DROP DATABASE x");
    expect(r.out).toContain("statement 1: SELECT email FROM sales.customers");
    expect(r.out).toContain("✓ analysts-read (allow, ");
    expect(r.out).toContain("decision: allow by rule analysts-read: allowed by rule analysts-read\n  masks: columns [email]\n");
    expect(r.out).toContain("statement 2: DROP DATABASE x");
    expect(r.out).toContain("decision: deny by rule no-drop: DROP DATABASE is blocked");
    expect(r.out).toContain("ERROR 42501: DROP DATABASE is blocked\n  DETAIL: gatehouse rule: no-drop");
  });

  test("unqualified names resolve through --search-path, as the session's search_path would", async () => {
    const byDefault = await explain("--as", "alice", "--groups", "analysts", "--at", MONDAY, "--json", "SELECT * FROM orders");
    const d = JSON.parse(byDefault.out);
    expect(d.requests[0].request.relations).toEqual(["public.orders"]);
    expect(d.requests[0].decision.effect).toBe("deny");
    const sales = JSON.parse((await explain("--as", "alice", "--groups", "analysts", "--at", MONDAY, "--json", "--search-path", "sales", "SELECT * FROM orders")).out);
    expect(sales.search_path).toEqual(["sales"]);
    expect(sales.requests[0].request.relations).toEqual(["sales.orders"]);
    expect(sales.requests[0].decision).toMatchObject({ effect: "allow", rule: "analysts-read" });
  });

  test("the gateway's built-ins apply after the rules: a catalog read, a dangerous function", async () => {
    const cat = JSON.parse((await explain("--as", "alice", "--groups", "analysts", "--at", SATURDAY, "--json", "SELECT relname FROM pg_catalog.pg_class")).out);
    expect(cat.requests[0].decision).toMatchObject({ effect: "allow", rule: "builtin:catalog-read" });
    const dba = JSON.parse((await explain("--as", "dana", "--groups", "dbas", "--json", "SELECT pg_catalog.pg_read_file('/etc/passwd')")).out);
    expect(dba.requests[0].decision).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  });

  test("SQL the parser cannot read is refused as the gateway refuses it", async () => {
    const r = await explain("--as", "alice", "selec 1");
    expect(r.out).toContain('the client gets: ERROR 42601: syntax error at or near "selec" (at character 1)');
  });

  test("--json: every rule with whether it matches and the conditions that fail", async () => {
    const r = await explain("--as", "bob", "--groups", "sales", "--at", MONDAY, "--json", "DELETE FROM sales.orders");
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ target: "sales-db", kind: "postgres", at: "2026-03-02T10:00:00.000Z", identity: { subject: "bob", groups: ["sales"] } });
    const rule = j.requests[0].rules.find((x: { name: string }) => x.name === "analysts-read");
    expect(rule).toMatchObject({ matches: false, near: true });
    expect(rule.failed).toEqual([
      { condition: "groups", why: "you are in none of its groups [analysts]" },
      { condition: "classes", why: "class delete is not in its classes [read]" },
    ]);
    expect(j.requests[0].decision).toMatchObject({ effect: "deny", rule: null, detail: "delete of sales.orders; no rule allows it for you" });
  });
});

describe("gatehouse explain, HTTP", () => {
  test("method and canonical path, the near misses, and the 403 body", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "POST /api/x/../orders//1?x=1");
    expect(r.out).toContain("alice (groups analysts) on api (http)");
    expect(r.out).toContain("seen: POST /api/orders/1");
    expect(r.out).toContain("path:   /api/x/../orders//1 (canonical: /api/orders/1)");
    expect(r.out).toContain("✗ api-read (allow, ");
    expect(r.out).toContain("method POST is not in its methods [GET]");
    expect(r.out).toContain('the client gets: 403 {"error":"forbidden","message":"no rule allows this request","rule":null,"detail":"POST /api/orders/1; no rule allows it for you"}');
    const ok = await explain("--as", "alice", "--groups", "analysts", "GET", "/api/orders");
    expect(ok.out).toContain("decision: allow by rule api-read: allowed by rule api-read\n  masks: json [$.email]\n");
  });

  test("a path with no canonical form is refused before any rule", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "GET /api/%2e%2e%2fadmin");
    expect(r.out).toContain("rules: not asked");
    // As the HTTP target answers it: 400 bad_path with the reason, before any decision.
    expect(r.out).toContain('400 {"error":"bad_request","message":"request path refused: the path holds an encoded \\"/\\" (\\"%2f\\"), one segment to us and two to some upstreams","reason":"bad_path"}');
  });
});

describe("gatehouse explain --as-test", () => {
  test("prints cases that gatehouse test runs and passes against the same folder", async () => {
    const r = await explain("--as", "alice", "--groups", "analysts", "--at", SATURDAY, "--as-test", "late read", "SELECT email FROM sales.customers; SELECT 1");
    expect(r.out).toContain("# from: gatehouse explain --as 'alice' --groups 'analysts' --target 'sales-db' --at 2026-03-07T10:00:00.000Z 'SELECT email FROM sales.customers; SELECT 1'\n");
    const weekday = await explain("--as", "alice", "--groups", "analysts", "--at", MONDAY, "--as-test", "read", "SELECT email FROM sales.customers");
    const http = await explain("--as", "alice", "--groups", "analysts", "--as-test", "api", "GET /api/a/../b");
    const cases = [r.out, weekday.out, http.out].map((o) => o.replace(/^(?!#)/gm, "  ")).join("");
    const file = join(root, "explained.test.yaml");
    await writeFile(file, `cases:\n${cases}`);
    const report = await runPolicyTests(file);
    expect(report.files[0]!.error).toBeUndefined();
    expect(report.files[0]!.cases.map((c) => [c.name, c.passed, c.decision?.rule])).toEqual([
      ["late read (statement 1: SELECT email FROM sales.customers)", true, null],
      ["late read (statement 2: SELECT 1)", true, null],
      ["read", true, "analysts-read"],
      ["api", true, "api-read"],
    ]);
    await rm(file);
  });
});

describe("usage", () => {
  test("what is missing or ambiguous is a usage error", async () => {
    const usage = async (...args: string[]) => {
      try {
        await explain(...args);
        return "no error";
      } catch (e) {
        return isGatewayError(e, "E_USAGE") ? e.message : String(e);
      }
    };
    expect(await usage("SELECT 1")).toBe("--as SUBJECT is required");
    expect(await usage("--as", "a")).toContain("the request is required");
    expect(await usage("--as", "a", "--target", "nope", "SELECT 1")).toBe('no target "nope" in the configuration (targets: sales-db, api)');
    expect(await usage("--as", "a", "--target", "api", "SELECT 1")).toContain('target "api" is an http target: give the request as METHOD PATH');
    expect(await usage("--as", "a", "--at", "yesterday", "SELECT 1")).toContain('--at: cannot read "yesterday"');
  });

  test("times without a zone are UTC; METHOD PATH is recognised", () => {
    expect(parseAt("2026-03-02T10:00", 0)).toBe(Date.parse("2026-03-02T10:00:00Z"));
    expect(parseAt("2026-03-02T10:00+01:00", 0)).toBe(Date.parse("2026-03-02T09:00:00Z"));
    expect(parseAt(undefined, 42)).toBe(42);
    expect(parseHttpRequest("get /x?y=1")).toEqual({ method: "get", target: "/x?y=1" });
    expect(parseHttpRequest("SELECT 1")).toBeNull();
    expect(parseHttpRequest("DELETE FROM t")).toBeNull();
  });
});

describe("gatehouse explain, SSH", () => {
  const SSH_RULES = `rules:
  - name: no-rm
    ssh: { commands: ["rm **"] }
    effect: deny
    message: rm is not allowed.
  - name: restarts
    groups: [agents]
    ssh: { actions: [exec], commands: ["systemctl restart *"] }
    effect: review
    approvers: [sre]
  - name: agents-read
    groups: [agents]
    targets: [web-*]
    ssh: { actions: [exec], commands: ["systemctl status **", "journalctl **"] }
    effect: allow
  - name: agents-logs
    groups: [agents]
    targets: [web-*]
    ssh: { operations: [read, list], paths: ["/var/log/**"] }
    effect: allow
`;
  let dir: string;
  beforeAll(async () => {
    dir = join(root, "ssh");
    await Bun.write(join(dir, "gatehouse.yaml"), SSH_RULES);
  });
  const ssh = async (...args: string[]) => {
    let out = "";
    const io = { stdout: (s: string) => void (out += s), stderr: () => {}, color: false, env: {}, signal: new AbortController().signal };
    const code = await explainCommand.run(["--config", dir, "--as", "bot", "--groups", "agents", "--target", "web-1", "--ssh-user", "ops", ...args], io);
    return { code, out };
  };

  test("an exec through wrappers: argv, what runs, the rule that refuses it and what the client gets", async () => {
    const r = await ssh("--exec", "sudo -u root sh -c 'rm -rf /'");
    expect(r.code).toBe(0);
    expect(r.out).toContain("bot (groups agents) on web-1 (ssh)");
    expect(r.out).toContain(`seen: exec of "sudo -u root sh -c 'rm -rf /'" as ops\n  argv: ["sudo","-u","root","sh","-c","rm -rf /"]\n  runs: sudo -u root sh -c rm -rf / → sh -c rm -rf / → rm -rf /\n`);
    expect(r.out).toContain('✓ no-rm (deny, ');
    expect(r.out).toContain("decision: deny by rule no-rm: rm is not allowed.");
    expect(r.out).toContain("the client gets: on stderr: rm is not allowed.\n  exit status 126; nothing runs upstream");
    expect(r.out).toContain('note: no target "web-1" in the configuration');
  });

  test("a line that cannot be split: where, and why only rules allowing any command apply", async () => {
    const r = await ssh("--exec", "systemctl status nginx; rm -rf /");
    expect(r.out).toContain('  cannot be split safely: ";" (a command separator) at 23\n');
    expect(r.out).toContain("decision: deny by rule no-rm");
    expect(r.out).toContain('detail: exec of "systemctl status nginx; rm -rf /" as ops; the command line could not be split safely (";" (a command separator) at 23), so rules about commands treat it as any command');
  });

  test("allowed, held, and the near miss of the allow rule", async () => {
    expect((await ssh("--exec", "journalctl -u nginx --since today")).out).toContain("decision: allow by rule agents-read");
    const held = await ssh("--exec", "systemctl restart nginx");
    expect(held.out).toContain("decision: review by rule restarts");
    expect(held.out).toContain("approvers: sre");
    const miss = await ssh("--exec", "systemctl stop nginx");
    expect(miss.out).toContain('✗ agents-read (allow, ');
    expect(miss.out).toContain('"systemctl stop nginx" is not in its commands [systemctl status **, journalctl **]');
    expect(miss.out).toContain('detail: exec of "systemctl stop nginx" as ops; no rule allows it for you');
  });

  test("sftp and forwards, in the protocol's terms", async () => {
    const w = await ssh("--sftp", "write:/var/log/syslog");
    expect(w.out).toContain("seen: sftp write of /var/log/syslog as ops");
    expect(w.out).toContain("operation write is not in its operations [read, list]");
    expect(w.out).toContain("the client gets: SSH_FX_PERMISSION_DENIED: no rule allows this request\n  sftp write of /var/log/syslog as ops; no rule allows it for you\n  the SFTP session goes on");
    expect((await ssh("--sftp", "read:/var/log/syslog")).out).toContain("decision: allow by rule agents-logs");
    const f = await ssh("--forward", "db.internal:5432");
    expect(f.out).toContain("channel open failure, administratively prohibited");
  });

  test("--as-test cases pass under gatehouse test", async () => {
    const a = await ssh("--as-test", "status", "--exec", "systemctl status nginx");
    const b = await ssh("--as-test", "rm after a separator", "--exec", "true; rm -rf /");
    const c = await ssh("--as-test", "rename", "--sftp", "rename:/var/log/a", "--to-path", "/etc/a");
    expect(a.out).toContain("# from: gatehouse explain --as 'bot' --groups 'agents' --target 'web-1' --at ");
    expect(a.out).toContain("--ssh-user 'ops' --exec 'systemctl status nginx'");
    const file = join(dir, "explained.test.yaml");
    await writeFile(file, `cases:\n${[a.out, b.out, c.out].map((o) => o.replace(/^(?!#)/gm, "  ")).join("")}`);
    const report = await runPolicyTests(file);
    expect(report.files[0]!.error).toBeUndefined();
    expect(report.files[0]!.cases.map((x) => [x.name, x.passed, x.decision?.rule])).toEqual([
      ["status", true, "agents-read"],
      ["rm after a separator", true, "no-rm"],
      ["rename", true, null],
    ]);
  });

  test("usage: one request, and the flags that go together", async () => {
    const usage = async (...args: string[]) => {
      try {
        await ssh(...args);
        return "no error";
      } catch (e) {
        return isGatewayError(e, "E_USAGE") ? e.message : String(e);
      }
    };
    expect(await usage("--exec", "ls", "--forward", "a:1")).toContain("give one of --exec CMD");
    expect(await usage("--sftp", "delete:/x")).toContain('"delete" is not an SFTP operation');
    expect(await usage("--sftp", "read:/x", "--to-path", "/y")).toContain("--to-path is for --sftp rename:PATH only");
    expect(await usage("--exec", "ls", "extra")).toContain("an SSH request is given by its flags");
  });
});

describe("explain: Kubernetes requests", () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(root, "k8s");
    // The seed policy, as shipped.
    await Bun.write(join(dir, "gatehouse.yaml"), await Bun.file(join(import.meta.dir, "../../policies/prod-approval/gatehouse.yaml")).text());
  });
  const kube = async (...args: string[]) => {
    let out = "";
    const io = { stdout: (s: string) => void (out += s), stderr: () => {}, color: false, env: {}, signal: new AbortController().signal };
    const code = await explainCommand.run(["--config", dir, "--as", "alice", "--groups", "developers", "--target", "prod-k8s", "--at", MONDAY, ...args], io);
    return { code, out };
  };

  test("a raw request: what the classifier read, the rules, the decision and kubectl's 403", async () => {
    const r = await kube("--kube", "DELETE /api/v1/namespaces/production");
    expect(r.code).toBe(0);
    expect(r.out).toContain("alice (groups developers) on prod-k8s (kubernetes)");
    expect(r.out).toContain('seen: delete of namespaces "production"\n  verb:      delete\n  group:     core, version v1\n  resource:  namespaces\n  namespace: production\n  name:      production\n');
    expect(r.out).toContain("decision: deny by rule production-namespace-is-not-deleted: the production namespace is not deleted");
    expect(r.out).toContain("the client gets: 403 Forbidden, a metav1.Status: Error from server (Forbidden): the production namespace");
  });

  test("the default deny's detail names what was seen; exec is never a read", async () => {
    const r = await kube("--kube", "GET /api/v1/namespaces/kube-system/secrets/admin");
    expect(r.out).toContain('detail: get of secrets "admin" in namespace kube-system; no rule allows it for you');
    const e = await kube("--kube", "GET /api/v1/namespaces/production/pods/web/exec?command=sh&tty=true");
    expect(e.out).toContain("decision: review by rule production-writes-need-approval");
    expect(e.out).toContain("verb create on exec is not in its verbs [read] (exec is never a read)");
  });

  test("by its facts; discovery; a refused path; impersonation", async () => {
    const f = await kube("--kube-verb", "create", "--kube-resource", "pods/exec", "--namespace", "staging", "--name", "web", "--command", "sh", "--command", "-c", "--command", "ls /");
    expect(f.out).toContain('seen: create of pods/exec "web" in namespace staging running ["sh","-c","ls /"]');
    expect(f.out).toContain("decision: allow by rule developers-write-staging");
    expect((await kube("--kube", "GET /apis?timeout=32s")).out).toContain("decision: allow by the built-in builtin:discovery");
    const bad = await kube("--kube", "GET /api/v1/namespaces/staging/%2e%2e/production/pods");
    expect(bad.out).toContain("decision: deny by the built-in builtin:bad-request");
    expect(bad.out).toContain("the client gets: 400 Bad Request");
    const imp = await kube("--kube", "GET /api/v1/namespaces/staging/pods", "--impersonate-user", "admin");
    expect(imp.out).toContain("note: impersonating user admin: deny");
    expect(imp.out).toContain('the client gets: 403 Forbidden, a metav1.Status: Error from server (Forbidden): no rule allows this request (impersonate of users "admin"; no rule allows it for you)');
  });

  test("--as-test cases (raw, structured, refused) pass under gatehouse test", async () => {
    const a = await kube("--as-test", "no prod delete", "--kube", "DELETE /api/v1/namespaces/production");
    const b = await kube("--as-test", "scale", "--kube", "PATCH /apis/apps/v1/namespaces/production/deployments/web/scale", "--content-type", "application/merge-patch+json");
    const c = await kube("--as-test", "exec", "--kube-verb", "create", "--kube-resource", "pods/exec", "--namespace", "staging", "--name", "web", "--command", "ls");
    const d = await kube("--as-test", "dot dot", "--kube", "GET /api/v1/namespaces/a/../b/pods");
    const e = await kube("--as-test", "discovery", "--kube", "GET /api");
    expect(b.out).toContain("--kube 'PATCH /apis/apps/v1/namespaces/production/deployments/web/scale' --content-type 'application/merge-patch+json'");
    const file = join(dir, "explained.test.yaml");
    await writeFile(file, `cases:\n${[a.out, b.out, c.out, d.out, e.out].map((o) => o.replace(/^(?!#)/gm, "  ")).join("")}`);
    const report = await runPolicyTests(file);
    expect(report.files[0]!.error).toBeUndefined();
    expect(report.files[0]!.cases.map((x) => [x.name, x.passed, x.decision?.rule])).toEqual([
      ["no prod delete", true, "production-namespace-is-not-deleted"],
      ["scale", true, "production-writes-need-approval"],
      ["exec", true, "developers-write-staging"],
      ["dot dot", true, "builtin:bad-request"],
      ["discovery", true, "builtin:discovery"],
    ]);
  });

  test("usage: one form of request", async () => {
    const usage = async (...args: string[]) => {
      try {
        await kube(...args);
        return "no error";
      } catch (e) {
        return isGatewayError(e, "E_USAGE") ? e.message : String(e);
      }
    };
    expect(await usage("--kube", "GET /api", "--namespace", "x")).toContain("not both");
    expect(await usage("--kube", "/api")).toContain('expected "METHOD /path?query"');
    expect(await usage("--kube-verb", "get")).toContain("--kube-resource");
    expect(await usage("--kube", "GET /api", "extra")).toContain("a Kubernetes request is given by its flags");
    expect(await usage("--kube", "GET /api", "--exec", "ls")).toContain("an SSH request and a Kubernetes request");
  });
});

describe("gatehouse explain, claims", () => {
  test("--claim PATH=VALUE gives the caller token claims; a rule's claims: conditions say which fails", async () => {
    const ok = await explain("--as", "repo:acme/deploy", "--claim", "repository_id=4242", "--claim", "ref=refs/heads/main", "--claim", "kubernetes.io.namespace=ops", "POST /deploy");
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("repo:acme/deploy (no groups; claims repository_id=4242, ref=refs/heads/main, kubernetes.io.namespace=ops) on api");
    expect(ok.out).toContain("decision: allow by rule deploy-writes");
    const branch = await explain("--as", "repo:acme/deploy", "--claim", "repository_id=4242", "--claim", "ref=refs/heads/dev", "--claim", "kubernetes.io.namespace=ops", "POST /deploy");
    expect(branch.out).toContain('deploy-writes (allow, ');
    expect(branch.out).toContain('claim ref "refs/heads/dev" does not match "refs/heads/main"');
    expect(branch.out).toContain("decision: deny, no rule matched");
    const none = await explain("--as", "repo:acme/deploy", "--all", "POST /deploy");
    expect(none.out).toContain("claim repository_id: the caller has no token claims (dev)");
  });

  test("--as-test writes the claims into the case's identity, and gatehouse test decides the case alike", async () => {
    const r = await explain("--as", "repo:acme/deploy", "--claim", "repository_id=4242", "--claim", "ref=refs/heads/main", "--claim", "kubernetes.io.namespace=ops", "--as-test", "deploy from main", "POST /deploy");
    expect(r.out).toContain("--claim 'repository_id=4242' --claim 'ref=refs/heads/main' --claim 'kubernetes.io.namespace=ops'");
    expect(r.out).toContain("kubernetes.io.namespace: ops");
    await writeFile(join(root, "claims.test.yaml"), `cases:\n${r.out.replace(/^(?!#)/gm, "  ").replace(/^  $/gm, "")}`);
    const report = await runPolicyTests(join(root, "claims.test.yaml"));
    await rm(join(root, "claims.test.yaml"));
    expect(report.files[0]?.error).toBeUndefined();
    expect(report.passed).toBe(1);
    expect(report.failed).toBe(0);
  });

  test("a --claim without = or with an empty path segment is a usage error", async () => {
    for (const bad of ["ref", "=x", "a..b=x"]) {
      let e: unknown;
      try {
        await explain("--as", "x", "--claim", bad, "POST /deploy");
      } catch (err) {
        e = err;
      }
      expect(isGatewayError(e, "E_USAGE")).toBe(true);
    }
  });
});

