import { describe, expect, test } from "bun:test";
import type { Action, Decision } from "../../core/types.ts";
import { NO_MASKS } from "../../core/types.ts";
import { DEFAULT_DENY } from "../../policy/decide.ts";
import { classifyRequest } from "./request-info.ts";
import { isDiscoveryPath, kubernetesBuiltins } from "./builtins.ts";

const action = (method: string, target: string, groups: string[] = ["dev"]): Action => {
  const r = classifyRequest(method, target);
  if (!r.ok) throw new Error(r.reason);
  return { identity: { method: "dev", subject: "a", issuer: "t", groups }, target: "k8s", request: r.facts, time: 0 };
};

describe("builtin:discovery", () => {
  const adjust = kubernetesBuiltins({ mayUseTarget: (id) => id.groups.includes("dev") });
  test("discovery and health are allowed to users of the target where no rule decided", () => {
    for (const p of ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/version", "/openapi/v2", "/openapi/v3", "/openapi/v3/apis/apps/v1", "/healthz", "/readyz/etcd", "/livez"]) {
      expect(adjust(DEFAULT_DENY, action("GET", `${p}?timeout=32s`)).rule).toBe("builtin:discovery");
      expect(isDiscoveryPath(p)).toBe(true);
    }
    expect(adjust(DEFAULT_DENY, action("HEAD", "/version")).effect).toBe("allow");
  });
  test("not to strangers, not for other paths or methods, never over a rule's deny, never for resources", () => {
    expect(adjust(DEFAULT_DENY, action("GET", "/api", ["other"]))).toBe(DEFAULT_DENY);
    for (const p of ["/metrics", "/logs", "/logs/syslog", "/debug/pprof", "/", "/api/v1/x/y/z/../"]) if (classifyRequest("GET", p).ok) expect(adjust(DEFAULT_DENY, action("GET", p))).toBe(DEFAULT_DENY);
    expect(adjust(DEFAULT_DENY, action("POST", "/apis"))).toBe(DEFAULT_DENY);
    const ruleDeny: Decision = { effect: "deny", rule: "no-discovery", message: "no", masks: NO_MASKS };
    expect(adjust(ruleDeny, action("GET", "/api"))).toBe(ruleDeny);
    expect(adjust(DEFAULT_DENY, action("GET", "/api/v1/pods"))).toBe(DEFAULT_DENY);
  });
});
