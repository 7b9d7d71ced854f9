// End to end through the compiled gateway: a WebSocket ends when the token it was opened with
// expires (identity.end_sessions_at_expiry, default true): the client gets close 1008 "token
// expired", the upstream socket is closed too, and the session.end record says why. A token
// already expired (but inside the verifier's clock skew) gets no socket at all. With the option
// off, the socket outlives the token. A reload that removes the machine key a socket was opened
// with closes that socket (1008 "credential revoked"), and no other.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { type GatewayProcess, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(60_000);

let upstream: ReturnType<typeof Bun.serve>;
/** Close frames the upstream received, by the test's tag sent as the first message. */
const upstreamClosed: { tag: string; code: number; reason: string }[] = [];

function config(identity: string): string {
  return httpGatewayYaml({
    adminPort: 0,
    listen: "127.0.0.1:0",
    upstream: `http://127.0.0.1:${upstream.port}`,
    identity,
    rules: `
  - name: read
    groups: [developers]
    http: { methods: [GET], paths: ["/ws", "/api/**"] }
    effect: allow
`,
  });
}

async function startGateway(identity: string): Promise<{ gw: GatewayProcess; port: number }> {
  const gw = await startGatewayProcess({ files: { "gatehouse.yaml": config(identity) } });
  return { gw, port: gw.port("api") };
}

async function token(gw: GatewayProcess, ttl: string): Promise<{ token: string; expiresAt: number }> {
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "alice", "--groups", "developers", "--ttl", ttl]);
  if (r.code !== 0) throw new Error(r.stderr);
  const tok = r.stdout.trim().split("\n")[0]!;
  const payload = JSON.parse(Buffer.from(tok.split(".")[1]!, "base64url").toString("utf8")) as { exp: number };
  return { token: tok, expiresAt: payload.exp * 1000 };
}

async function records(gw: GatewayProcess): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

/** The audit record matching `pick`, polled for: records are written after the event. */
async function waitForRecord(gw: GatewayProcess, pick: (r: AuditRecord) => boolean): Promise<AuditRecord> {
  return await waitFor(`a matching audit record in ${gw.auditPath} (${pick.toString().slice(0, 120)})`, async () => (await records(gw)).find(pick), { intervalMs: 50 });
}

