// decide() with 1,000 rules: median and p99 time per decision. Run: bun bench/decide-bench.ts
// Rules are a realistic mix (most do not match a given request): per-service rules with group,
// method and path globs, team-wide globs over target names, global deny and review rules,
// time windows, and rules for another kind. Timing is taken per batch of decisions with
// Bun.nanoseconds, since one decision is far below the timer's useful resolution.
import { loadConfigFromSources } from "../src/config/load.ts";
import type { Action } from "../src/core/types.ts";
import { compilePolicy } from "../src/policy/compile.ts";

const RULES = 1000;
const TARGETS = 100;
const BATCH = 100;
const BATCHES = 3000;

// A small deterministic generator, so that every run measures the same policy and traffic.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const svc = (i: number) => `svc-${String(i).padStart(3, "0")}`;

function policyYaml(): string {
  const lines: string[] = ["targets:"];
  for (let i = 0; i < TARGETS; i++) {
    lines.push(`  - { name: ${svc(i)}, kind: http, listen: "127.0.0.1:${10000 + i}", upstream: "http://127.0.0.1:${20000 + i}" }`);
  }
  lines.push("rules:");
  for (let r = 0; r < RULES; r++) {
    const kind = r % 10;
    const team = `team-${r % 40}`;
    const v = `v${r % 7}`;
    if (kind < 4) {
      lines.push(`  - { name: r${r}, groups: [${team}], targets: [${svc(r % TARGETS)}], http: { methods: [GET, HEAD], paths: ["/api/${v}/**"] }, effect: allow, mask: { detectors: [email] } }`);
    } else if (kind < 6) {
      lines.push(`  - { name: r${r}, groups: [${team}, ops], targets: ["svc-0${r % 10}*"], http: { methods: [POST], paths: ["/api/${v}/*/items", "/api/${v}/orders/*"] }, effect: allow }`);
    } else if (kind === 6) {
      lines.push(`  - { name: r${r}, groups: [rare-${r}], http: { paths: ["/internal/${r}/**"] }, effect: allow, when: { timezone: Europe/Berlin, days: [mon-fri], hours: "09:00-17:00" } }`);
    } else if (kind === 7) {
      lines.push(`  - { name: r${r}, targets: [${svc(r % TARGETS)}], http: { methods: [DELETE], paths: ["/admin/${r}/**"] }, effect: deny }`);
    } else if (kind === 8) {
      lines.push(`  - { name: r${r}, groups: [${team}], targets: ["svc-${String(r % 100).padStart(2, "0")}*"], http: { methods: [PUT], paths: ["/api/**/config"] }, effect: review, approvers: [leads] }`);
    } else {
      lines.push(`  - { name: r${r}, groups: [${team}], postgres: { classes: [read], tables: ["sales.*"] }, effect: allow }`);
    }
  }
  return `${lines.join("\n")}\n`;
}

// Traffic: 40% callers using their own service as granted, 10% time-boxed internal access
// (the Berlin office-hours rules), 5% changes held for review, 5% deletes that a deny rule
// catches, 40% anything at all
// (mostly refused). Times spread over a working day, so time windows see many minutes.
function actions(n: number): Action[] {
  const out: Action[] = [];
  const paths = ["/api/v1/orders/17", "/api/v3/abc/items", "/api/v2/x/y/config", "/admin/7/users", "/health", "/api/v5/items/42?x=1"];
  const methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
  const t0 = Date.parse("2026-03-02T06:00:00Z");
  for (let i = 0; i < n; i++) {
    const groups = [`team-${Math.floor(rand() * 40)}`, "developers"];
    let target = Math.floor(rand() * TARGETS);
    let method = pick(methods);
    let path = pick(paths);
    const roll = rand();
    if (roll < 0.4) {
      // Rule r = target + 100k with r % 10 < 4 grants GET on /api/v{r % 7}/** to team-{r % 40}.
      target = Math.floor(rand() * 10) * 10 + Math.floor(rand() * 4);
      const r = target + 100 * Math.floor(rand() * 10);
      groups.push(`team-${r % 40}`);
      method = "GET";
      path = `/api/v${r % 7}/orders/${i}`;
    } else if (roll < 0.5) {
      const r = Math.floor(rand() * 100) * 10 + 6;
      groups.push(`rare-${r}`);
      path = `/internal/${r}/status`;
    } else if (roll < 0.55) {
      // Rules r = 8 + 100k hold PUT …/config on svc-080…089 for review by leads.
      const r = 8 + 100 * Math.floor(rand() * 10);
      target = 80 + Math.floor(rand() * 10);
      groups.push(`team-${r % 40}`);
      method = "PUT";
      path = "/api/v1/x/config";
    } else if (roll < 0.6) {
      const r = Math.floor(rand() * 100) * 10 + 7;
      target = r % TARGETS;
      method = "DELETE";
      path = `/admin/${r}/users/1`;
    }
    out.push({
      identity: { method: "oidc", subject: `user${i % 50}`, issuer: "https://idp.example", groups },
      target: svc(target),
      request: { kind: "http", method, path },
      time: t0 + Math.floor(rand() * 14 * 3_600_000),
    });
  }
  return out;
}

