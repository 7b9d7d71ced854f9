import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GatewayError } from "../core/errors.ts";
import type { Action } from "../core/types.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { compilePolicy, type Policy } from "./compile.ts";
import { createPolicyStore } from "./store.ts";
import { watchConfig } from "./watch.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-watch-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const rules = (effect: string) => `rules:\n  - name: r\n    effect: ${effect}\n`;
const action: Action = {
  identity: { method: "dev", subject: "a", issuer: "t", groups: [] },
  target: "x",
  request: { kind: "http", method: "GET", path: "/" },
  time: 0,
};

/** Resolves with the next event; rejects if none comes (a guard, not a timing assertion). */
function events() {
  const queue: { kind: "reload" | "reject"; config?: Config; policy?: Policy; error?: unknown }[] = [];
  const waiters: ((e: (typeof queue)[number]) => void)[] = [];
  const push = (e: (typeof queue)[number]) => {
    const w = waiters.shift();
    if (w) w(e);
    else queue.push(e);
  };
  const next = () =>
    new Promise<(typeof queue)[number]>((resolve, reject) => {
      const e = queue.shift();
      if (e) return resolve(e);
      const timer = setTimeout(() => reject(new Error("timed out after 20000 ms waiting for a reload event")), 20_000);
      waiters.push((ev) => {
        clearTimeout(timer);
        resolve(ev);
      });
    });
  return { push, next };
}

describe("watchConfig", () => {
  test("a valid edit swaps the policy; an invalid edit keeps the old one and reports file:line", async () => {
    const dir = join(root, "folder");
    await Bun.write(join(dir, "rules.yaml"), rules("allow"));
    const config = await loadConfig(dir);
    const store = createPolicyStore({ config, policy: compilePolicy(config) });
    expect(store.current().policy.decide(action).effect).toBe("allow");

    const ev = events();
    const controller = new AbortController();
    watchConfig(dir, {
      debounceMs: 20,
      signal: controller.signal,
      onReload: (c, p) => {
        store.swap({ config: c, policy: p });
        ev.push({ kind: "reload", config: c, policy: p });
      },
      onReject: (error) => ev.push({ kind: "reject", error }),
    });
    try {
      await writeFile(join(dir, "rules.yaml"), rules("deny"));
      const ok = await ev.next();
      expect(ok.kind).toBe("reload");
      expect(store.current().policy.decide(action).effect).toBe("deny");
      const before = store.current();

      await writeFile(join(dir, "rules.yaml"), rules("alow"));
      const bad = await ev.next();
      expect(bad.kind).toBe("reject");
      expect(bad.error).toBeInstanceOf(GatewayError);
      expect((bad.error as GatewayError).message).toBe(`${join(dir, "rules.yaml")}:3:5: rules[0].effect: expected one of "allow", "deny", "review", got "alow"`);
      expect(store.current()).toBe(before);
      expect(store.current().policy.decide(action).effect).toBe("deny");

      // Editors often write a temporary file and rename it over the original.
      await writeFile(join(dir, ".rules.yaml.tmp"), rules("allow"));
      await rename(join(dir, ".rules.yaml.tmp"), join(dir, "rules.yaml"));
      let next = await ev.next();
      while (next.kind === "reject") next = await ev.next(); // a half-written state may be seen first
      expect(store.current().policy.decide(action).effect).toBe("allow");
    } finally {
      controller.abort();
    }
  });

  test("a policy that fails to compile is rejected too, at the rule's file:line:column", async () => {
    const file = join(root, "single.yaml");
    await Bun.write(file, rules("allow"));
    const ev = events();
    const w = watchConfig(file, {
      onReload: (c, p) => ev.push({ kind: "reload", config: c, policy: p }),
      onReject: (error) => ev.push({ kind: "reject", error }),
    });
    try {
      await Bun.write(file, "rules:\n  - name: r\n    effect: allow\n    when: { timezone: Nowhere/City }\n");
      await w.reload();
      const e = await ev.next();
      expect(e.kind).toBe("reject");
      expect((e.error as GatewayError).code).toBe("E_POLICY_INVALID");
      expect((e.error as GatewayError).message).toBe(
        `${file}:2:5: rules[0]: rule "r": invalid timezone "Nowhere/City" (expected an IANA name such as UTC or Europe/Berlin)`,
      );
    } finally {
      w.close();
    }
  });

  test("reload() (as on SIGHUP) loads and hands over the whole new configuration", async () => {
    const file = join(root, "hup.yaml");
    await Bun.write(file, rules("deny"));
    const seen: string[] = [];
    const w = watchConfig(file, {
      debounceMs: 60_000, // only explicit reloads in this test
      onReload: (c, p) => {
        seen.push(`${c.rules[0]!.effect}:${p.hash === c.hash}`);
      },
      onReject: (e) => {
        seen.push(`reject:${String(e)}`);
      },
    });
    try {
      await w.reload();
      await Bun.write(file, rules("review\n    approvers: [sre]"));
      await w.reload();
      expect(seen).toEqual(["deny:true", "review:true"]);
    } finally {
      w.close();
    }
  });

  test("after close() nothing is reported", async () => {
    const file = join(root, "closed.yaml");
    await Bun.write(file, rules("deny"));
    const seen: string[] = [];
    const w = watchConfig(file, { onReload: () => void seen.push("reload"), onReject: () => void seen.push("reject") });
    w.close();
    await w.reload();
    expect(seen).toEqual([]);
  });
});

describe("createPolicyStore", () => {
  test("swap replaces the snapshot in one step and returns the old one", async () => {
    const file = join(root, "store.yaml");
    await Bun.write(file, rules("allow"));
    const a = await loadConfig(file);
    await Bun.write(file, rules("deny"));
    const b = await loadConfig(file);
    const store = createPolicyStore({ config: a, policy: compilePolicy(a) });
    const first = store.current();
    const old = store.swap({ config: b, policy: compilePolicy(b) });
    expect(old).toBe(first);
    expect(store.current().config).toBe(b);
    expect(Object.isFrozen(store.current())).toBe(true);
    expect(first.policy.decide(action).effect).toBe("allow");
    expect(store.current().policy.decide(action).effect).toBe("deny");
  });
});
