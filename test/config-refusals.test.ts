// One validation: every configuration below is refused by `gatehouse check`, by `gatehouse
// serve` at start-up, and by a hot reload of a running gateway, each time with the same message
// and a file:line:column. (Before, check said "ok" to several that serve refused, and a reload
// refused some of them without any position.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkCommand } from "../src/cli/check.ts";
import { serveCommand } from "../src/cli/serve.ts";
import { createLogger } from "../src/core/logger.ts";
import type { Clock } from "../src/core/types.ts";
import { startGateway, type RunningGateway } from "../src/gate/gateway.ts";

const GOOD = `gateway: { state_dir: ./state }
identity:
  issuers:
    - name: corp
      issuer: https://idp.example.test
      audience: gatehouse
rules:
  - name: readers
    groups: [readers]
    effect: allow
`;

/** Each bad configuration, the key path its message must name, and a phrase it must contain. */
const BAD: { name: string; yaml: string; path: string; says: string; setup?: () => Promise<void> }[] = [
  {
    name: "an issuer allowing HS256",
    yaml: GOOD.replace("audience: gatehouse", "audience: gatehouse\n      algorithms: [RS256, HS256]"),
    path: "identity.issuers[0].algorithms[1]",
    says: `algorithm "HS256" is not allowed`,
  },
  {
    name: "a jwks_uri on plain http elsewhere",
    yaml: GOOD.replace("audience: gatehouse", "audience: gatehouse\n      jwks_uri: http://idp.example.test/jwks"),
    path: "identity.issuers[0].jwks_uri",
    says: "plain http is allowed only on loopback",
  },
  {
    name: "discovery on plain http elsewhere",
    yaml: GOOD.replace("issuer: https://idp.example.test", "issuer: http://idp.example.test"),
    path: "identity.issuers[0].issuer",
    says: "plain http is allowed only on loopback",
  },
  {
    name: "a jwks_uri that is not a URL",
    yaml: GOOD.replace("audience: gatehouse", "audience: gatehouse\n      jwks_uri: keys.json"),
    path: "identity.issuers[0].jwks_uri",
    says: `jwks_uri "keys.json" is not a URL`,
  },
  {
    name: "one iss configured twice",
    yaml: GOOD.replace("rules:", "    - { name: corp2, issuer: https://idp.example.test, audience: other }\nrules:"),
    path: "identity.issuers[1].issuer",
    says: `is already the issuer of "corp"`,
  },
  {
    name: "the dev issuer's iss",
    yaml: GOOD.replace("issuer: https://idp.example.test", "issuer: gatehouse-dev\n      jwks_uri: https://idp.example.test/jwks"),
    path: "identity.issuers[0].issuer",
    says: "reserved for the dev issuer",
  },
  {
    name: "an empty audience",
    yaml: GOOD.replace("audience: gatehouse", 'audience: ""'),
    path: "identity.issuers[0].audience",
    says: "audience must not be empty",
  },
  {
    name: "an audit rotate size of 0",
    yaml: `${GOOD}audit: { path: ./state/audit/audit.log, rotate_size: "0" }\n`,
    path: "audit.rotate_size",
    says: "expected a size above 0",
  },
  {
    name: "an HTTP upstream that is not a URL",
    yaml: `${GOOD}targets:\n  - { name: api, kind: http, listen: "127.0.0.1:1", upstream: "http://" }\n`,
    path: "targets[0].upstream",
    says: `"http://" is not a URL`,
  },
  {
    name: "an HTTP header name with a space",
    yaml: `${GOOD}targets:\n  - { name: api, kind: http, listen: "127.0.0.1:1", upstream: "http://127.0.0.1:2", headers: { "x api key": v } }\n`,
    path: `targets[0].headers["x api key"]`,
    says: "is not a valid header name",
  },
  {
    name: "a PostgreSQL target whose TLS certificate is missing",
    yaml: `${GOOD}targets:\n  - name: db\n    kind: postgres\n    listen: "127.0.0.1:1"\n    tls: { cert: ./missing.crt, key: ./gatehouse.yaml }\n    upstream: { host: 127.0.0.1, database: d, user: u }\n`,
    path: "targets[0].tls.cert",
    says: "ENOENT",
  },
  {
    name: "a dev issuer whose key in the state folder others can read",
    yaml: GOOD.replace("identity:", "identity:\n  dev_issuer: true"),
    path: "identity.dev_issuer",
    says: "is readable by others (mode 644): run chmod 600 on it",
    setup: async () => {
      await mkdir(join(dir, "state", "dev-issuer"), { recursive: true });
      await writeFile(join(dir, "state", "dev-issuer", "key.jwk"), "{}\n", { mode: 0o644 });
      await chmod(join(dir, "state", "dev-issuer", "key.jwk"), 0o644);
    },
  },
  {
    name: "a rule that does not compile (time zone)",
    yaml: GOOD.replace("effect: allow", "effect: allow\n    when: { timezone: Mars/Base }"),
    path: "rules[0]",
    says: `invalid timezone "Mars/Base"`,
  },
  {
    name: "a schema error",
    yaml: GOOD.replace("effect: allow", "effect: alow"),
    path: "rules[0].effect",
    says: `got "alow"`,
  },
];

