import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import type { AuthContext, Connection } from "ssh2";
import type { Identity } from "../../core/types.ts";
import { within } from "../../../test/helpers/wait.ts";
import { type CallerAuthDeps, MAX_FAILURES, type Rejection, callerAuth } from "./caller-auth.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["agents"] };
const bot: Identity = { method: "machine-key", subject: "bot", issuer: "bot", groups: ["agents"] };

function setup(over: Partial<CallerAuthDeps> = {}) {
  let dropped!: () => void;
  const droppedP = new Promise<void>((r) => (dropped = r));
  const conn = Object.assign(new EventEmitter(), {
    ended: 0,
    dropped: droppedP,
    end() {
      this.ended++;
      dropped();
    },
  });
  const rejected: Rejection[] = [];
  const admitted: [string, string, string][] = [];
  const deps: CallerAuthDeps = {
    authenticate: async (c) => {
      if (c === "good-token") return alice;
      throw new Error("not a valid token or machine key");
    },
    authFailureReason: () => "malformed",
    publicKey: (key) => (key.toString() === "bot-key" ? { identity: bot, verify: (_d, sig) => sig.toString() === "good-sig" } : null),
    account: (user) => (user === "deploy" ? "gatehouse-test" : null),
    rejected: async (r) => void rejected.push(r),
    admit: async (identity, user, account) => (admitted.push([identity.subject, user, account]), null),
    ...over,
  };
  const handle = callerAuth(conn as unknown as Connection, "web", deps);
  return { conn, handle, rejected, admitted };
}

/** A fake authentication request; resolves with its outcome. */
function request(handle: (ctx: AuthContext) => void, fields: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    const ctx = {
      username: "deploy",
      accept: () => resolve("accept"),
      reject: (methods?: string[]) => resolve(`reject ${(methods ?? []).join(",")}`),
      prompt: (_p: unknown, _title: string, cb: (answers: string[]) => void) => cb([String(fields.answer ?? "")]),
      ...fields,
    };
    handle(ctx as unknown as AuthContext);
  });
}

test("none lists the methods; a good token as password or keyboard-interactive answer is admitted as the mapped account", async () => {
  const t = setup();
  expect(await request(t.handle, { method: "none" })).toBe("reject publickey,password,keyboard-interactive");
  expect(await request(t.handle, { method: "password", password: "good-token" })).toBe("accept");
  expect(t.admitted).toEqual([["alice", "deploy", "gatehouse-test"]]);
  const k = setup();
  expect(await request(k.handle, { method: "keyboard-interactive", answer: "good-token" })).toBe("accept");
});

test("a bad token is rejected and recorded; after MAX_FAILURES the connection is dropped", async () => {
  const t = setup();
  for (let i = 1; i < MAX_FAILURES; i++) expect(await request(t.handle, { method: "password", password: `bad-${i}` })).toStartWith("reject");
  expect(t.conn.ended).toBe(0);
  void request(t.handle, { method: "password", password: "bad-last" });
  await within("the connection to be dropped", t.conn.dropped);
  expect(t.conn.ended).toBe(1);
  expect(t.rejected.length).toBe(MAX_FAILURES);
  expect(t.rejected[0]).toMatchObject({ reason: "malformed", method: "password", user: "deploy" });
});

test("public keys: an unknown key is passed over quietly, a known one is offered, and only a good signature logs in", async () => {
  const t = setup();
  expect(await request(t.handle, { method: "publickey", key: { algo: "ssh-ed25519", data: Buffer.from("stranger") } })).toStartWith("reject");
  expect(t.rejected).toEqual([]);
  expect(await request(t.handle, { method: "publickey", key: { algo: "ssh-ed25519", data: Buffer.from("bot-key") } })).toBe("accept");
  expect(t.admitted).toEqual([]);
  expect(await request(t.handle, { method: "publickey", key: { algo: "ssh-ed25519", data: Buffer.from("bot-key") }, blob: Buffer.from("b"), signature: Buffer.from("forged") })).toStartWith("reject");
  expect(t.rejected[0]).toMatchObject({ reason: "signature", identity: bot });
  expect(await request(t.handle, { method: "publickey", key: { algo: "ssh-ed25519", data: Buffer.from("bot-key") }, blob: Buffer.from("b"), signature: Buffer.from("good-sig") })).toBe("accept");
  expect(t.admitted).toEqual([["bot", "deploy", "gatehouse-test"]]);
});

test("a user name with no upstream account is refused and the connection dropped; admit's refusal drops it too", async () => {
  const t = setup();
  const ctx = { method: "none", username: "root", accept() {}, reject() {} };
  t.handle(ctx as unknown as AuthContext);
  await within("the connection to be dropped", t.conn.dropped);
  expect(t.rejected[0]).toMatchObject({ reason: "unknown_user", user: "root" });
  expect(t.conn.ended).toBe(1);
  const r = setup({ admit: async () => "gatehouse: the upstream refused" });
  void request(r.handle, { method: "password", password: "good-token" });
  await within("the connection to be dropped", r.conn.dropped);
  expect(r.conn.ended).toBe(1);
});
