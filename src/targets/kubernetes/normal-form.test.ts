import { expect, test } from "bun:test";
import { inNormalForm } from "./kubernetes-target.ts";

test("request-targets a URL parser leaves alone pass; those it would rewrite are refused", () => {
  for (const ok of ["/api/v1/namespaces/staging/pods?limit=500", "/apis/apps/v1/namespaces/production/deployments/web", "/api/v1/namespaces/p/pods?fieldSelector=metadata.name%3Dweb&watch=true", "/version?timeout=32s", "/api/v1/namespaces/production%2F"]) {
    expect(inNormalForm(ok)).toBe(true);
  }
  for (const bad of ["/api/v1/namespaces/staging/../production/pods", "/api/./v1/pods", "/api\\v1\\pods", "//evil/api/v1/pods", "https://host/api/v1/pods", "api/v1/pods", "/api/v1/pods?", "/api/v1/namespaces/prоduction", "/api/v1/pods#x", "/api/v1/pods?a='b'"]) {
    expect(inNormalForm(bad)).toBe(false);
  }
});
