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
