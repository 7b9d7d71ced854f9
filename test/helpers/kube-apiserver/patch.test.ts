// The patch subset the stand-in applies, on the cases kubectl produces: strategic merge by merge
// key with its directives, JSON merge patch nulls, JSON Patch operations and their failures.
import { describe, expect, test } from "bun:test";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.ts";
import { ApiError } from "./status.ts";

const pod = () => ({
  metadata: { name: "p", labels: { a: "1" }, finalizers: ["x"] },
  spec: {
    containers: [
      { name: "app", image: "nginx:1", env: [{ name: "A", value: "1" }, { name: "B", value: "2" }], ports: [{ containerPort: 80 }] },
      { name: "side", image: "busybox" },
    ],
  },
});

describe("strategic merge patch", () => {
  test("lists with a merge key merge element by element; others are replaced", () => {
    const out = applyStrategicMergePatch(pod(), { spec: { containers: [{ name: "app", image: "nginx:2", env: [{ name: "B", value: "3" }] }] } }, "Pod");
    expect(out.spec.containers).toEqual([
      { name: "app", image: "nginx:2", env: [{ name: "A", value: "1" }, { name: "B", value: "3" }], ports: [{ containerPort: 80 }] },
      { name: "side", image: "busybox" },
    ]);
  });

  test("$patch: delete removes one element, null removes a field, $setElementOrder orders", () => {
    const out = applyStrategicMergePatch(
      pod(),
      {
        metadata: { labels: { a: null, b: "2" } },
        spec: { "$setElementOrder/containers": [{ name: "side" }, { name: "app" }], containers: [{ name: "app", $patch: "delete" }, { name: "side", image: "busybox:2" }] },
      },
      "Pod",
    );
    expect(out.metadata.labels).toEqual({ b: "2" });
    expect(out.spec.containers).toEqual([{ name: "side", image: "busybox:2" }]);
    const ordered = applyStrategicMergePatch(pod(), { spec: { "$setElementOrder/containers": [{ name: "side" }, { name: "app" }] } }, "Pod");
    expect(ordered.spec.containers.map((c: { name: string }) => c.name)).toEqual(["side", "app"]);
  });

  test("$retainKeys clears the fields not listed; $deleteFromPrimitiveList and merged finalizers", () => {
    const d = { spec: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } } }, metadata: { finalizers: ["a", "b"] } };
    const out = applyStrategicMergePatch(d, { spec: { strategy: { $retainKeys: ["type"], type: "Recreate", rollingUpdate: null } }, metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } }, "Deployment");
    expect(out.spec.strategy).toEqual({ type: "Recreate" });
    expect(out.metadata.finalizers).toEqual(["b"]);
    expect(applyStrategicMergePatch(d, { metadata: { finalizers: ["c"] } }, "Deployment").metadata.finalizers).toEqual(["a", "b", "c"]);
  });

  test("a Service's ports merge by port, a container's by containerPort", () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }] } };
    const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, "Service");
    expect(out.spec.ports).toEqual([{ port: 80, targetPort: 9090 }, { port: 443, targetPort: 8443 }]);
  });
});

describe("JSON merge patch and JSON Patch", () => {
  test("merge patch: null deletes, objects merge, arrays replace", () => {
    expect(applyMergePatch(pod(), { metadata: { labels: null }, spec: { containers: [] } })).toEqual({ metadata: { name: "p", finalizers: ["x"] }, spec: { containers: [] } });
  });

  test("JSON Patch add, replace, remove, move, copy, test", () => {
    const out = applyJsonPatch(pod(), [
      { op: "add", path: "/metadata/labels/b", value: "2" },
      { op: "replace", path: "/spec/containers/0/image", value: "nginx:3" },
      { op: "remove", path: "/spec/containers/1" },
      { op: "copy", from: "/metadata/labels/a", path: "/metadata/labels/c" },
      { op: "move", from: "/metadata/labels/b", path: "/metadata/labels/d" },
      { op: "add", path: "/metadata/finalizers/-", value: "y" },
      { op: "test", path: "/metadata/name", value: "p" },
    ]);
    expect(out.metadata.labels).toEqual({ a: "1", c: "1", d: "2" });
    expect(out.metadata.finalizers).toEqual(["x", "y"]);
    expect(out.spec.containers.map((c: { image: string }) => c.image)).toEqual(["nginx:3"]);
  });

  test("a failing test op or a missing path is an error Status, the object untouched", () => {
    const p = pod();
    expect(() => applyJsonPatch(p, [{ op: "test", path: "/metadata/name", value: "q" }])).toThrow(ApiError);
    expect(() => applyJsonPatch(p, [{ op: "replace", path: "/nope/x", value: 1 }])).toThrow(ApiError);
    expect(p.metadata.name).toBe("p");
  });
});
