// What the API server and its controllers add to an object: defaulting (as the real defaulters
// do for the fields kubectl prints), validation with the real field-error texts, and the status a
// running cluster would soon report (a pod Running and Ready, a deployment's replicas available),
// so `kubectl get`, `describe` and `rollout status` read a cluster that has settled.
import type { ResourceDef } from "./resources.ts";
import { errors } from "./status.ts";
import type { KubeObject } from "./store.ts";

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

export function nowRfc3339(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function randomSuffix(n: number): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

interface FieldError {
  type: string;
  field: string;
  detail: string;
}

/** Field errors of `obj` as validation would report them (a subset of the real checks). */
export function validate(def: ResourceDef, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name: unknown = obj.metadata?.name;
  if (typeof name !== "string" || name === "") errs.push({ type: "FieldValueRequired", field: "metadata.name", detail: "Required value: name or generateName is required" });
  else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) errs.push({ type: "FieldValueInvalid", field: "metadata.name", detail: `Invalid value: ${JSON.stringify(name)}: ${SUBDOMAIN_MSG}` });
  if (def.kind === "Pod") validatePodSpec(obj.spec, "spec", errs);
  if (def.kind === "Deployment") {
    const spec = obj.spec ?? {};
    if (!spec.selector) errs.push({ type: "FieldValueRequired", field: "spec.selector", detail: "Required value" });
    const tl = spec.template?.metadata?.labels ?? {};
    const ml: Record<string, string> = spec.selector?.matchLabels ?? {};
    if (spec.selector && !Object.entries(ml).every(([k, v]) => tl[k] === v)) {
      errs.push({ type: "FieldValueInvalid", field: "spec.template.metadata.labels", detail: `Invalid value: ${goMap(tl)}: \`selector\` does not match template \`labels\`` });
    }
    validatePodSpec(spec.template?.spec, "spec.template.spec", errs);
  }
  if (def.kind === "Service") {
    for (const [i, p] of (obj.spec?.ports ?? []).entries()) {
      if (typeof p.port !== "number" || p.port < 1 || p.port > 65535) errs.push({ type: "FieldValueInvalid", field: `spec.ports[${i}].port`, detail: `Invalid value: ${p.port}: must be between 1 and 65535, inclusive` });
    }
  }
  return errs;
}

function goMap(m: Record<string, string>): string {
  return `map[string]string{${Object.entries(m).map(([k, v]) => `"${k}":"${v}"`).join(", ")}}`;
}

function validatePodSpec(spec: KubeObject | undefined, path: string, errs: FieldError[]): void {
  const containers: KubeObject[] | undefined = spec?.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    errs.push({ type: "FieldValueRequired", field: `${path}.containers`, detail: "Required value" });
    return;
  }
  containers.forEach((c, i) => {
    if (!c.name) errs.push({ type: "FieldValueRequired", field: `${path}.containers[${i}].name`, detail: "Required value" });
    if (!c.image) errs.push({ type: "FieldValueRequired", field: `${path}.containers[${i}].image`, detail: "Required value" });
  });
}

/** Fills metadata a create gets: name from generateName, uid, creationTimestamp, generation. */
export function initMetadata(obj: KubeObject, now: Date): void {
  const md = obj.metadata;
  if (!md.name && md.generateName) md.name = `${md.generateName}${randomSuffix(5)}`;
  md.uid = crypto.randomUUID();
  md.creationTimestamp = nowRfc3339(now);
  delete md.resourceVersion;
  delete md.deletionTimestamp;
}

let ipCounter = 10;

function defaultContainer(c: KubeObject): void {
  const image = String(c.image ?? "");
  const tagged = /:[^/]+$/.test(image) && !image.endsWith(":latest");
  c.imagePullPolicy ??= tagged || image.includes("@") ? "IfNotPresent" : "Always";
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  c.resources ??= {};
  for (const p of c.ports ?? []) p.protocol ??= "TCP";
}

function defaultPodSpec(spec: KubeObject): void {
  for (const c of spec.containers ?? []) defaultContainer(c);
  spec.restartPolicy ??= "Always";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= "ClusterFirst";
  spec.serviceAccountName ??= "default";
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.securityContext ??= {};
  spec.schedulerName ??= "default-scheduler";
  spec.enableServiceLinks ??= true;
}

