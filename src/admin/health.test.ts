import { expect, test } from "bun:test";
import { createAdminApp, type AdminDeps } from "./admin-app.ts";
import { Health } from "./health.ts";

test("/healthz: ok; degraded (200, with reasons) while something that can mend is wrong; unhealthy (503) after a lasting failure", async () => {
  const health = new Health();
  // Only the route under test is reached; the other dependencies are never called.
  const app = createAdminApp({ notReady: () => null, unhealthy: () => health.unhealthy(), degraded: () => health.degraded() } as unknown as AdminDeps);
  const get = async () => {
    const r = await app.request("/healthz");
    return { status: r.status, body: await r.json() };
  };
  expect(await get()).toEqual({ status: 200, body: { status: "ok" } });

  health.degrade("secret ${file:pw}", "secret reference ${file:pw} cannot be read");
  expect(await get()).toEqual({ status: 200, body: { status: "degraded", reasons: ["secret reference ${file:pw} cannot be read"] } });
  health.recover("secret ${file:pw}");
  expect(await get()).toEqual({ status: 200, body: { status: "ok" } });

  health.degrade("tls a", "tls a");
  health.fail("audit", "audit log write failed: EIO");
  expect(await get()).toEqual({ status: 503, body: { status: "unhealthy", reason: "audit log write failed: EIO" } });
});
