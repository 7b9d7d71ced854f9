import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayError } from "../core/errors.ts";
import { loadConfig } from "./load.ts";
import { parseSecretRefs, redactedConfig, REDACTED } from "./secrets.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-secrets-"));
  await writeFile(join(dir, "db-password"), "from-file\n");
  await writeFile(join(dir, "empty-secret"), "");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (password: string, headers = "") => `targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:6432
    upstream:
      host: h
      database: d
      user: u
      password: "${password}"
  - name: api
    kind: http
    listen: 127.0.0.1:8080
    upstream: http://127.0.0.1:9000
    headers:
      X-Plain: plain-credential
      Authorization: "Bearer ${headers}"
rules:
  - name: r
    effect: deny
    message: "costs $\${5}"
`;

async function load(name: string, text: string, env: Record<string, string> = {}) {
  const file = join(dir, name);
  await writeFile(file, text);
  return loadConfig(file, { env });
}

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected failure");
}

describe("parseSecretRefs", () => {
  test("splits text and references", () => {
    expect(parseSecretRefs("a${env:X}b${file:./k}")).toEqual({
      parts: [
        { kind: "text", text: "a" },
        { kind: "env", name: "X" },
        { kind: "text", text: "b" },
        { kind: "file", path: "./k" },
      ],
      hasRefs: true,
    });
  });
  test("$${ is a literal ${", () => {
    expect(parseSecretRefs("$${env:X}")).toEqual({ parts: [{ kind: "text", text: "${env:X}" }], hasRefs: false });
  });
  test("unknown schemes, bad names and unclosed references are errors", () => {
    expect("error" in parseSecretRefs("${vault:x}")).toBe(true);
    expect("error" in parseSecretRefs("${env:1X}")).toBe(true);
    expect("error" in parseSecretRefs("${env:X")).toBe(true);
    expect("error" in parseSecretRefs("${file:}")).toBe(true);
  });
});

describe("resolution", () => {
  test("env and file references, file relative to the config file, trailing newline dropped", async () => {
    const c = await load("ok.yaml", config("${file:db-password}", "${env:API_TOKEN}"), { API_TOKEN: "tok-123" });
    const [db, api] = c.targets;
    expect(db!.kind === "postgres" && db!.upstream.password).toBe("from-file");
    expect(api!.kind === "http" && api!.headers?.["Authorization"]).toBe("Bearer tok-123");
    expect(c.rules[0]!.message).toBe("costs ${5}");
  });

  test("an unreadable file names the key and path, never a value", async () => {
    const e = await failure(load("missing.yaml", config("${file:nope}", "x"), {}));
    expect(e.code).toBe("E_SECRET");
    expect(e.message).toBe(`${join(dir, "missing.yaml")}:9:7: targets[0].upstream.password: cannot read secret file "${join(dir, "nope")}" (ENOENT)`);
  });

  test("empty secrets are errors rather than empty passwords", async () => {
    expect((await failure(load("e1.yaml", config("${file:empty-secret}", "x")))).message).toContain('secret file');
    expect((await failure(load("e2.yaml", config("x", "${env:T}"), { T: "" }))).message).toContain("targets[1].headers.Authorization: environment variable T is empty");
  });

  test("every missing secret is reported, without the values of those that resolved", async () => {
    const e = await failure(load("two.yaml", config("${env:A}", "${env:B}"), { A: "value-of-a" }));
    expect(e.message.split("\n")).toEqual([`${join(dir, "two.yaml")}:16:7: targets[1].headers.Authorization: environment variable B is not set`]);
    expect(e.message).not.toContain("value-of-a");
  });
});

describe("redactedConfig", () => {
  test("hides secret-derived values, passwords and upstream headers", async () => {
    const c = await load("red.yaml", config("${env:P}", "${env:T}"), { P: "pw-secret", T: "tok-secret" });
    const red = redactedConfig(c);
    const text = JSON.stringify(red);
    expect(text).not.toContain("pw-secret");
    expect(text).not.toContain("tok-secret");
    expect(text).not.toContain("plain-credential");
    const targets = red["targets"] as { upstream: unknown; headers?: Record<string, string> }[];
    expect((targets[0]!.upstream as Record<string, unknown>)["password"]).toBe(REDACTED);
    expect(targets[1]!.headers).toEqual({ "X-Plain": REDACTED, Authorization: REDACTED });
    expect(red["hash"]).toBe(c.hash);
    // The loaded config itself is untouched.
    expect(c.targets[0]!.kind === "postgres" && c.targets[0]!.upstream.password).toBe("pw-secret");
  });
});
