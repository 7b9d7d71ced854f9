import { expect, test } from "bun:test";
import { LiveSessionRegistry, type EndedBy, type ListedSession } from "./live-sessions.ts";
import { SessionRevocations } from "./revocation.ts";
import { SessionExpiry, endedDetails } from "./session-expiry.ts";

const who = { method: "dev", subject: "bob", issuer: "dev", groups: [] };
const olivia: EndedBy = { subject: "olivia", issuer: "dev" };

test("sessions registered through a target's SessionRevocations are listed newest first and ended once by id", () => {
  const registry = new LiveSessionRegistry();
  const revocations = new SessionRevocations(registry);
  const ended: string[] = [];
  const session = (id: string, startedAt: number): { revokeIf(): void; listed: ListedSession } => ({
    revokeIf: () => {},
    listed: { info: { id, target: "db", kind: "postgres", identity: who, startedAt }, end: (by) => ended.push(`${id} by ${by.subject}`) },
  });
  const a = session("pg_a", 1);
  const b = session("pg_b", 2);
  revocations.add(a);
  revocations.add(b);
  revocations.add({ revokeIf: () => {} }); // a plain request: revocable, not listed
  expect(registry.list().map((s) => s.id)).toEqual(["pg_b", "pg_a"]);
  expect(registry.end("pg_a", olivia)).toBe(true);
  expect(registry.end("pg_a", olivia)).toBe(false);
  expect(ended).toEqual(["pg_a by olivia"]);
  revocations.delete(b);
  expect(registry.size).toBe(0);
  // A target without a registry (tests, older wiring) still revokes as before.
  expect(() => new SessionRevocations().add(a)).not.toThrow();
});

test("an operator's end goes through the session's expiry: the end reason, the message and session.end's details name who", () => {
  const reasons: string[] = [];
  const expiry = new SessionExpiry(undefined, { now: () => 0 }, (r) => reasons.push(r));
  expect(endedDetails(expiry)).toEqual({});
  expiry.endBy({ ...olivia, name: "Olivia O." });
  expiry.endBy({ subject: "mallory", issuer: "dev" }); // once only
  expect(reasons).toEqual(["ended_by_operator"]);
  expect(expiry.message()).toBe("session ended by Olivia O. from the gatehouse console");
  expect(endedDetails(expiry)).toEqual({ ended: "ended_by_operator", ended_by: { subject: "olivia", issuer: "dev", name: "Olivia O." } });
  // An expiry after the operator's end changes nothing.
  expiry.end("token_expired");
  expect(reasons).toEqual(["ended_by_operator"]);
});
