import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayError } from "../core/errors.ts";
import { issuesOf } from "./issue.ts";
import { loadConfig, loadConfigFromSources, loadPolicyFromSources } from "./load.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-load-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  return dir;
}

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected the load to fail");
}

const fromText = (text: string, env: Record<string, string> = {}) =>
  loadConfigFromSources([{ file: "policies/x.yaml", text }], { baseDir: "/etc/gatehouse", env });

const TARGET = `targets:
  - name: api
    kind: http
    listen: 127.0.0.1:8080
    upstream: http://127.0.0.1:9000
`;

describe("loader errors name file:line:col and the key path", () => {
  test("a bad enum value lists the allowed values", async () => {
    const e = await failure(fromText("rules:\n  - name: r\n    effect: alow\n"));
    expect(e.code).toBe("E_CONFIG_INVALID");
    expect(e.message).toBe(`policies/x.yaml:3:5: rules[0].effect: expected one of "allow", "deny", "review", got "alow"`);
    expect(issuesOf(e)).toEqual([
      { file: "policies/x.yaml", line: 3, col: 5, path: "rules[0].effect", message: `expected one of "allow", "deny", "review", got "alow"` },
    ]);
  });

  test("a wrong type says what was expected and what was found", async () => {
    const e = await failure(fromText(TARGET.replace("listen: 127.0.0.1:8080", "listen: 8080")));
    expect(e.message).toBe(`policies/x.yaml:4:5: targets[0].listen: expected a string, got an integer 8080 (put it in quotes)`);
  });

  test("an unknown key is named, with the nearest known key", async () => {
    const e = await failure(fromText("gateway:\n  statedir: ./s\n"));
    expect(e.message).toBe(`policies/x.yaml:2:3: gateway.statedir: unknown key "statedir" (did you mean "state_dir"?)`);
  });

  test("a target is checked against the variant its kind names, not 'does not match union'", async () => {
    const e = await failure(fromText(TARGET.replace("upstream: http://127.0.0.1:9000", "upstream: ftp://x\n    timeout: soon")));
    const lines = e.message.split("\n");
    expect(lines).toEqual([
      `policies/x.yaml:5:5: targets[0].upstream: expected an http:// or https:// base URL of the upstream API, got "ftp://x"`,
      `policies/x.yaml:6:5: targets[0].timeout: expected a duration such as 500ms, 30s, 15m, 8h or 1d, got "soon"`,
    ]);
    const bad = await failure(fromText(TARGET.replace("kind: http", "kind: htp")));
    expect(bad.message).toBe(`policies/x.yaml:3:5: targets[0].kind: expected one of "http", "postgres", "ssh", "kubernetes", "mcp", got "htp"`);
  });

  test("a missing required key is reported at the map that lacks it", async () => {
    const e = await failure(fromText("rules:\n  - name: r\n    groups: [a]\n"));
    expect(e.message).toBe(`policies/x.yaml:2:5: rules[0]: missing required key "effect"`);
  });

  test("all errors of a file are reported, up to 20", async () => {
    const rules = Array.from({ length: 25 }, (_, i) => `  - name: r${i}\n    effect: nope\n`).join("");
    const e = await failure(fromText(`rules:\n${rules}`));
    const lines = e.message.split("\n");
    expect(lines.length).toBe(21);
    expect(lines[0]).toStartWith("policies/x.yaml:3:5: rules[0].effect:");
    expect(lines[19]).toStartWith("policies/x.yaml:41:5: rules[19].effect:");
    expect(lines[20]).toBe("… and 5 more");
    expect(e.details["total"]).toBe(25);
    expect(issuesOf(e).length).toBe(20);
  });

  test("YAML syntax errors are E_CONFIG_PARSE with a position", async () => {
    const e = await failure(fromText("rules: [\n  - name: r\n"));
    expect(e.code).toBe("E_CONFIG_PARSE");
    expect(e.message).toMatch(/^policies\/x\.yaml:\d+:\d+: YAML syntax error: /);
  });

  test("a duplicate key is an error, not a silent overwrite", async () => {
    const e = await failure(fromText("rules:\n  - name: r\n    effect: allow\n    effect: deny\n"));
    expect(e.code).toBe("E_CONFIG_PARSE");
    expect(e.message).toBe(`policies/x.yaml:4:5: duplicate key "effect"`);
  });

  test("unknown YAML tags are refused", async () => {
    const e = await failure(fromText("gateway:\n  state_dir: !secret x\n"));
    expect(e.message).toContain("policies/x.yaml:2:14: unknown YAML tag");
  });

  test("a top level that is not a map is an error", async () => {
    const e = await failure(fromText("- a\n- b\n"));
    expect(e.message).toBe(`policies/x.yaml:1:1: expected a map (key: value), got a list`);
  });
});

