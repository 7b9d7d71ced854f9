// End to end: the HTTP target's upstream bearer header comes from ${file:…}. The token file is
// replaced: requests sent after it carry the new token (the upstream sees it), a request in
// flight during the rotation finishes, the audit log records the rotation and never the token.
// Compiled binary; the upstream is a Bun server that checks the bearer token.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { auditRecordsWhen, makeTempDir, startGatewayProcess, type GatewayProcess } from "./helpers/gateway.ts";
import { signal, waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(60_000);

const KEY = "gh_http_rotate_0123456789abcdef0123456789ab";
const OLD = "upstream-token-old-91c2";
const NEW = "upstream-token-new-5d7e";

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let dir: string;
let tokenFile: string;
/** The upstream accepts these tokens; during a rotation both the old and the new one. */
const accepted = new Set([OLD]);
/** The bearer token of each request the upstream saw, in order. */
const seen: { path: string; token: string }[] = [];
const slowArrived = signal();
const slowRelease = signal();

function writeToken(value: string): void {
  writeFileSync(`${tokenFile}.tmp`, `${value}\n`);
  renameSync(`${tokenFile}.tmp`, tokenFile);
}

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const token = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1] ?? "";
      seen.push({ path, token });
      if (!accepted.has(token)) return Response.json({ error: "bad token" }, { status: 401 });
      if (path === "/api/slow") {
        slowArrived.resolve();
        await slowRelease.promise;
      }
      return Response.json({ ok: true, path });
    },
  });
  dir = makeTempDir("gatehouse-rotation-http-");
  mkdirSync(join(dir, "secrets"));
  tokenFile = join(dir, "secrets", "api-token");
  writeToken(OLD);
  const sha = createHash("sha256").update(KEY).digest("hex");
  gw = await startGatewayProcess({
    dir,
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { machine_keys: [{ name: ci-bot, sha256: ${sha}, groups: [apps] }] }
targets:
  - name: api
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:${upstream.port}
    headers: { authorization: "Bearer \${file:secrets/api-token}" }
rules:
  - name: apps
    groups: [apps]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
`,
    },
  });
});

afterAll(async () => {
  slowRelease.resolve();
  await gw?.stop();
  gw?.cleanup();
  upstream?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const get = (path: string) => fetch(`http://127.0.0.1:${gw.port("api")}${path}`, { headers: { authorization: `Bearer ${KEY}` } });

test("a replaced token file: new requests carry the new token, the one in flight finishes, the rotation is recorded", async () => {
  expect((await get("/api/before")).status).toBe(200);
  expect(seen.at(-1)).toEqual({ path: "/api/before", token: OLD });

  const inFlight = get("/api/slow");
  await within("the slow request to reach the upstream", slowArrived.promise);

  accepted.add(NEW);
  writeToken(NEW);
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "secret.rotated"), "a secret.rotated record");
  expect(records.find((r) => r.type === "secret.rotated")!.details).toEqual({
    reference: "${file:secrets/api-token}",
    keys: ["targets.api.headers.authorization"],
    targets: ["api"],
    cause: "file",
  });
  accepted.delete(OLD);

  const after = await get("/api/after");
  expect(after.status).toBe(200);
  expect(seen.at(-1)).toEqual({ path: "/api/after", token: NEW });

  slowRelease.resolve();
  const slow = await inFlight;
  expect(slow.status).toBe(200);
  expect(await slow.json()).toEqual({ ok: true, path: "/api/slow" });
  expect(seen.find((s) => s.path === "/api/slow")?.token).toBe(OLD);

  await waitFor("the slow request's completion record", () => readFileSync(gw.auditPath, "utf8").includes("/api/after"));
  const audit = readFileSync(gw.auditPath, "utf8");
  expect(audit).not.toContain(NEW);
  expect(audit).not.toContain(OLD);
  expect(gw.logs()).not.toContain(NEW);
});
