// The meta.k8s.io/v1 Table the server prints when a client asks for
// `application/json;as=Table;v=v1;g=meta.k8s.io` (kubectl get does): the column definitions and
// cells of kube-apiserver's built-in printers for these kinds, ages as duration.HumanDuration
// writes them, and each row's object as PartialObjectMetadata unless includeObject says otherwise.
import type { ResourceDef } from "./resources.ts";
import type { KubeObject } from "./store.ts";

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const NAME_DOC = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DOC = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

function col(name: string, type: string, description: string, priority = 0, format = ""): ColumnDefinition {
  return { name, type, format, description, priority };
}

const NAME = col("Name", "string", NAME_DOC, 0, "name");
const AGE = col("Age", "string", AGE_DOC);

/** Go's duration.HumanDuration, as `kubectl get` shows AGE. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) {
    const dy = days % 365;
    return dy === 0 ? `${years}y` : `${years}y${dy}d`;
  }
  return `${years}y`;
}

function age(obj: KubeObject, now: number): string {
  const ts = obj.metadata?.creationTimestamp;
  return ts ? humanDuration(now - Date.parse(ts)) : "<unknown>";
}

function podStatus(pod: KubeObject): string {
  if (pod.metadata?.deletionTimestamp) return "Terminating";
  let reason: string = pod.status?.reason ?? pod.status?.phase ?? "Pending";
  for (const cs of pod.status?.containerStatuses ?? []) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state?.terminated) reason = cs.state.terminated.reason ?? (cs.state.terminated.signal ? `Signal:${cs.state.terminated.signal}` : `ExitCode:${cs.state.terminated.exitCode}`);
  }
  return reason;
}

function selectorString(sel: Record<string, string> | undefined): string {
  const e = Object.entries(sel ?? {});
  return e.length === 0 ? "<none>" : e.map(([k, v]) => `${k}=${v}`).join(",");
}

interface Printer {
  columns: ColumnDefinition[];
  cells(obj: KubeObject, now: number): unknown[];
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      NAME,
      col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
      col("Status", "string", "The aggregate status of the containers in this pod."),
      col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
      AGE,
      col("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
      col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
      col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.", 1),
      col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
    ],
    cells(pod, now) {
      const statuses: KubeObject[] = pod.status?.containerStatuses ?? [];
      const total = (pod.spec?.containers ?? []).length;
      const ready = statuses.filter((s) => s.ready).length;
      const restarts = statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
      return [pod.metadata.name, `${ready}/${total}`, podStatus(pod), String(restarts), age(pod, now), pod.status?.podIP || "<none>", pod.spec?.nodeName || "<none>", pod.status?.nominatedNodeName || "<none>", "<none>"];
    },
  },
  Deployment: {
    columns: [
      NAME,
      col("Ready", "string", "Number of the pod with ready state"),
      col("Up-to-date", "integer", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
      col("Available", "integer", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
      AGE,
      col("Containers", "string", "Names of each container in the template.", 1),
      col("Images", "string", "Images referenced by each container in the template.", 1),
      col("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", 1),
    ],
    cells(d, now) {
      const cs: KubeObject[] = d.spec?.template?.spec?.containers ?? [];
      return [
        d.metadata.name,
        `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
        d.status?.updatedReplicas ?? 0,
        d.status?.availableReplicas ?? 0,
        age(d, now),
        cs.map((c) => c.name).join(","),
        cs.map((c) => c.image).join(","),
        selectorString(d.spec?.selector?.matchLabels),
      ];
    },
  },
  Namespace: {
    columns: [NAME, col("Status", "string", "The status of the namespace"), AGE],
    cells: (ns, now) => [ns.metadata.name, ns.status?.phase ?? "Active", age(ns, now)],
  },
  ConfigMap: {
    columns: [NAME, col("Data", "integer", "Data contains the configuration data."), AGE],
    cells: (cm, now) => [cm.metadata.name, Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(cm, now)],
  },
  Secret: {
    columns: [NAME, col("Type", "string", "Used to facilitate programmatic handling of secret data."), col("Data", "integer", "Data contains the secret data."), AGE],
    cells: (s, now) => [s.metadata.name, s.type ?? "Opaque", Object.keys(s.data ?? {}).length, age(s, now)],
  },
  Service: {
    columns: [
      NAME,
      col("Type", "string", "type determines how the Service is exposed."),
      col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
      col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
      col("Port(s)", "string", "The list of ports that are exposed by this service."),
      AGE,
      col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", 1),
    ],
    cells(svc, now) {
      const ports = (svc.spec?.ports ?? []).map((p: KubeObject) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? "TCP"}` : `${p.port}/${p.protocol ?? "TCP"}`));
      const ext: string[] = svc.spec?.externalIPs ?? [];
      return [svc.metadata.name, svc.spec?.type ?? "ClusterIP", svc.spec?.clusterIP || "<none>", ext.length ? ext.join(",") : "<none>", ports.length ? ports.join(",") : "<none>", age(svc, now), selectorString(svc.spec?.selector)];
    },
  },
  Event: {
    columns: [
      col("Last Seen", "string", "Time when last this event was observed."),
      col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
      col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
      col("Object", "string", "The object that this event is about."),
      col("Message", "string", "A human-readable description of the status of this operation."),
    ],
    cells(ev, now) {
      const last = ev.lastTimestamp ?? ev.eventTime ?? ev.metadata?.creationTimestamp;
      const io = ev.involvedObject ?? {};
      return [last ? humanDuration(now - Date.parse(last)) : "<unknown>", ev.type ?? "", ev.reason ?? "", `${String(io.kind ?? "").toLowerCase()}/${io.name ?? ""}`, ev.message ?? ""];
    },
  },
};

/** The default printer of resources without their own: Name and Created At. */
const DEFAULT_PRINTER: Printer = {
  columns: [NAME, col("Created At", "date", AGE_DOC)],
  cells: (o) => [o.metadata?.name, o.metadata?.creationTimestamp],
};

export type IncludeObject = "None" | "Metadata" | "Object";

function rowObject(def: ResourceDef, obj: KubeObject, include: IncludeObject): KubeObject | undefined {
  if (include === "None") return undefined;
  if (include === "Object") return obj;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

/** A Table of `objects` (a list, or one object for a get or a watch event). */
export function toTable(def: ResourceDef, objects: KubeObject[], resourceVersion: string | undefined, include: IncludeObject, now = Date.now(), withColumns = true): KubeObject {
  const printer = PRINTERS[def.kind] ?? DEFAULT_PRINTER;
  const table: KubeObject = { kind: "Table", apiVersion: "meta.k8s.io/v1", metadata: resourceVersion ? { resourceVersion } : {} };
  table.columnDefinitions = withColumns ? printer.columns : null;
  table.rows = objects.map((o) => {
    const row: KubeObject = { cells: printer.cells(o, now) };
    const ro = rowObject(def, o, include);
    if (ro) row.object = ro;
    return row;
  });
  return table;
}