/**
 * Defaulting plus the status the controllers and kubelet would report once settled. Run on
 * create and on every write, so a changed deployment's status follows its spec at once.
 */
export function settle(def: ResourceDef, obj: KubeObject, now: Date, created: boolean): void {
  const ts = nowRfc3339(now);
  switch (def.kind) {
    case "Namespace": {
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), "kubernetes.io/metadata.name": obj.metadata.name };
      obj.spec ??= { finalizers: ["kubernetes"] };
      obj.status = obj.status?.phase ? obj.status : { phase: "Active" };
      break;
    }
    case "Pod": {
      obj.spec ??= {};
      defaultPodSpec(obj.spec);
      if (created) {
        obj.metadata.generation = 1;
        obj.spec.nodeName ??= "node-1";
        const ip = `10.244.0.${ipCounter++ % 250}`;
        obj.status = {
          phase: "Running",
          conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastProbeTime: null, lastTransitionTime: ts })),
          hostIP: "10.0.0.10",
          hostIPs: [{ ip: "10.0.0.10" }],
          podIP: ip,
          podIPs: [{ ip }],
          startTime: ts,
          qosClass: "BestEffort",
          containerStatuses: (obj.spec.containers ?? []).map((c: KubeObject) => ({
            name: c.name,
            state: { running: { startedAt: ts } },
            lastState: {},
            ready: true,
            restartCount: 0,
            image: c.image,
            imageID: `${c.image}@sha256:${"0".repeat(64)}`,
            containerID: `containerd://${crypto.randomUUID().replace(/-/g, "")}`,
            started: true,
          })),
        };
      }
      break;
    }
    case "Deployment": {
      const spec = (obj.spec ??= {});
      spec.replicas ??= 1;
      spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      if (spec.template?.spec) defaultPodSpec(spec.template.spec);
      obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), "deployment.kubernetes.io/revision": obj.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? "1" };
      const n = spec.replicas as number;
      obj.status = {
        observedGeneration: obj.metadata.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
        conditions: [
          { type: "Available", status: "True", lastUpdateTime: ts, lastTransitionTime: ts, reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." },
          { type: "Progressing", status: "True", lastUpdateTime: ts, lastTransitionTime: ts, reason: "NewReplicaSetAvailable", message: `ReplicaSet "${obj.metadata.name}-7d9f8c6b5d" has successfully progressed.` },
        ],
      };
      if (n === 0) {
        delete obj.status.readyReplicas;
        delete obj.status.availableReplicas;
      }
      break;
    }
    case "Service": {
      const spec = (obj.spec ??= {});
      spec.type ??= "ClusterIP";
      if (created && spec.clusterIP === undefined) {
        spec.clusterIP = `10.96.${Math.floor(ipCounter / 250)}.${ipCounter++ % 250}`;
        spec.clusterIPs = [spec.clusterIP];
      }
      spec.sessionAffinity ??= "None";
      spec.ipFamilies ??= ["IPv4"];
      spec.ipFamilyPolicy ??= "SingleStack";
      spec.internalTrafficPolicy ??= "Cluster";
      for (const p of spec.ports ?? []) {
        p.protocol ??= "TCP";
        p.targetPort ??= p.port;
      }
      obj.status ??= { loadBalancer: {} };
      break;
    }
    case "Secret": {
      if (!obj.type) obj.type = "Opaque";
      if (obj.stringData && typeof obj.stringData === "object") {
        obj.data ??= {};
        for (const [k, v] of Object.entries(obj.stringData as Record<string, string>)) obj.data[k] = Buffer.from(String(v)).toString("base64");
        delete obj.stringData;
      }
      break;
    }
    default:
      break;
  }
}

/** Throws the 422 Invalid Status when `obj` does not validate. */
export function requireValid(def: ResourceDef, obj: KubeObject): void {
  const errs = validate(def, obj);
  if (errs.length > 0) throw errors.invalid(def, String(obj.metadata?.name ?? ""), errs);
}