describe("folders", () => {
  test("merges *.yaml and *.yml in name order, skipping policy tests and other files", async () => {
    const dir = await folder("merge", {
      "b-rules.yml": "rules:\n  - name: second\n    effect: deny\n",
      "a-rules.yaml": "rules:\n  - name: first\n    effect: deny\n",
      "c-targets.yaml": TARGET,
      "x.test.yaml": "cases: []\n",
      ".#lock.yaml": "not: [valid",
      "notes.txt": "not yaml",
    });
    const config = await loadConfig(dir, { env: {} });
    expect(config.rules.map((r) => r.name)).toEqual(["first", "second"]);
    expect(config.targets.map((t) => t.name)).toEqual(["api"]);
    expect(config.files).toEqual([join(dir, "a-rules.yaml"), join(dir, "b-rules.yml"), join(dir, "c-targets.yaml")]);
    expect(config.origins.get("rule:second")).toBe(`${join(dir, "b-rules.yml")}:2`);
    expect(config.origins.get("target:api")).toBe(`${join(dir, "c-targets.yaml")}:2`);
  });

  test("duplicate rule names across two files name both places", async () => {
    const dir = await folder("dup", {
      "a.yaml": "rules:\n  - name: same\n    effect: deny\n",
      "b.yaml": "# second file\nrules:\n  - name: other\n    effect: deny\n  - name: same\n    effect: deny\n",
    });
    const e = await failure(loadConfig(dir));
    expect(e.message).toBe(`${join(dir, "b.yaml")}:5:5: rules[1].name: duplicate rule name "same" (first defined at ${join(dir, "a.yaml")}:2)`);
  });

  test("a single section defined in two files is an error naming both", async () => {
    const dir = await folder("twice", {
      "a.yaml": "gateway:\n  state_dir: ./a\n",
      "b.yaml": "gateway:\n  state_dir: ./b\n",
    });
    const e = await failure(loadConfig(dir));
    expect(e.message).toBe(`${join(dir, "b.yaml")}:1:1: gateway: already defined in ${join(dir, "a.yaml")}:1:1; define it in one file only`);
  });

  test("errors from several files are all reported", async () => {
    const dir = await folder("many", {
      "a.yaml": "rules:\n  - name: a\n    effect: maybe\n",
      "b.yaml": "rules:\n  - name: b\n    efect: deny\n",
    });
    const e = await failure(loadConfig(dir));
    const lines = e.message.split("\n");
    expect(lines[0]).toStartWith(`${join(dir, "a.yaml")}:3:5: rules[0].effect:`);
    expect(lines).toContain(`${join(dir, "b.yaml")}:3:5: rules[0].efect: unknown key "efect" (did you mean "effect"?)`);
  });

  test("an empty folder and a missing path are read errors", async () => {
    const dir = await folder("empty", { "readme.md": "x" });
    expect((await failure(loadConfig(dir))).code).toBe("E_CONFIG_READ");
    expect((await failure(loadConfig(join(root, "nope")))).code).toBe("E_CONFIG_READ");
  });
});