let dir: string;
let file: string;
let gw: RunningGateway;
let log = "";
const clock: Clock = { now: () => Date.now() };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-refusals-"));
  file = join(dir, "gatehouse.yaml");
  await writeFile(file, GOOD);
  gw = await startGateway({ configPath: file, clock, log: createLogger("info", (line) => void (log += line)) });
});

afterAll(async () => {
  await gw?.stop();
  await rm(dir, { recursive: true, force: true });
});

function capture() {
  let out = "";
  let err = "";
  const controller = new AbortController();
  const io = {
    stdout: (s: string) => void (out += s),
    stderr: (s: string) => {
      err += s;
      // Should serve start after all, stop it at once: the test then fails on its output.
      if (/ serving/.test(err)) controller.abort();
    },
    color: false,
    env: {},
    signal: controller.signal,
  };
  return { io, out: () => out, err: () => err };
}

/** The first file:line:column line of an output, which must name the expected key path. */
function refusalLine(output: string, path: string): string {
  const found = output.split("\n").find((l) => l.includes(`${file}:`));
  if (found === undefined) throw new Error(`no ${file}:line:col line in:\n${output}`);
  // serve puts "gatehouse serve: cannot start: " before it.
  const line = found.slice(found.indexOf(`${file}:`));
  expect(line.slice(file.length)).toMatch(/^:\d+:\d+: /);
  expect(line).toContain(`: ${path}: `);
  return line;
}

for (const bad of BAD) {
  test(`check, serve and a reload refuse ${bad.name} alike, with a position`, async () => {
    await bad.setup?.();
    await writeFile(file, bad.yaml);

    const checked = capture();
    expect(await checkCommand.run([file], checked.io)).toBe(1);
    const line = refusalLine(checked.err(), bad.path);
    expect(line).toContain(bad.says);

    const served = capture();
    expect(await serveCommand.run(["--config", file], served.io)).toBe(1);
    expect(served.err()).toContain(`gatehouse serve: cannot start: `);
    expect(refusalLine(served.err(), bad.path)).toBe(line);

    const hash = gw.policy().hash;
    const before = log.length;
    await gw.reload();
    const rejected = log.slice(before);
    expect(rejected).toContain("policy reload rejected; the old policy keeps serving");
    expect(refusalLine(rejected, bad.path)).toBe(line);
    expect(gw.policy().hash).toBe(hash);
  });
}

test("the good configuration passes all three", async () => {
  await writeFile(file, GOOD);
  const checked = capture();
  expect(await checkCommand.run([file], checked.io)).toBe(0);
  const before = log.length;
  await gw.reload();
  expect(log.slice(before)).toContain("policy reloaded");
});
