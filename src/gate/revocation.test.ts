// Revocation on reload for a target's sessions: live ones are ended at once, ones still being set
// up are caught when they go live, and a session that ended is no longer reached.
import { expect, test } from "bun:test";
import { SessionRevocations, type RevocableSession, type RevokedCheck } from "./revocation.ts";

const who = (subject: string) => ({ method: "machine-key", subject, issuer: "gatehouse" });

function session(subject: string): RevocableSession & { ended: number } {
  const s = {
    ended: 0,
    revokeIf(revoked: RevokedCheck) {
      if (revoked(who(subject))) s.ended++;
    },
  };
  return s;
}

test("revoke() reaches every live session the check names, and none that was deleted", () => {
  const r = new SessionRevocations();
  const a = session("ci-bot");
  const b = session("etl");
  const gone = session("ci-bot");
  r.add(a);
  r.add(b);
  r.add(gone);
  r.delete(gone);
  r.revoke((i) => i.subject === "ci-bot");
  expect([a.ended, b.ended, gone.ended]).toEqual([1, 0, 0]);
});

test("a session set up across a reload is checked against what came after its generation", () => {
  const r = new SessionRevocations();
  const since = r.generation;
  expect(r.revokedSince(since, who("ci-bot"))).toBe(false);
  r.revoke((i) => i.subject === "ci-bot");
  expect(r.revokedSince(since, who("ci-bot"))).toBe(true);
  expect(r.revokedSince(since, who("etl"))).toBe(false);
  expect(r.revokedSince(r.generation, who("ci-bot"))).toBe(false);
});