describe("defaults and paths", () => {
  test("state and audit default under ./state next to the config", async () => {
    const dir = await folder("defaults", { "g.yaml": TARGET });
    const c = await loadConfig(join(dir, "g.yaml"));
    expect(c.gateway.state_dir).toBe(join(dir, "state"));
    expect(c.audit).toEqual({ path: join(dir, "state", "audit", "audit.log"), durability: "batch", rotate_size: "100MB" });
    expect(c.identity).toEqual({ issuers: [], machine_keys: [], dev_issuer: false, end_sessions_at_expiry: true });
    expect(c.warnings).toEqual([]);
  });

  test("relative paths resolve against the folder of the file that declared them", async () => {
    const dir = await folder("paths", {
      "a.yaml": "gateway:\n  state_dir: ../var/state\n",
      "b.yaml": "audit:\n  path: logs/audit.log\n  durability: strict\n",
    });
    const c = await loadConfig(dir);
    expect(c.gateway.state_dir).toBe(join(root, "var", "state"));
    expect(c.audit.path).toBe(join(dir, "logs", "audit.log"));
    expect(c.audit.durability).toBe("strict");
  });

  test("audit.fsync_interval is a duration, kept as written", async () => {
    const dir = await folder("fsync", { "a.yaml": TARGET, "b.yaml": "audit:\n  path: a.log\n  fsync_interval: 25ms\n" });
    expect((await loadConfig(dir)).audit.fsync_interval).toBe("25ms");
    const bad = await folder("fsync-bad", { "a.yaml": TARGET, "b.yaml": "audit:\n  path: a.log\n  fsync_interval: 25 ms\n" });
    expect((await failure(loadConfig(bad))).message).toContain("audit.fsync_interval");
  });

  test("the loaded config is frozen", async () => {
    const c = await fromText(TARGET);
    expect(Object.isFrozen(c.targets[0])).toBe(true);
    expect(Object.isFrozen(c.rules)).toBe(true);
  });
});

