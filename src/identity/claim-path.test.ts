import { describe, expect, test } from "bun:test";
import { claimAt, claimPathProblem, scalarText } from "./claim-path.ts";

const k8s = {
  aud: ["gatehouse"],
  sub: "system:serviceaccount:ops:agent",
  "kubernetes.io": { namespace: "ops", serviceaccount: { name: "agent", uid: "u-1" }, pod: { name: "agent-0" } },
};

describe("claim paths", () => {
  test("a dotted claim name is found as a whole, and nested paths go on from it", () => {
    expect(claimAt(k8s, "kubernetes.io.namespace")).toBe("ops");
    expect(claimAt(k8s, "kubernetes.io.serviceaccount.name")).toBe("agent");
    expect(claimAt(k8s, "kubernetes.io")).toEqual(k8s["kubernetes.io"]);
    expect(claimAt(k8s, "sub")).toBe("system:serviceaccount:ops:agent");
  });

  test("missing, through a scalar or a list, or an inherited property: nothing", () => {
    expect(claimAt(k8s, "kubernetes.io.nope")).toBeUndefined();
    expect(claimAt(k8s, "kubernetes")).toBeUndefined();
    expect(claimAt(k8s, "sub.length")).toBeUndefined();
    expect(claimAt(k8s, "aud.0")).toBeUndefined();
    expect(claimAt(k8s, "constructor")).toBeUndefined();
    expect(claimAt(k8s, "kubernetes.io.__proto__")).toBeUndefined();
    expect(claimAt(undefined, "sub")).toBeUndefined();
  });

  test("a path two keys could start (kubernetes and kubernetes.io) addresses nothing: never read two ways", () => {
    const both = { kubernetes: { io: { namespace: "prod" } }, "kubernetes.io": { namespace: "ops" } };
    expect(claimAt(both, "kubernetes.io.namespace")).toBeUndefined();
    const flatAndNested = { "a.b": "flat", a: { b: "nested" } };
    expect(claimAt(flatAndNested, "a.b")).toBeUndefined();
    // A path only one key fits is still found.
    expect(claimAt(both, "kubernetes.io")).toBeUndefined();
    expect(claimAt({ "a.b": "flat", a: { c: 1 } }, "a.c")).toBe(1);
  });

  test("a path with an empty segment is not a path", () => {
    expect(claimPathProblem("kubernetes.io.namespace")).toBeNull();
    expect(claimPathProblem("")).toBe("a claim path is empty");
    expect(claimPathProblem("a..b")).toContain("empty segment");
    expect(claimPathProblem(".a")).toContain("empty segment");
    expect(claimPathProblem("a.")).toContain("empty segment");
  });

  test("scalars as text: numbers and booleans as written, nothing else", () => {
    expect(scalarText("x")).toBe("x");
    expect(scalarText(42)).toBe("42");
    expect(scalarText(true)).toBe("true");
    expect(scalarText(false)).toBe("false");
    expect(scalarText(null)).toBeNull();
    expect(scalarText({})).toBeNull();
    expect(scalarText(["a"])).toBeNull();
    expect(scalarText(Number.NaN)).toBeNull();
  });
});
