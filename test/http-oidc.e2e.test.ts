// End to end with a real OIDC provider: the compiled gateway discovers the provider's JWKS over
// HTTP, accepts its client-credentials access tokens, reads groups from the configured claim,
// and refuses tokens for another audience; rejections are audited with their reason.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { decodeJwt, SignJWT } from "jose";
import { type GatewayProcess, startGatewayProcess } from "./helpers/gateway.ts";
import { type OidcProviderHandle, startOidcProvider } from "./helpers/oidc-provider.ts";
import { waitFor } from "./helpers/wait.ts";

// Response bodies in these tests are JSON objects; read them as loosely typed records.
const json = async (r: Response): Promise<Record<string, any>> => (await r.json()) as Record<string, any>;

let idp: OidcProviderHandle;
let gw: GatewayProcess;
let upstream: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  idp = await startOidcProvider();
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => Response.json({ path: new URL(req.url).pathname }) });
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:0 } }
identity:
  issuers:
    - name: test-idp
      issuer: "${idp.issuer}"
      audience: "${idp.audience}"
      groups_claim: groups
targets:
  - { name: api, kind: http, listen: 127.0.0.1:0, upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  - { name: readers, groups: [readers], http: { methods: [GET], paths: ["/**"] }, effect: allow }
`,
    },
  });
  base = `http://127.0.0.1:${gw.port("api")}`;
});

afterAll(async () => {
  gw?.cleanup();
  upstream?.stop(true);
  await idp?.close();
});

test("a client-credentials access token from the real provider is accepted with its groups", async () => {
  const token = await idp.getToken({ groups: ["readers"] });
  const r = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  expect(await json(r)).toEqual({ path: "/hello" });
});

test("groups decide: the same provider's token without the group is denied by policy", async () => {
  const token = await idp.getToken({ groups: ["others"] });
  const r = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(403);
});

test("a token without the groups claim, and one for another audience, are rejected with reasons and audited", async () => {
  const noGroups = await idp.getToken({ groups: null });
  const r1 = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${noGroups}` } });
  expect(r1.status).toBe(401);
  expect((await json(r1)).reason).toBe("no_groups");
  const other = await idp.getToken({ groups: ["readers"], audience: "https://elsewhere.test" });
  const r2 = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${other}` } });
  expect(r2.status).toBe(401);
  expect((await json(r2)).reason).toBe("audience");
  // Polled rather than read once: a record is in the file once the writer has written its batch.
  const log = await waitFor("auth.rejected records for no_groups and audience", () => {
    const text = readFileSync(gw.auditPath, "utf8");
    return text.includes('"reason":"no_groups"') && text.includes('"reason":"audience"') ? text : "";
  });
  expect(log).not.toContain(other);
});

test("a token signed by the provider's own key but issued in the future (beyond the clock skew) is refused as not yet valid", async () => {
  // The provider's real token, re-signed with its real key and kid, with iat an hour ahead:
  // only the issue time is wrong.
  const claims = decodeJwt(await idp.getToken({ groups: ["readers"] }));
  const resign = (iat: number) =>
    new SignJWT({ ...claims, iat }).setProtectedHeader({ alg: "RS256", kid: idp.keys.rsa.kid, typ: "at+jwt" }).sign(idp.keys.rsa.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const ahead = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${await resign(now + 3600)}` } });
  expect(ahead.status).toBe(401);
  const body = await json(ahead);
  expect(body.reason).toBe("not_yet_valid");
  expect(body.message).toContain("token is issued at");
  // The same token with an honest iat is accepted: the signature and the rest are fine.
  const honest = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${await resign(now)}` } });
  expect(honest.status).toBe(200);
});
