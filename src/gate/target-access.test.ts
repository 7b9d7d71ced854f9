import { expect, test } from "bun:test";
import type { Identity } from "../core/types.ts";
import { createMayUseTarget } from "./target-access.ts";

const ci = (claims: Record<string, unknown>): Identity => ({ method: "oidc", subject: "project_path:acme/app:ref_type:branch:ref:main", issuer: "https://gitlab.example", groups: ["ci"], claims });
const rules = [{ name: "protected-only", effect: "allow" as const, groups: ["ci"], claims: { ref_protected: true } }];
const everyTarget = () => true;

test(`a caller "may use the target" only when some allow or review rule's claims hold for them too`, () => {
  const mayUse = createMayUseTarget(() => rules, everyTarget);
  expect(mayUse(ci({ ref_protected: "true" }), "db")).toBe(true);
  expect(mayUse(ci({ ref_protected: "false" }), "db")).toBe(false);
  expect(mayUse(ci({}), "db")).toBe(false);
  expect(createMayUseTarget(() => [{ name: "any-ci", effect: "allow" as const, groups: ["ci"] }], everyTarget)(ci({}), "db")).toBe(true);
});

test("deny rules, other groups and other targets do not count", () => {
  const mayUse = createMayUseTarget(
    () => [
      { name: "no", effect: "deny" as const, groups: ["ci"] },
      { name: "ops-only", effect: "review" as const, groups: ["ops"] },
      { name: "elsewhere", effect: "allow" as const, groups: ["ci"] },
    ],
    (rule, target) => rule !== "elsewhere" || target === "other",
  );
  expect(mayUse(ci({}), "db")).toBe(false);
  expect(mayUse(ci({}), "other")).toBe(true);
  expect(mayUse({ ...ci({}), groups: ["ops"] }, "db")).toBe(true);
});
