import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { GatewayError } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";
import { createAuthenticator } from "./authenticator.ts";
import { DEV_ISSUER_WARNING, devIssuerKeyPath, loadOrCreateDevIssuer, mintDevToken } from "./dev-issuer.ts";

let stateDir: string;
let nowMs = 1_800_000_000_000;
const clock: Clock = { now: () => nowMs };

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "gatehouse-dev-issuer-"));
  nowMs = 1_800_000_000_000;
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a failure");
}

describe("dev issuer key", () => {
  test("is created on first use with owner-only permissions, then reused", async () => {
    const first = await loadOrCreateDevIssuer(stateDir);
    const path = devIssuerKeyPath(stateDir);
    expect(first.keyPath).toBe(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(stateDir, "dev-issuer"))).mode & 0o777).toBe(0o700);
    const jwk = JSON.parse(await readFile(path, "utf8"));
    expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    expect(typeof jwk.d).toBe("string");
    expect(first.publicJwk.d).toBeUndefined();
    const second = await loadOrCreateDevIssuer(stateDir);
    expect(second.kid).toBe(first.kid);
  });

  test("processes racing to create it agree on one key", async () => {
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevIssuer(stateDir)));
    expect(new Set(all.map((d) => d.kid)).size).toBe(1);
  });

  test("an existing folder is tightened to 0700", async () => {
    await mkdir(join(stateDir, "dev-issuer"), { mode: 0o755 });
    await chmod(join(stateDir, "dev-issuer"), 0o755);
    await loadOrCreateDevIssuer(stateDir);
    expect((await stat(join(stateDir, "dev-issuer"))).mode & 0o777).toBe(0o700);
  });

  test("a key file readable by others is refused", async () => {
    await loadOrCreateDevIssuer(stateDir);
    await chmod(devIssuerKeyPath(stateDir), 0o644);
    const e = await failure(loadOrCreateDevIssuer(stateDir));
    expect(e.code).toBe("E_STATE");
    expect(e.message).toContain("chmod 600");
  });

  test("a corrupt or public-only key file is refused, not replaced", async () => {
    await loadOrCreateDevIssuer(stateDir);
    const path = devIssuerKeyPath(stateDir);
    const jwk = JSON.parse(await readFile(path, "utf8"));
    for (const text of ["{not json", JSON.stringify({ ...jwk, d: undefined }), JSON.stringify({ kty: "oct", k: "AAAA" })]) {
      await writeFile(path, text, { mode: 0o600 });
      expect((await failure(loadOrCreateDevIssuer(stateDir))).code).toBe("E_STATE");
      expect(await readFile(path, "utf8")).toBe(text);
    }
  });

  test("a state folder that cannot be created is a clear error", async () => {
    const blocker = join(stateDir, "file");
    await writeFile(blocker, "");
    const e = await failure(loadOrCreateDevIssuer(join(blocker, "state")));
    expect(e.code).toBe("E_STATE");
  });
});

describe("dev tokens", () => {
  test("round trip: minted token authenticates as method dev", async () => {
    const dev = await loadOrCreateDevIssuer(stateDir);
    const token = await mintDevToken({ sub: "alice", groups: ["analysts", "oncall"], ttlMs: 15 * 60_000 }, dev, clock);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "ES256", kid: dev.kid });
    expect(decodeJwt(token)).toMatchObject({ iss: "gatehouse-dev", aud: "gatehouse", sub: "alice", exp: nowMs / 1000 + 900 });
    const auth = await createAuthenticator({ dev_issuer: true }, { stateDir, clock });
    const identity = await auth.authenticate(token);
    expect(identity).toMatchObject({ method: "dev", subject: "alice", issuer: "gatehouse-dev", groups: ["analysts", "oncall"] });
    expect(identity.expiresAt).toBe(nowMs + 900_000);
  });

  test("expire after their ttl (plus the clock skew)", async () => {
    const dev = await loadOrCreateDevIssuer(stateDir);
    const token = await mintDevToken({ sub: "alice", groups: [], ttlMs: 60_000 }, dev, clock);
    const auth = await createAuthenticator({ dev_issuer: true }, { stateDir, clock });
    nowMs += 60_000 + 30_000;
    const e = await failure(auth.authenticate(token));
    expect(e.code).toBe("E_AUTH_EXPIRED");
    expect(e.message).toBe(`token expired at ${new Date(1_800_000_060_000).toISOString()}`);
  });

  test("are not trusted unless dev_issuer is on, nor by a gateway with another key", async () => {
    const dev = await loadOrCreateDevIssuer(stateDir);
    const token = await mintDevToken({ sub: "alice", groups: ["a"], ttlMs: 60_000 }, dev, clock);
    const off = await createAuthenticator({}, { stateDir, clock });
    expect((await failure(off.authenticate(token))).code).toBe("E_AUTH_ISSUER");
    const otherDir = await mkdtemp(join(tmpdir(), "gatehouse-dev-issuer-other-"));
    try {
      const other = await createAuthenticator({ dev_issuer: true }, { stateDir: otherDir, clock });
      expect((await failure(other.authenticate(token))).code).toBe("E_AUTH_UNKNOWN_KEY");
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  test("bad requests are usage errors", async () => {
    const dev = await loadOrCreateDevIssuer(stateDir);
    for (const bad of [
      { sub: "", groups: [], ttlMs: 60_000 },
      { sub: "a", groups: [""], ttlMs: 60_000 },
      { sub: "a", groups: [], ttlMs: 0 },
      { sub: "a", groups: [], ttlMs: Number.NaN },
    ]) {
      expect((await failure(mintDevToken(bad, dev, clock))).code).toBe("E_USAGE");
    }
  });

  test("the warning says plainly it is for development", () => {
    expect(DEV_ISSUER_WARNING).toContain("development only");
    expect(DEV_ISSUER_WARNING).toContain("production");
  });
});
