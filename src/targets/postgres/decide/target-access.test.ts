import { expect, test } from "bun:test";
import type { Identity } from "../../../core/types.ts";
import { createMayUseTarget as kubernetesMayUse } from "../../kubernetes/builtins.ts";
import { createMayUseTarget } from "./target-access.ts";

const ci = (claims: Record<string, unknown>): Identity => ({ method: "oidc", subject: "project_path:acme/app:ref_type:branch:ref:main", issuer: "https://gitlab.example", groups: ["ci"], claims });
const rules = [{ name: "protected-only", effect: "allow" as const, groups: ["ci"], claims: { ref_protected: true } }];
const everyTarget = () => true;

for (const [kind, create] of [
  ["postgres", createMayUseTarget],
  ["kubernetes", kubernetesMayUse],
] as const) {
  test(`${kind}: a caller "may use the target" only when some allow or review rule's claims hold for them too`, () => {
    const mayUse = create(() => rules, everyTarget);
    expect(mayUse(ci({ ref_protected: "true" }), "db")).toBe(true);
    expect(mayUse(ci({ ref_protected: "false" }), "db")).toBe(false);
    expect(mayUse(ci({}), "db")).toBe(false);
    expect(create(() => [{ name: "any-ci", effect: "allow" as const, groups: ["ci"] }], everyTarget)(ci({}), "db")).toBe(true);
  });
}
