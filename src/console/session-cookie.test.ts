import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCookieSigner, loadOrCreateCookieKey, readSession, sessionCookie } from "./session-cookie.ts";

function stateDir(): string {
  return mkdtempSync(join(tmpdir(), "gatehouse-cookie-key-"));
}

test("a key is made once, 32 random bytes, and read back", async () => {
  const dir = stateDir();
  try {
    const a = await loadOrCreateCookieKey(dir);
    expect(a.length).toBe(32);
    expect((await loadOrCreateCookieKey(dir)).equals(a)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a key file too short to be a key (empty after a crash, cut) is refused, never used: anyone could sign cookies with it", async () => {
  for (const short of [Buffer.alloc(0), Buffer.from("0123456789")]) {
    const dir = stateDir();
    try {
      mkdirSync(join(dir, "console"), { recursive: true });
      writeFileSync(join(dir, "console", "cookie-key"), short);
      const got = await loadOrCreateCookieKey(dir).then(
        (key) => key,
        (e: { code?: string; message: string }) => e,
      );
      if (Buffer.isBuffer(got)) {
        // Whatever it returns must not be the short key: a cookie forged with that key must not read as a session.
        const forged = sessionCookie(createCookieSigner(short), { identity: { method: "oidc", subject: "mallory", issuer: "https://idp.example", groups: ["leads"] }, expiresAt: Date.now() + 60_000, csrf: "x".repeat(32) });
        expect(readSession(createCookieSigner(got), forged, Date.now())).toBeNull();
        expect(got.length).toBeGreaterThanOrEqual(32);
      } else {
        expect(got.code).toBe("E_STATE");
        expect(got.message).toContain("cookie-key");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