describe("cross checks", () => {
  test("unique names of targets, issuers and machine keys", async () => {
    const twoTargets = `${TARGET}  - name: api\n    kind: http\n    listen: 127.0.0.1:8081\n    upstream: http://x\n`;
    expect((await failure(fromText(twoTargets))).message).toBe(`policies/x.yaml:6:5: targets[1].name: duplicate target name "api" (first defined at policies/x.yaml:2)`);
    const keys = `identity:\n  machine_keys:\n    - { name: k, sha256: "${"a".repeat(64)}", groups: [] }\n    - { name: k2, sha256: "${"a".repeat(64)}", groups: [] }\n`;
    expect((await failure(fromText(keys))).message).toContain(`identity.machine_keys[1].sha256: same key as machine key "k"`);
  });

  test("two listeners on one port clash, wildcard hosts included", async () => {
    const text = `gateway:\n  admin: { listen: "0.0.0.0:8080" }\n${TARGET}`;
    expect((await failure(fromText(text))).message).toBe(
      `policies/x.yaml:6:5: targets[0].listen: listener 127.0.0.1:8080 clashes with the admin API on 0.0.0.0:8080 (policies/x.yaml:2)`,
    );
    expect((await failure(fromText(TARGET.replace("8080", "70000")))).message).toContain("port 70000 is out of range");
  });

  test("port 0 asks the system for a free port: accepted, and two such listeners do not clash", async () => {
    const text = `gateway:\n  admin: { listen: "127.0.0.1:0" }\n${TARGET.replace("8080", "0")}`;
    const config = await fromText(text);
    expect(config.gateway.admin?.listen).toBe("127.0.0.1:0");
    expect(config.targets[0]!.listen).toBe("127.0.0.1:0");
  });

  test("review rules need approvers; mask only on allow; review terms only on review", async () => {
    const e = await failure(
      fromText("rules:\n  - name: r\n    effect: review\n  - name: d\n    effect: deny\n    mask: { columns: [a] }\n    approvers: [x]\n"),
    );
    expect(e.message.split("\n")).toEqual([
      `policies/x.yaml:2:5: rules[0]: a review rule needs "approvers" (the groups that may approve)`,
      `policies/x.yaml:7:5: rules[1].approvers: "approvers" is only allowed on review rules`,
      `policies/x.yaml:6:5: rules[1].mask: "mask" is only allowed on allow rules`,
    ]);
  });

  test("approvals_required: only on review rules, and compiled into the review terms", async () => {
    const e = await failure(fromText("rules:\n  - name: d\n    effect: deny\n    approvals_required: 2\n"));
    expect(e.message).toBe(`policies/x.yaml:4:5: rules[0].approvals_required: "approvals_required" is only allowed on review rules`);
    const { policy } = await loadPolicyFromSources([{ file: "policies/x.yaml", text: "rules:\n  - name: w\n    effect: review\n    approvers: [ops]\n    approvals_required: 2\n" }], { baseDir: "/etc/gatehouse", env: {} });
    const d = policy.decide({ identity: { method: "dev", subject: "a", issuer: "dev", groups: [] }, target: "t", request: { kind: "http", method: "GET", path: "/" }, time: 0 });
    expect(d.review?.approvalsRequired).toBe(2);
  });

  test("console: its issuer must be trusted, OIDC needs client_id and redirect_url, and plaintext off loopback is refused", async () => {
    const issuer = `identity:\n  issuers:\n    - { name: corp, issuer: "https://idp.example", audience: gatehouse }\n`;
    const off = await failure(fromText(`gateway:\n  admin: { listen: "0.0.0.0:9090" }\n${issuer}console:\n  issuer: corp\n  client_id: c\n  redirect_url: https://gate.example/login/callback\n`));
    expect(off.message).toBe(`policies/x.yaml:2:12: gateway.admin.listen: the console would send login cookies over plain HTTP on 0.0.0.0:9090, an address other than loopback: set gateway.admin.tls, or allow_plaintext: true behind a proxy that terminates TLS`);
    // Behind a TLS proxy, said so: accepted.
    const proxied = await fromText(`gateway:\n  admin: { listen: "0.0.0.0:9090", allow_plaintext: true }\n${issuer}console:\n  issuer: corp\n  client_id: c\n  redirect_url: https://gate.example/login/callback\n`);
    expect(proxied.console?.issuer).toBe("corp");
    const unknown = await failure(fromText(`gateway:\n  admin: { listen: "127.0.0.1:9090" }\n${issuer}console:\n  issuer: other\n`));
    expect(unknown.message.split("\n")).toEqual([
      `policies/x.yaml:7:3: console.issuer: no identity issuer named "other" (issuers: corp; or "dev" for the dev issuer)`,
      `policies/x.yaml:6:1: console: an OpenID Connect login needs "client_id" (the console's client at issuer "other")`,
      `policies/x.yaml:6:1: console: an OpenID Connect login needs "redirect_url" (this listener's address as browsers reach it, ending in /login/callback)`,
    ]);
    const dev = await failure(fromText(`gateway:\n  admin: { listen: "127.0.0.1:9090" }\nconsole: { issuer: dev }\n`));
    expect(dev.message).toContain(`console.issuer: "dev" logs in through the dev issuer, which is off`);
    const noAdmin = await failure(fromText(`identity: { dev_issuer: true }\nconsole: { issuer: dev }\n`));
    expect(noAdmin.message).toContain(`console: the console is served on the admin listener: set gateway.admin.listen`);
  });

  test("an http section on a rule naming only postgres targets is an error", async () => {
    const text = `targets:\n  - name: db\n    kind: postgres\n    listen: 127.0.0.1:6432\n    upstream: { host: h, database: d, user: u }\nrules:\n  - name: r\n    targets: [db]\n    http: { methods: [GET] }\n    effect: allow\n`;
    expect((await failure(fromText(text))).message).toBe(
      `policies/x.yaml:9:5: rules[0].http: a http section cannot match the rule's targets (their kinds: postgres)`,
    );
  });

  test("a targets glob that matches no target is a warning, not an error", async () => {
    const c = await fromText(`${TARGET}rules:\n  - name: r\n    targets: [prod-*, api]\n    effect: deny\n`);
    expect(c.warnings).toEqual([`policies/x.yaml:8: rule "r": targets glob "prod-*" matches no target`]);
  });
});