/** A client WebSocket that has echoed once; `closed` settles with the close event. */
async function openEchoing(port: number, tok: string, tag: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${tok}` } } as unknown as string[]);
  const replies: string[] = [];
  let onReply: (() => void) | undefined;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  ws.onmessage = (e) => {
    replies.push(String(e.data));
    onReply?.();
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket failed to open"));
  });
  const echo = async (text: string): Promise<string> => {
    const n = replies.length;
    const got = new Promise<void>((resolve) => (onReply = resolve));
    ws.send(text);
    await Promise.race([got, closed]);
    return replies[n] ?? "(closed without a reply)";
  };
  expect(await echo(tag)).toBe(`echo:${tag}`);
  return { ws, closed, echo };
}

/** The close reason of a socket given up by openBeforeExpiry, whose records the tests skip. */
const RETRIED = "opened too late, retrying with a longer token";

/**
 * An echoing socket opened with a short-lived token, with at least a second of its life left.
 * Minting (a CLI process) and opening can take seconds on a loaded machine: a token that would
 * expire first is replaced by one that lives twice as long, under a new tag.
 */
async function openBeforeExpiry(gw: GatewayProcess, port: number, ttlSeconds: number, tag: string) {
  for (let ttl = ttlSeconds, n = 1; ; ttl *= 2, n++) {
    const { token: tok, expiresAt } = await token(gw, `${ttl}s`);
    const t = n === 1 ? tag : `${tag}-${n}`;
    const opened = await openEchoing(port, tok, t).catch(() => null);
    if (opened && Date.now() + 1000 < expiresAt) return { ...opened, tag: t, expiresAt };
    opened?.ws.close(1000, RETRIED);
    if (ttl >= 64) throw new Error(`could not open a WebSocket with a ${ttl}s token and a second of its life to spare`);
  }
}

const sessionEnd = (subject: string) => (r: AuditRecord) =>
  r.type === "session.end" && r.identity?.subject === subject && (r.details as Record<string, unknown>)?.websocket === true && (r.details as Record<string, unknown>)?.reason !== RETRIED;

beforeAll(() => {
  upstream = Bun.serve<{ tag?: string }>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, srv) {
      if (srv.upgrade(req, { data: {} })) return undefined;
      return Response.json({ path: new URL(req.url).pathname });
    },
    websocket: {
      message(ws, msg) {
        ws.data.tag ??= String(msg);
        ws.send(`echo:${String(msg)}`);
      },
      close(ws, code, reason) {
        upstreamClosed.push({ tag: ws.data.tag ?? "", code, reason });
      },
    },
  });
});

afterAll(() => {
  upstream?.stop(true);
});

describe("end_sessions_at_expiry on (the default)", () => {
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    ({ gw, port } = await startGateway(""));
  });
  afterAll(() => gw?.cleanup());

  test("an open WebSocket is closed with 1008 when its token expires, upstream too, and the end record says why", async () => {
    const { closed, echo, tag, expiresAt } = await openBeforeExpiry(gw, port, 4, "expiring");
    expect(await echo("still here")).toBe("echo:still here");
    // Bounded wait so that a socket that never closes fails the test instead of hanging it.
    const outcome = await within("the WebSocket to be closed at its token's expiry", closed, { timeoutMs: Math.max(0, expiresAt - Date.now()) + 20_000 });
    expect(outcome).toEqual({ code: 1008, reason: "token expired" });
    // The clock is past the token's expiry when it is closed, never before.
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    const end = await waitForRecord(gw, sessionEnd("alice"));
    expect(end.details).toMatchObject({ websocket: true, code: 1008, reason: "token expired", ended: "token_expired", messages: 2 });
    await waitFor("the upstream to see the expiring socket's close", () => upstreamClosed.some((c) => c.tag === tag), { intervalMs: 50 });
    expect(upstreamClosed.find((c) => c.tag === tag)).toEqual({ tag, code: 1008, reason: "token expired" });
  });

  test("a token that has expired, though inside the clock skew, opens no WebSocket", async () => {
    const { token: tok, expiresAt } = await token(gw, "1s");
    await waitFor("the token's expiry to pass", () => Date.now() > expiresAt + 100, { timeoutMs: expiresAt + 100 - Date.now() + 20_000, intervalMs: 50 });
    // Plain requests still pass inside the verifier's clock skew ...
    expect((await fetch(`http://127.0.0.1:${port}/api/x`, { headers: { authorization: `Bearer ${tok}` } })).status).toBe(200);
    // ... but an upgrade is refused before any socket exists.
    const r = await fetch(`http://127.0.0.1:${port}/ws`, {
      headers: { authorization: `Bearer ${tok}`, upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { reason: string }).reason).toBe("expired");
    const rejected = await waitForRecord(gw, (rec) => rec.type === "auth.rejected" && (rec.details as Record<string, unknown>)?.websocket === true);
    expect(rejected.details).toMatchObject({ reason: "expired", websocket: true });
    expect(rejected.identity?.subject).toBe("alice");
  });
});

describe("end_sessions_at_expiry: false", () => {
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    ({ gw, port } = await startGateway("end_sessions_at_expiry: false"));
  });
  afterAll(() => gw?.cleanup());

  test("a WebSocket outlives its token and keeps relaying; closing it is recorded as the client's close", async () => {
    const { ws, closed, echo, expiresAt } = await openBeforeExpiry(gw, port, 2, "outliving");
    // Two seconds past the expiry: a timer that would end the socket had its chance.
    await waitFor("two seconds past the token's expiry", () => Date.now() > expiresAt + 2000, { timeoutMs: expiresAt + 2000 - Date.now() + 20_000, intervalMs: 50 });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await echo("after expiry")).toBe("echo:after expiry");
    ws.close(1000, "done");
    expect((await within("the client's close to complete", closed)).code).toBe(1000);
    const end = await waitForRecord(gw, sessionEnd("alice"));
    expect(end.details).toMatchObject({ websocket: true, code: 1000, reason: "done", messages: 2 });
    expect(end.details).not.toHaveProperty("ended");
  });
});