const config = await loadConfigFromSources([{ file: "bench.yaml", text: policyYaml() }], { baseDir: "/tmp", env: {} });
const policy = compilePolicy(config);
// The same policy without the HTTP decision cache (policy/decision-cache.ts), for comparison.
const uncached = compilePolicy(config, { cacheDecisions: false });
const traffic = actions(BATCH * 100);
// The worst case for the cache: every decision a shape it has not seen (a new subject each time).
const fresh = Array.from({ length: BATCHES * BATCH }, (_, i) => {
  const a = traffic[i % traffic.length]!;
  return { ...a, identity: { ...a.identity, subject: `new-${i}` } };
});

const effects: Record<string, number> = { allow: 0, deny: 0, review: 0 };
for (const a of traffic) effects[policy.decide(a).effect]!++;

let sink = 0;
/** Median, p99 and max ns per decision over BATCHES batches of BATCH, after a warm-up. */
function measure(decide: (a: Action) => { message: string }, list: readonly Action[], warm: boolean): { q: (p: number) => number } {
  // Warm up: JIT and the per-target index.
  if (warm) for (let i = 0; i < 20; i++) for (const a of traffic) sink += decide(a).message.length;
  const perDecision: number[] = [];
  let k = 0;
  for (let b = 0; b < BATCHES; b++) {
    const start = Bun.nanoseconds();
    for (let i = 0; i < BATCH; i++) {
      sink += decide(list[k]!).message.length;
      k = (k + 1) % list.length;
    }
    perDecision.push((Bun.nanoseconds() - start) / BATCH);
  }
  perDecision.sort((a, b) => a - b);
  return { q: (p: number) => perDecision[Math.min(perDecision.length - 1, Math.floor(p * perDecision.length))]! };
}
const line = (name: string, m: { q: (p: number) => number }) =>
  console.log(`${name} (${BATCHES} batches of ${BATCH}): median ${(m.q(0.5) / 1000).toFixed(3)} µs, p99 ${(m.q(0.99) / 1000).toFixed(3)} µs, max ${(m.q(1) / 1000).toFixed(3)} µs`);

const plain = measure(uncached.decide, traffic, true);
const cached = measure(policy.decide, traffic, true);
const misses = measure(policy.decide, fresh, false);
console.log(`decide(): ${config.rules.length} rules, ${config.targets.length} targets, ${traffic.length} distinct actions`);
console.log(`effects over the traffic: allow ${effects.allow}, deny ${effects.deny}, review ${effects.review}`);
line("per decision, no cache", plain);
line("per decision, with the HTTP decision cache, the same actions again", cached);
line("per decision, with the cache, every action new (misses only)", misses);
console.log(`goal: median <= 2 µs -> ${plain.q(0.5) <= 2000 && cached.q(0.5) <= 2000 && misses.q(0.5) <= 2000 ? "met" : "MISSED"}`);
if (sink === 0) console.log("(sink)");