describe("secrets", () => {
  const SECRET_TARGET = `targets:\n  - name: db\n    kind: postgres\n    listen: 127.0.0.1:6432\n    upstream:\n      host: h\n      database: d\n      user: u\n      password: \${env:DB_PASSWORD}\n`;

  test("are resolved from the environment; the hash does not depend on them", async () => {
    const a = await fromText(SECRET_TARGET, { DB_PASSWORD: "hunter2" });
    const b = await fromText(SECRET_TARGET, { DB_PASSWORD: "other" });
    const t = a.targets[0]!;
    expect(t.kind === "postgres" && t.upstream.password).toBe("hunter2");
    expect(a.hash).toBe(b.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.secretPaths).toEqual([["targets", 0, "upstream", "password"]]);
  });

  test("a missing variable names the key and place but not any value", async () => {
    const e = await failure(fromText(SECRET_TARGET, { OTHER: "hunter2" }));
    expect(e.code).toBe("E_SECRET");
    expect(e.message).toBe(`policies/x.yaml:9:7: targets[0].upstream.password: environment variable DB_PASSWORD is not set`);
    expect(JSON.stringify(e.details)).not.toContain("hunter2");
  });

  test("are left as references when resolveSecrets is false", async () => {
    const c = await loadConfigFromSources([{ file: "x.yaml", text: SECRET_TARGET }], { baseDir: "/", env: {}, resolveSecrets: false });
    const t = c.targets[0]!;
    expect(t.kind === "postgres" && t.upstream.password).toBe("${env:DB_PASSWORD}");
  });

  test("a malformed reference is a config error that does not echo the string", async () => {
    const e = await failure(fromText(SECRET_TARGET.replace("${env:DB_PASSWORD}", "pa55${vault:kv}")));
    expect(e.code).toBe("E_CONFIG_INVALID");
    expect(e.message).toContain("targets[0].upstream.password: unknown secret reference");
    expect(e.message).not.toContain("pa55");
  });
});

describe("values and files the gateway would trip over at start", () => {
  const ISSUER = `identity:\n  issuers:\n    - name: corp\n      issuer: https://idp.example.test\n      audience: api\n`;

  test("issuer problems are placed at their key: algorithms, plain http off loopback", async () => {
    const e = await failure(fromText(ISSUER.replace("audience: api", "audience: api\n      algorithms: [HS256]\n      jwks_uri: http://10.0.0.5/jwks")));
    expect(e.code).toBe("E_CONFIG_INVALID");
    expect(e.message.split("\n")).toEqual([
      `policies/x.yaml:7:7: identity.issuers[0].jwks_uri: issuer "corp": jwks_uri "http://10.0.0.5/jwks" uses plain http on a host other than this one: anyone on the network path could replace the signing keys and mint tokens; use https (plain http is allowed only on loopback: 127.0.0.0/8, ::1, localhost)`,
      `policies/x.yaml:6:20: identity.issuers[0].algorithms[0]: issuer "corp": algorithm "HS256" is not allowed (symmetric: the verifying key is the signing key, so anyone who can read the JWKS could mint tokens): only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA`,
    ]);
    // On loopback plain http is fine (a provider on this host, as in the tests).
    await fromText(ISSUER.replace("https://idp.example.test", "http://127.0.0.1:8081"));
    await fromText(ISSUER.replace("audience: api", "audience: api\n      jwks_uri: http://localhost:8081/jwks"));
  });

  test("a secret reference is judged by what it resolves to, and not at all when left unresolved", async () => {
    const withRef = ISSUER.replace("audience: api", "audience: api\n      jwks_uri: ${env:JWKS}");
    expect((await failure(fromText(withRef, { JWKS: "http://idp.example.test/jwks" }))).message).toContain("identity.issuers[0].jwks_uri: ");
    await fromText(withRef, { JWKS: "https://idp.example.test/jwks" });
    await loadConfigFromSources([{ file: "x.yaml", text: withRef }], { baseDir: "/", env: {}, resolveSecrets: false });
  });

  test("the TLS files of a PostgreSQL target must be readable, unless files are skipped", async () => {
    const dir = await folder("tls-files", {
      "gatehouse.yaml": `targets:\n  - name: db\n    kind: postgres\n    listen: 127.0.0.1:6432\n    tls: { cert: ./nope.crt, key: ./nope.key }\n    upstream: { host: h, database: d, user: u, ca: ./nope-ca.pem }\n`,
    });
    const e = await failure(loadConfig(dir));
    expect(e.code).toBe("E_CONFIG_INVALID");
    expect(issuesOf(e).map((i) => i.path)).toEqual(["targets[0].tls.cert", "targets[0].tls.key", "targets[0].upstream.ca"]);
    expect(e.message).toContain(`cannot read "${join(dir, "nope.crt")}": ENOENT`);
    await loadConfig(dir, { resolveSecrets: false });
  });
});
