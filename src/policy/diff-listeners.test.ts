import { expect, test } from "bun:test";
import { loadConfigFromSources } from "../config/load.ts";
import { diffListeners } from "./diff-listeners.ts";

const load = (text: string) => loadConfigFromSources([{ file: "c.yaml", text }], { baseDir: "/srv", env: {} });
const target = (name: string, listen: string, upstream = "http://u") => `  - { name: ${name}, kind: http, listen: "${listen}", upstream: "${upstream}" }\n`;

test("listener and target changes that need a restart are each reported", async () => {
  const a = await load(`gateway:\n  admin: { listen: "127.0.0.1:9090" }\ntargets:\n${target("x", "127.0.0.1:8080")}${target("y", "127.0.0.1:8081")}${target("z", "127.0.0.1:8082")}`);
  const b = await load(`gateway:\n  admin: { listen: "127.0.0.1:9091" }\ntargets:\n${target("x", "127.0.0.1:8180")}${target("y", "127.0.0.1:8081", "http://v")}${target("w", "127.0.0.1:8083")}`);
  expect(diffListeners(a, b)).toEqual([
    `target "x": listen changed from 127.0.0.1:8080 to 127.0.0.1:8180; restart to apply`,
    `target "y": settings changed; restart to apply`,
    `target "z": removed, but its listener on 127.0.0.1:8082 keeps running; restart to apply`,
    `target "w": added on 127.0.0.1:8083; restart to apply`,
    `admin API: listen changed from 127.0.0.1:9090 to 127.0.0.1:9091; restart to apply`,
  ]);
});

test("a rules-only change needs no restart", async () => {
  const a = await load(`targets:\n${target("x", "127.0.0.1:8080")}rules:\n  - { name: r, effect: allow }\n`);
  const b = await load(`targets:\n${target("x", "127.0.0.1:8080")}rules:\n  - { name: r, effect: deny }\n`);
  expect(diffListeners(a, b)).toEqual([]);
});

test("a secret whose value changed is no change of settings (it rotates live); a reference to another file is", async () => {
  const pg = (ref: string) => `targets:\n  - { name: db, kind: postgres, listen: "127.0.0.1:6432", upstream: { host: h, database: d, user: u, password: "${ref}" } }\n`;
  const a = await loadConfigFromSources([{ file: "c.yaml", text: pg("${env:PW}") }], { baseDir: "/srv", env: { PW: "one" } });
  const b = await loadConfigFromSources([{ file: "c.yaml", text: pg("${env:PW}") }], { baseDir: "/srv", env: { PW: "two" } });
  expect(diffListeners(a, b)).toEqual([]);
  const c = await loadConfigFromSources([{ file: "c.yaml", text: pg("${env:OTHER_PW}") }], { baseDir: "/srv", env: { OTHER_PW: "two" } });
  expect(diffListeners(a, c)).toEqual([`target "db": settings changed; restart to apply`]);
});

test("the console added or removed, and the admin API's TLS, need a restart; the console's roles do not", async () => {
  const base = `gateway:\n  admin: { listen: "127.0.0.1:9090" }\nidentity: { dev_issuer: true }\n`;
  const none = await load(base);
  const one = await load(`${base}console: { issuer: dev, viewers: [a] }\n`);
  const other = await load(`${base}console: { issuer: dev, viewers: [b] }\n`);
  expect(diffListeners(none, one)).toEqual([`console: added, but it is not served yet; restart to apply`]);
  expect(diffListeners(one, none)).toEqual([`console: removed, but it keeps being served; restart to apply`]);
  expect(diffListeners(one, other)).toEqual([]);
  const plain = await load(`gateway:\n  admin: { listen: "127.0.0.1:9090", allow_plaintext: true }\n`);
  expect(diffListeners(none, plain)).toEqual([`admin API: tls or allow_plaintext changed; restart to apply`]);
});
