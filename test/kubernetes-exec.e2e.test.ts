// exec before the WebSocket relay exists: decided and audited like any request; allowed, it is
// answered 501 (WebSocket) and refused with a message naming kubectl's setting (SPDY, which
// kubectl falls back to); held in production, kubectl shows the pending approval.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;

beforeAll(async () => {
  k = await startKubeSetup();
  k.api.addPod("staging", "web", { containers: ["app"] });
  k.api.addPod("production", "web", { containers: ["app"] });
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

test("kubectl exec in staging: decided (allowed, audited), then refused with the setting to check; no upgrade reaches the cluster", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["exec", "web", "-n", "staging", "--", "echo", "hi"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("SPDY upgrades");
  expect(r.stderr).toContain("KUBECTL_REMOTE_COMMAND_WEBSOCKETS");
  expect(k.api.requests.slice(before).some((x) => x.upgrade !== "")).toBe(false);
  const records = await auditRecordsWhen(k.gw.auditPath, (all) => all.some((x) => x.type === "request" && (x.details as { status?: number })?.status === 501), "the 501 of the WebSocket exec");
  const decision = records.find((x) => x.type === "decision" && (x.action as { subresource?: string })?.subresource === "exec");
  expect(decision?.decision).toMatchObject({ effect: "allow", rule: "developers-write-staging" });
  expect((decision?.action as { command?: string[] }).command).toEqual(["echo", "hi"]);
}, 60_000);

test("kubectl exec in production: kubectl shows the pending approval and the approver's command", async () => {
  const r = await k.kubectl(["exec", "web", "-n", "production", "--", "sh"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Forbidden");
  expect(r.stderr).toMatch(/gatehouse approve apr_[0-9a-f]+/);
}, 60_000);
