// A serve whose configuration has no PostgreSQL target never loads the SQL parser (libpg-query
// and its WASM) or PGlite (serve --demo only); one with only an HTTP target loads neither ssh2
// and the SSH target, nor the MCP or Kubernetes targets, nor the web console: each is imported
// when a target (or the console section) needs it.
import { afterAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { utils } from "ssh2";
import { makeTempDir } from "./helpers/gateway.ts";
import { everythingStdioCommand } from "./helpers/mcp-servers.ts";
import { waitFor } from "./helpers/wait.ts";

const ROOT = resolve(import.meta.dir, "..");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Serves `targets` from source with the import recorder, until it logs that it is serving; returns what it imported. */
async function importsOfServe(targets: string, opts: { top?: string; env?: Record<string, string> } = {}): Promise<string[]> {
  const dir = makeTempDir("gatehouse-lazy-");
  dirs.push(dir);
  writeFileSync(
    join(dir, "gatehouse.yaml"),
    `gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
identity: { dev_issuer: true }
audit: { path: ./state/audit/audit.log }
${opts.top ?? ""}targets:
${targets}
rules:
  - { name: r, http: { methods: [GET] }, effect: allow }
`,
  );
  const p = Bun.spawn([process.execPath, "--preload", join(ROOT, "test/helpers/record-imports.ts"), join(ROOT, "src/main.ts"), "serve", "--config", "gatehouse.yaml"], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdout: "ignore",
    stderr: "pipe",
  });
  let stderr = "";
  const read = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of p.stderr) stderr += dec.decode(chunk);
  })();
  try {
    // Every listener is bound (on port 0) before the gateway logs that it is serving.
    const seen = await waitFor("the gateway to log that it is serving", () => (/ serving \{/.test(stderr) ? "serving" : p.exitCode !== null ? "exited" : null), { timeoutMs: 60_000 });
    if (seen === "exited") throw new Error(`the gateway exited with code ${p.exitCode}:\n${stderr}`);
  } finally {
    p.kill("SIGTERM");
  }
  await p.exited;
  await read;
  expect(stderr).toContain("serving");
  return [...stderr.matchAll(/^(?:IMPORT|LOADED) (.+)$/gm)].map((m) => m[1]!);
}

test("serve with an HTTP target imports neither the SQL parser nor PGlite, ssh2, the SSH, MCP or Kubernetes targets, nor the console", async () => {
  const imports = await importsOfServe(`  - { name: api, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }`);
  expect(imports).toEqual([]);
}, 60_000);

test("the recorder sees them when a target needs them: a postgres target loads the SQL parser, still not PGlite", async () => {
  const imports = await importsOfServe(`  - { name: db, kind: postgres, listen: "127.0.0.1:0", upstream: { host: 127.0.0.1, port: 9, database: x, user: x } }`);
  expect(imports.some((i) => i.includes("libpg-query"))).toBe(true);
  expect(imports.filter((i) => i.includes("pglite") || i.includes("demo-database"))).toEqual([]);
}, 60_000);

test("the recorder sees them when a target needs them: an SSH target loads ssh2, an MCP target its modules, a console section the console", async () => {
  const hostKey = utils.generateKeyPairSync("ed25519").public;
  const imports = await importsOfServe(
    [
      `  - { name: shell, kind: ssh, listen: "127.0.0.1:0", upstream: { host: 127.0.0.1, port: 9, user: deploy, password: "\${env:UP_PW}", host_key: "${hostKey}" } }`,
      `  - { name: tools, kind: mcp, listen: "127.0.0.1:0", servers: ${JSON.stringify([{ name: "everything", command: everythingStdioCommand() }])} }`,
    ].join("\n"),
    { top: "console: { issuer: dev, viewers: [auditors] }\n", env: { UP_PW: "not-used" } },
  );
  expect(imports.some((i) => i.includes("/node_modules/ssh2/"))).toBe(true);
  expect(imports.some((i) => i.endsWith("/src/targets/ssh/ssh-target.ts"))).toBe(true);
  expect(imports.some((i) => i.includes("/src/targets/mcp/"))).toBe(true);
  expect(imports.some((i) => i.includes("/src/console/"))).toBe(true);
  expect(imports.filter((i) => i.includes("targets/kubernetes/"))).toEqual([]);
}, 60_000);