describe("a reload that revokes the credential", () => {
  const KEY = "gh_ws_bot_0123456789abcdef0123456789abcdef";
  const keyEntry = `{ name: ws-bot, sha256: ${new Bun.CryptoHasher("sha256").update(KEY).digest("hex")}, groups: [developers] }`;
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    ({ gw, port } = await startGateway(`machine_keys: [${keyEntry}]`));
  });
  afterAll(() => gw?.cleanup());

  test("removing the machine key closes its WebSocket with 1008 credential revoked; a dev-token socket stays open", async () => {
    const bot = await openEchoing(port, KEY, "revoked-bot");
    const { token: tok } = await token(gw, "15m");
    const dev = await openEchoing(port, tok, "kept-dev");
    const yaml = await Bun.file(gw.configPath).text();
    const edited = yaml.replace(`, machine_keys: [${keyEntry}]`, "");
    expect(edited).not.toBe(yaml);
    await Bun.write(gw.configPath, edited);
    gw.proc.kill("SIGHUP");
    expect(await within("the revoked key's WebSocket to close", bot.closed)).toEqual({ code: 1008, reason: "credential revoked" });
    const end = await waitForRecord(gw, sessionEnd("ws-bot"));
    expect(end.details).toMatchObject({ websocket: true, code: 1008, ended: "credential_revoked" });
    expect(dev.ws.readyState).toBe(WebSocket.OPEN);
    expect(await dev.echo("still here")).toBe("echo:still here");
    dev.ws.close(1000, "done");
  });
});

describe("a reload while an upgrade is held for approval", () => {
  const KEY = "gh_ws_held_0123456789abcdef0123456789abcdef";
  const keyEntry = `{ name: held-bot, sha256: ${new Bun.CryptoHasher("sha256").update(KEY).digest("hex")}, groups: [developers] }`;
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    const yaml = httpGatewayYaml({
      adminPort: 0,
      listen: "127.0.0.1:0",
      upstream: `http://127.0.0.1:${upstream.port}`,
      identity: `machine_keys: [${keyEntry}]`,
      rules: `  - { name: ws-needs-approval, groups: [developers], http: { methods: [GET], paths: ["/ws"] }, effect: review, approvers: [approvers] }\n`,
    });
    gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml } });
    port = gw.port("api");
  });
  afterAll(() => gw?.cleanup());

  test("a key revoked while its upgrade waited gets no socket once approved: the upgrade is refused and recorded", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${KEY}` } } as unknown as string[]);
    let opened = false;
    ws.onopen = () => (opened = true);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
    const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "bob", "--groups", "approvers"]);
    const bob = r.stdout.trim().split("\n")[0]!;
    const id = await waitFor("the upgrade to be listed as pending", async () => {
      const list = await runCli(["requests", "--admin", gw.adminUrl, "--token", bob, "--json"]);
      return (JSON.parse(list.stdout).requests[0]?.id as string | undefined) ?? "";
    });
    expect(id).toMatch(/^apr_/);
    const yaml = await Bun.file(gw.configPath).text();
    await Bun.write(gw.configPath, yaml.replace(`, machine_keys: [${keyEntry}]`, ""));
    gw.proc.kill("SIGHUP");
    await waitForRecord(gw, (rec) => rec.type === "policy.loaded" && (rec.details as Record<string, unknown>)?.["reload"] === true);
    const ok = await runCli(["approve", id, "--admin", gw.adminUrl, "--token", bob]);
    expect(ok.code).toBe(0);
    await within("the refused upgrade's WebSocket to close", closed);
    expect(opened).toBe(false);
    const rejected = await waitForRecord(gw, (rec) => rec.type === "auth.rejected" && rec.identity?.subject === "held-bot");
    expect(rejected.details).toMatchObject({ reason: "revoked" });
    expect((await records(gw)).some(sessionEnd("held-bot"))).toBe(false);
  });
});
