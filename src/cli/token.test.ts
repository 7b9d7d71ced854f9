import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { parse as parseYaml } from "yaml";
import { GatewayError } from "../core/errors.ts";
import { systemClock } from "../core/types.ts";
import { createAuthenticator } from "../identity/authenticator.ts";
import { sha256Hex } from "../identity/machine-keys.ts";
import type { Io } from "./command.ts";
import { tokenCommand } from "./token.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-token-cli-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: Io = {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    color: false,
    env: {},
    signal: new AbortController().signal,
  };
  const code = await tokenCommand.run(args, io);
  return { code, out, err };
}

async function usageError(args: string[]): Promise<GatewayError> {
  try {
    await run(args);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

describe("gatehouse token (dev tokens)", () => {
  test("prints only the token on stdout; the gateway's dev issuer accepts it", async () => {
    const stateDir = join(dir, "state");
    const r = await run(["--sub", "alice", "--groups", "analysts,oncall", "--groups", "readers", "--ttl", "5m", "--state-dir", stateDir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    expect(r.err).toContain("development only");
    expect(r.err).not.toContain(r.out.trim());
    const token = r.out.trim();
    const claims = decodeJwt(token);
    expect((claims.exp as number) - (claims.iat as number)).toBe(300);
    const auth = await createAuthenticator({ dev_issuer: true }, { stateDir, clock: systemClock });
    expect(await auth.authenticate(token)).toMatchObject({ method: "dev", subject: "alice", groups: ["analysts", "oncall", "readers"] });
  });

  test("--config: state_dir relative to the config file; a note when dev_issuer is off", async () => {
    const configDir = join(dir, "conf");
    await mkdir(configDir);
    const file = join(configDir, "gatehouse.yaml");
    await writeFile(file, "gateway:\n  state_dir: ./st\n");
    const off = await run(["--sub", "bob", "--config", file]);
    expect(off.code).toBe(0);
    expect(existsSync(join(configDir, "st", "dev-issuer", "key.jwk"))).toBe(true);
    expect(off.err).toContain("does not set identity.dev_issuer: true");

    await writeFile(file, "gateway:\n  state_dir: ./st\nidentity:\n  dev_issuer: true\n");
    const on = await run(["--sub", "bob", "--config", file]);
    expect(on.err).not.toContain("does not set");
    const auth = await createAuthenticator({ dev_issuer: true }, { stateDir: join(configDir, "st"), clock: systemClock });
    expect((await auth.authenticate(on.out.trim())).subject).toBe("bob");
  });

  test("--config may be a folder of YAML files", async () => {
    const configDir = join(dir, "conf.d");
    await mkdir(configDir);
    await writeFile(join(configDir, "a-identity.yaml"), "identity:\n  dev_issuer: true\n");
    await writeFile(join(configDir, "b-gateway.yml"), "gateway:\n  state_dir: ../shared-state\n");
    const r = await run(["--sub", "carol", "--config", configDir]);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "shared-state", "dev-issuer", "key.jwk"))).toBe(true);
    expect(r.err).not.toContain("does not set");
  });

  test("without --state-dir or --config it refuses, and makes no key", async () => {
    const before = process.cwd();
    process.chdir(dir);
    let e: GatewayError;
    try {
      e = await usageError(["--sub", "dave"]);
    } finally {
      process.chdir(before);
    }
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toStartWith("--config PATH is required: the configuration the gateway serves");
    expect(existsSync(join(dir, "state"))).toBe(false);
  });

  test("without either, the configuration of `serve --demo` is used when it is there, as serve would", async () => {
    await mkdir(join(dir, "gatehouse-demo"));
    await writeFile(join(dir, "gatehouse-demo", "gatehouse.yaml"), "gateway:\n  state_dir: ./state\nidentity:\n  dev_issuer: true\n");
    const before = process.cwd();
    process.chdir(dir);
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(["--sub", "dave"]);
    } finally {
      process.chdir(before);
    }
    expect(r.code).toBe(0);
    expect(r.err).toContain("Using gatehouse-demo/gatehouse.yaml, the configuration of `gatehouse serve --demo`");
    const auth = await createAuthenticator({ dev_issuer: true }, { stateDir: join(dir, "gatehouse-demo", "state"), clock: systemClock });
    expect((await auth.authenticate(r.out.trim())).subject).toBe("dave");
    expect(existsSync(join(dir, "state"))).toBe(false);
  });

  test("--config without state_dir: the key in ./state beside the config, where serve looks, not in the working folder", async () => {
    const configDir = join(dir, "conf");
    await mkdir(configDir);
    await writeFile(join(configDir, "gatehouse.yaml"), "identity:\n  dev_issuer: true\n");
    const before = process.cwd();
    process.chdir(dir);
    try {
      const r = await run(["--sub", "erin", "--config", "conf/gatehouse.yaml"]);
      expect(r.code).toBe(0);
      expect(r.err).toContain("a new one was made");
    } finally {
      process.chdir(before);
    }
    expect(existsSync(join(configDir, "state", "dev-issuer", "key.jwk"))).toBe(true);
    expect(existsSync(join(dir, "state"))).toBe(false);
  });

  test("unreadable or unparsable configs are clear errors", async () => {
    expect((await usageError(["--sub", "a", "--config", join(dir, "missing.yaml")])).code).toBe("E_CONFIG_READ");
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "gateway: [unclosed\n");
    expect((await usageError(["--sub", "a", "--config", bad])).code).toBe("E_CONFIG_PARSE");
  });
});

describe("gatehouse token --machine-key", () => {
  test("key on stdout; the config snippet on stderr trusts exactly that key", async () => {
    const r = await run(["--machine-key", "ci-deploy", "--groups", "deployers"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ghk_[A-Za-z0-9_-]{43}\n$/);
    const key = r.out.trim();
    expect(r.err).not.toContain(key);
    const snippet = parseYaml(r.err.slice(r.err.indexOf("identity:"))) as { identity: { machine_keys: { name: string; sha256: string; groups: string[] }[] } };
    expect(snippet.identity.machine_keys).toEqual([{ name: "ci-deploy", sha256: sha256Hex(key), groups: ["deployers"] }]);
    const auth = await createAuthenticator(snippet.identity, { stateDir: dir, clock: systemClock });
    expect(await auth.authenticate(key)).toMatchObject({ method: "machine-key", subject: "ci-deploy", groups: ["deployers"] });
  });
});

describe("usage", () => {
  test("--help prints the usage", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--machine-key NAME");
    expect(r.out).toContain("--state-dir DIR");
  });

  test("bad combinations and values are usage errors", async () => {
    for (const args of [
      [],
      ["--groups", "a"],
      ["--sub", "a", "--ttl", "soon"],
      ["--sub", "a", "--ttl", "500ms"],
      ["--sub", "a", "--state-dir", "x", "--config", "y"],
      ["--machine-key", "bad name!"],
      ["--machine-key", "ci", "--sub", "a"],
      ["--sub", "a", "extra"],
      ["--sub", "a", "--nope"],
    ]) {
      expect((await usageError(args)).code).toBe("E_USAGE");
    }
  });
});
