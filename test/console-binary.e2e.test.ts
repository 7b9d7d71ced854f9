// End to end through the compiled binary: the console's sessions and audit pages are served by
// the admin listener behind the login, with asciinema-player's script and stylesheet embedded in
// the binary (byte for byte the npm package's bundle) and the player's start script.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type GatewayProcess, httpGatewayYaml, startGatewayProcess } from "./helpers/gateway.ts";

setDefaultTimeout(60_000);

let gw: GatewayProcess;
let cookie = "";

beforeAll(async () => {
  const yaml =
    httpGatewayYaml({
      adminPort: 0,
      listen: "127.0.0.1:0",
      upstream: "http://127.0.0.1:1",
      rules: `
  - name: read
    groups: [developers]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
`,
    }) + `
console:
  issuer: dev
  viewers: [auditors]
`;
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml } });
  const res = await fetch(`${gw.adminUrl}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject: "ann", groups: "auditors", return_to: "/sessions" }), redirect: "manual" });
  cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
});

const bundle = (name: string) => readFileSync(join(import.meta.dir, "../node_modules/asciinema-player/dist/bundle", name), "utf8");

test("the binary serves asciinema-player's script and stylesheet as the package has them, behind the login", async () => {
  expect(cookie).toContain("=");
  for (const [path, file, type] of [
    ["/sessions/assets/asciinema-player.js", "asciinema-player.min.js", "text/javascript"],
    ["/sessions/assets/asciinema-player.css", "asciinema-player.css", "text/css"],
  ] as const) {
    const res = await fetch(`${gw.adminUrl}${path}`, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain(type);
    expect(await res.text()).toBe(bundle(file));
    // Not without a login.
    expect((await fetch(`${gw.adminUrl}${path}`, { redirect: "manual" })).status).not.toBe(200);
  }
  const init = await fetch(`${gw.adminUrl}/sessions/assets/player-init.js`, { headers: { cookie } });
  expect(await init.text()).toContain("AsciinemaPlayer.create");
});

test("the sessions and audit pages are served in the console's layout, with the checkpoint and verify", async () => {
  const sessions = await fetch(`${gw.adminUrl}/sessions`, { headers: { cookie, accept: "text/html" } });
  expect(sessions.status).toBe(200);
  const page = await sessions.text();
  expect(page).toContain("<h2>Live");
  expect(page).toContain('href="/audit"'); // the layout's navigation
  const audit = await (await fetch(`${gw.adminUrl}/audit?type=console.login`, { headers: { cookie, accept: "text/html" } })).text();
  expect(audit).toContain("console.login");
  expect(audit).toContain("Latest signed checkpoint:</strong> seq");
  expect(audit).toContain('href="/audit/checkpoint"');
  const cp = await fetch(`${gw.adminUrl}/audit/checkpoint`);
  expect(cp.status).toBe(200);
  expect(await cp.json()).toHaveProperty("signature");
});
