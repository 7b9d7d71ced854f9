// The auth.rejected record and count every target writes for a refused credential.
import { expect, test } from "bun:test";
import type { AuditEvent } from "./gate.ts";
import { recordAuthRejected } from "./auth-rejection.ts";

function deps(fail = false) {
  const records: AuditEvent[] = [];
  const counted: string[] = [];
  return {
    records,
    counted,
    gate: {
      record: async (e: AuditEvent) => {
        if (fail) throw new Error("audit log unavailable: disk full");
        records.push(e);
      },
    },
    metrics: { authFailures: { inc: (labels: { reason?: string } = {}) => void counted.push(labels.reason ?? "") } } as never,
  };
}

test("a record with reason, message and the protocol's facts; counted by reason", async () => {
  const d = deps();
  await recordAuthRejected(d, { target: "db", reason: "missing", message: "no password supplied", details: { remote: "127.0.0.1:5", user: "ann" } });
  expect(d.records).toEqual([{ type: "auth.rejected", target: "db", details: { reason: "missing", message: "no password supplied", remote: "127.0.0.1:5", user: "ann" } }]);
  expect(d.counted).toEqual(["missing"]);
});

test("session, identity (as audited) and action when known; count: false leaves the counter alone", async () => {
  const d = deps();
  const identity = { method: "oidc", subject: "ann", issuer: "https://idp", groups: ["dev"], expiresAt: 5, claims: {} } as never;
  await recordAuthRejected(d, { session: "req_1", identity, target: "api", action: { kind: "http", method: "GET", path: "/" }, reason: "revoked", message: "m" }, { count: false });
  expect(d.records).toEqual([
    {
      type: "auth.rejected",
      session: "req_1",
      identity: { method: "oidc", subject: "ann", issuer: "https://idp", groups: ["dev"] },
      target: "api",
      action: { kind: "http", method: "GET", path: "/" },
      details: { reason: "revoked", message: "m" },
    },
  ]);
  expect(d.counted).toEqual([]);
});

test("a record the audit log cannot take rejects, so the target can say so", async () => {
  const d = deps(true);
  await expect(recordAuthRejected(d, { target: "db", reason: "expired", message: "m" })).rejects.toThrow("disk full");
  expect(d.counted).toEqual(["expired"]);
});
