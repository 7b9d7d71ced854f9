// Differential check: the API server's own RequestInfo test table (request-info-upstream-cases.ts)
// through classifyRequest. Every row the server reads as a resource request must give the same
// verb, group, version, namespace, resource, subresource and name; every non-resource row must
// be non-resource here too; a row marked refused must be refused (and only those).
import { describe, expect, test } from "bun:test";
import { classifyRequest } from "./request-info.ts";
import { UPSTREAM_CASES } from "./request-info-upstream-cases.ts";

describe("RequestInfo's own test table", () => {
  test("has the rows of the three upstream tests", () => {
    expect(UPSTREAM_CASES.length).toBeGreaterThanOrEqual(50);
  });
  for (const c of UPSTREAM_CASES) {
    test(`${c.method} ${c.url || '""'}`, () => {
      // The table has no Content-Type; a PATCH needs one (any accepted patch type reads the same).
      const got = classifyRequest(c.method, c.url, c.method === "PATCH" ? { contentType: "application/merge-patch+json" } : {});
      if (c.refused !== undefined) {
        expect(got.ok).toBe(false);
        return;
      }
      if (!got.ok) throw new Error(`refused: ${got.reason}`);
      if (c.upstream === "non-resource") {
        expect(got.resourceRequest).toBe(false);
        expect(got.facts.verb).toBe(c.method.toLowerCase());
        expect(got.facts.path).toBe(c.url);
        return;
      }
      expect(got.resourceRequest).toBe(true);
      const f = got.facts;
      expect({
        verb: f.verb,
        group: f.apiGroup ?? "",
        version: f.apiVersion ?? "",
        namespace: f.namespace ?? "",
        resource: f.resource,
        subresource: f.subresource ?? "",
        name: f.name ?? "",
      }).toEqual(c.upstream);
    });
  }
});
