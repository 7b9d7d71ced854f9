// The REST verbs on stored resources: get, list, create, update, patch (four patch types),
// delete, deletecollection, the status and scale subresources and SelfSubjectAccessReview, with
// dryRun=All, resourceVersion preconditions and the answers (codes, bodies) of the real registry.
import { parse as parseYaml } from "yaml";
import { initMetadata, requireValid, settle, nowRfc3339 } from "./objects.ts";
import { PATCH_TYPES, applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.ts";
import { apiVersionOf, findResource } from "./resources.ts";
import type { ResourceDef } from "./resources.ts";
import { fieldMatcher, labelMatcher } from "./selectors.ts";
import { ApiError, deleteSuccess, errors } from "./status.ts";
import { clone } from "./store.ts";
import type { KubeObject, ObjectStore } from "./store.ts";

export interface RestTarget {
  readonly def: ResourceDef;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  readonly query: URLSearchParams;
}

export interface RestReply {
  readonly status: number;
  readonly body: KubeObject;
  /** The objects a Table answer prints (a list's items, or the one object). */
  readonly tableRows?: KubeObject[];
}

export interface RestDeps {
  readonly store: ObjectStore;
  readonly now: () => Date;
  /** SelfSubjectAccessReview answers (default: allowed). */
  readonly accessReview: (spec: KubeObject) => { allowed: boolean; reason?: string; denied?: boolean };
  /** Called after a pod is deleted (ends its processes and log streams). */
  readonly onPodDeleted: (namespace: string, name: string) => void;
}

const NAMESPACES = findResource("", "v1", "namespaces")!;

/** The body of a request as JSON, from JSON or YAML. */
export function parseBody(text: string, contentType: string): unknown {
  if (text.trim() === "") throw errors.badRequest("the server rejected our request due to an error in our request: request body is empty");
  const yaml = /yaml/i.test(contentType);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    const what = e instanceof Error ? e.message : String(e);
    throw errors.badRequest(`the server rejected our request due to an error in our request: ${yaml ? "error converting YAML to JSON" : "couldn't get version/kind; json parse error"}: ${what}`);
  }
}

function asObject(v: unknown): KubeObject {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw errors.badRequest("the server rejected our request due to an error in our request: the body must be a JSON object");
  return v as KubeObject;
}

function isDryRun(q: URLSearchParams): boolean {
  const d = q.getAll("dryRun");
  for (const v of d) if (v !== "All") throw errors.badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
  return d.length > 0;
}

function withType(def: ResourceDef, obj: KubeObject): KubeObject {
  return { apiVersion: apiVersionOf(def), kind: def.kind, ...obj };
}

function checkNamespace(deps: RestDeps, t: RestTarget): void {
  if (!t.def.namespaced || t.namespace === undefined) return;
  if (!deps.store.get(NAMESPACES, "", t.namespace)) throw errors.notFound(NAMESPACES, t.namespace);
}

function managedField(manager: string, operation: "Update" | "Apply", def: ResourceDef, now: Date, sub?: string): KubeObject {
  const f: KubeObject = { manager, operation, apiVersion: apiVersionOf(def), time: nowRfc3339(now), fieldsType: "FieldsV1", fieldsV1: {} };
  if (sub) f.subresource = sub;
  return f;
}

function recordManager(obj: KubeObject, entry: KubeObject): void {
  const list: KubeObject[] = (obj.metadata.managedFields ??= []);
  const i = list.findIndex((m) => m.manager === entry.manager && m.operation === entry.operation && (m.subresource ?? "") === (entry.subresource ?? ""));
  if (i >= 0) list[i] = entry;
  else list.push(entry);
}

function defaultManager(q: URLSearchParams, userAgent: string): string {
  return q.get("fieldManager") ?? (userAgent.split("/")[0] || "unknown");
}

/**
 * A list, in pages when `limit` is given: metadata.continue names the next page and
 * remainingItemCount what is left, as the API server answers kubectl's limit=500. A continue
 * token whose resourceVersion has left the watch history is 410 Expired, like etcd compaction.
 */
export function list(deps: RestDeps, t: RestTarget): RestReply {
  const lm = labelMatcher(t.query.get("labelSelector"));
  const fm = fieldMatcher(t.query.get("fieldSelector"));
  let items = deps.store.list(t.def, t.namespace).filter((o) => lm(o) && fm(o));
  let rv = String(deps.store.resourceVersion);
  const metadata: KubeObject = {};
  const cont = t.query.get("continue");
  let start = 0;
  if (cont) {
    let token: { rv?: string; start?: number };
    try {
      token = JSON.parse(Buffer.from(cont, "base64url").toString("utf8"));
    } catch {
      throw errors.badRequest("continue key is not valid: illegal base64 data");
    }
    if (Number(token.rv) < deps.store.oldestResumable) {
      throw new ApiError({ ...errors.badRequest("").status, message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.", reason: "Expired", code: 410 });
    }
    rv = String(token.rv);
    start = Number(token.start ?? 0);
  }
  const limit = Number(t.query.get("limit") ?? "0");
  if (limit > 0 && items.length - start > limit) {
    metadata.continue = Buffer.from(JSON.stringify({ rv, start: start + limit })).toString("base64url");
    metadata.remainingItemCount = items.length - start - limit;
    items = items.slice(start, start + limit);
  } else items = items.slice(start);
  metadata.resourceVersion = rv;
  const body = { kind: `${t.def.kind}List`, apiVersion: apiVersionOf(t.def), metadata: { resourceVersion: rv, ...metadata }, items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) };
  return { status: 200, body, tableRows: items };
}

function existing(deps: RestDeps, t: RestTarget): KubeObject {
  const o = deps.store.get(t.def, t.namespace ?? "", t.name ?? "");
  if (!o) throw errors.notFound(t.def, t.name ?? "");
  return o;
}

export function get(deps: RestDeps, t: RestTarget): RestReply {
  const o = existing(deps, t);
  return { status: 200, body: o, tableRows: [o] };
}

export function create(deps: RestDeps, t: RestTarget, raw: unknown, userAgent: string): RestReply {
  if (t.def.resource === "selfsubjectaccessreviews") return accessReview(deps, t, raw);
  if (t.def.resource === "selfsubjectrulesreviews") return rulesReview(t, raw);
  const obj = asObject(raw);
  if (!obj.kind) throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(obj)}'`);
  if (obj.kind !== t.def.kind || (obj.apiVersion ?? apiVersionOf(t.def)) !== apiVersionOf(t.def)) {
    throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(t.def)})`);
  }
  obj.metadata = asObject(obj.metadata ?? {});
  if (t.def.namespaced) {
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== "" && obj.metadata.namespace !== t.namespace) {
      throw errors.badRequest("the namespace of the provided object does not match the namespace sent on the request");
    }
    obj.metadata.namespace = t.namespace;
  } else delete obj.metadata.namespace;
  const dry = isDryRun(t.query);
  const now = deps.now();
  initMetadata(obj, now);
  requireValid(t.def, obj);
  checkNamespace(deps, t);
  if (deps.store.get(t.def, t.namespace ?? "", obj.metadata.name)) throw errors.alreadyExists(t.def, obj.metadata.name);
  if (t.def.kind === "Deployment") obj.metadata.generation = 1;
  recordManager(obj, managedField(defaultManager(t.query, userAgent), "Update", t.def, now));
  settle(t.def, obj, now, true);
  const out = withType(t.def, obj);
  if (dry) return { status: 201, body: out, tableRows: [out] };
  const stored = deps.store.put(t.def, out, "ADDED");
  return { status: 201, body: stored, tableRows: [stored] };
}

function accessReview(deps: RestDeps, t: RestTarget, raw: unknown): RestReply {
  const obj = asObject(raw);
  const spec = asObject(obj.spec ?? {});
  if (!spec.resourceAttributes && !spec.nonResourceAttributes) {
    throw errors.invalid(t.def, "", [{ type: "FieldValueRequired", field: "spec.resourceAttributes", detail: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified" }]);
  }
  const verdict = deps.accessReview(spec);
  const status: KubeObject = { allowed: verdict.allowed };
  if (verdict.denied) status.denied = true;
  if (verdict.reason) status.reason = verdict.reason;
  return { status: 201, body: { kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1", metadata: { creationTimestamp: null }, spec, status } };
}

/** Every rule allowed: the token this server accepts stands for a cluster administrator. */
function rulesReview(t: RestTarget, raw: unknown): RestReply {
  const spec = asObject(asObject(raw).spec ?? {});
  if (!spec.namespace) throw errors.invalid(t.def, "", [{ type: "FieldValueRequired", field: "spec.namespace", detail: "Required value" }]);
  return {
    status: 201,
    body: {
      kind: "SelfSubjectRulesReview",
      apiVersion: "authorization.k8s.io/v1",
      metadata: { creationTimestamp: null },
      spec,
      status: {
        resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
        nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
        incomplete: false,
      },
    },
  };
}

/** Writes `next` over `prev` as an update: immutable metadata kept, conflicts and validation checked. */
function commitUpdate(deps: RestDeps, t: RestTarget, prev: KubeObject, next: KubeObject, manager: KubeObject): RestReply {
  const def = t.def;
  next.metadata = asObject(next.metadata ?? {});
  if (next.metadata.name !== undefined && next.metadata.name !== prev.metadata.name) {
    throw errors.badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${prev.metadata.name})`);
  }
  if (def.namespaced && next.metadata.namespace !== undefined && next.metadata.namespace !== "" && next.metadata.namespace !== prev.metadata.namespace) {
    throw errors.badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  const rv = next.metadata.resourceVersion;
  if (rv !== undefined && rv !== "" && rv !== prev.metadata.resourceVersion) throw errors.conflict(def, prev.metadata.name);
  next.metadata = { ...next.metadata, name: prev.metadata.name, uid: prev.metadata.uid, creationTimestamp: prev.metadata.creationTimestamp, resourceVersion: prev.metadata.resourceVersion };
  if (def.namespaced) next.metadata.namespace = prev.metadata.namespace;
  next.apiVersion = apiVersionOf(def);
  next.kind = def.kind;
  if (prev.metadata.generation !== undefined) {
    next.metadata.generation = JSON.stringify(next.spec) === JSON.stringify(prev.spec) ? prev.metadata.generation : prev.metadata.generation + 1;
  }
  if (def.kind === "Pod") next.status = prev.status; // status is written through pods/status only
  if (def.kind === "Deployment" && next.metadata.generation !== prev.metadata.generation && JSON.stringify(next.spec?.template) !== JSON.stringify(prev.spec?.template)) {
    const rev = Number(prev.metadata.annotations?.["deployment.kubernetes.io/revision"] ?? "1") + 1;
    next.metadata.annotations = { ...(next.metadata.annotations ?? {}), "deployment.kubernetes.io/revision": String(rev) };
  }
  requireValid(def, next);
  const now = deps.now();
  recordManager(next, { ...manager, time: nowRfc3339(now) });
  settle(def, next, now, false);
  if (isDryRun(t.query)) return { status: 200, body: next, tableRows: [next] };
  const stored = deps.store.put(def, next, "MODIFIED");
  return { status: 200, body: stored, tableRows: [stored] };
}

export function update(deps: RestDeps, t: RestTarget, raw: unknown, userAgent: string): RestReply {
  const next = asObject(raw);
  const prev = existing(deps, t);
  if (t.subresource === "status") return commitUpdate(deps, t, prev, { ...prev, status: next.status, metadata: { ...prev.metadata, resourceVersion: next.metadata?.resourceVersion } }, managedField(defaultManager(t.query, userAgent), "Update", t.def, deps.now(), "status"));
  if (t.subresource === "scale") return writeScale(deps, t, prev, next, userAgent);
  if (t.subresource === "ephemeralcontainers") return writeEphemeral(deps, t, prev, next, managedField(defaultManager(t.query, userAgent), "Update", t.def, deps.now(), "ephemeralcontainers"));
  if (next.kind !== undefined && next.kind !== t.def.kind) throw errors.badRequest(`the API version in the data (${next.apiVersion}) does not match the expected API version (${apiVersionOf(t.def)})`);
  return commitUpdate(deps, t, prev, next, managedField(defaultManager(t.query, userAgent), "Update", t.def, deps.now()));
}

export function patch(deps: RestDeps, t: RestTarget, text: string, contentType: string, userAgent: string): RestReply {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  const isApply = type === PATCH_TYPES.apply;
  if (![PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.strategic, PATCH_TYPES.apply].includes(type as never)) throw errors.unsupportedMediaType(contentType);
  if (isApply && !t.query.get("fieldManager")) {
    throw errors.invalid({ ...t.def, kind: "PatchOptions", group: "meta.k8s.io" }, "", [{ type: "FieldValueRequired", field: "fieldManager", detail: "Required value: is required for apply patch" }]);
  }
  const body = parseBody(text, isApply ? "yaml" : "json");
  const found = deps.store.get(t.def, t.namespace ?? "", t.name ?? "");
  if (!found) {
    if (!isApply || t.subresource) throw errors.notFound(t.def, t.name ?? "");
    const obj = asObject(body);
    if ((obj.metadata?.name ?? t.name) !== t.name) throw errors.badRequest(`the name of the object (${obj.metadata?.name}) does not match the name on the URL (${t.name})`);
    const created = create(deps, t, { ...obj, metadata: { ...(obj.metadata ?? {}), name: t.name } }, userAgent);
    const m = created.body.metadata;
    m.managedFields = [managedField(t.query.get("fieldManager")!, "Apply", t.def, deps.now())];
    if (!isDryRun(t.query)) return { ...created, body: deps.store.put(t.def, created.body, "MODIFIED") };
    return created;
  }
  const base = t.subresource === "scale" ? scaleOf(t.def, found) : found;
  let next: KubeObject;
  if (type === PATCH_TYPES.json) next = applyJsonPatch(base, body);
  else if (type === PATCH_TYPES.merge) next = applyMergePatch(base, body) as KubeObject;
  else next = applyStrategicMergePatch(base, body, t.subresource === "scale" ? "Scale" : t.def.kind);
  const manager = managedField(isApply ? t.query.get("fieldManager")! : defaultManager(t.query, userAgent), isApply ? "Apply" : "Update", t.def, deps.now(), t.subresource);
  if (t.subresource === "scale") return writeScale(deps, t, found, next, userAgent);
  if (t.subresource === "status") return commitUpdate(deps, t, found, { ...found, status: next.status }, manager);
  if (t.subresource === "ephemeralcontainers") return writeEphemeral(deps, t, found, next, manager);
  return commitUpdate(deps, t, found, next, manager);
}

/** The autoscaling/v1 Scale of a deployment. */
function scaleOf(_def: ResourceDef, d: KubeObject): KubeObject {
  const sel = Object.entries((d.spec?.selector?.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(",");
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name: d.metadata.name, namespace: d.metadata.namespace, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion, creationTimestamp: d.metadata.creationTimestamp },
    spec: { replicas: d.spec?.replicas ?? 0 },
    status: { replicas: d.status?.replicas ?? 0, selector: sel },
  };
}

function writeScale(deps: RestDeps, t: RestTarget, prev: KubeObject, scale: KubeObject, userAgent: string): RestReply {
  const replicas = scale.spec?.replicas;
  if (typeof replicas !== "number" || replicas < 0 || !Number.isInteger(replicas)) {
    throw errors.invalid({ ...t.def, kind: "Scale", group: "autoscaling" }, prev.metadata.name, [{ type: "FieldValueInvalid", field: "spec.replicas", detail: `Invalid value: ${replicas}: must be greater than or equal to 0` }]);
  }
  const next = clone(prev);
  next.spec.replicas = replicas;
  next.metadata.resourceVersion = scale.metadata?.resourceVersion ?? prev.metadata.resourceVersion;
  const r = commitUpdate(deps, t, prev, next, managedField(defaultManager(t.query, userAgent), "Update", t.def, deps.now(), "scale"));
  return { status: r.status, body: scaleOf(t.def, r.body) };
}

/**
 * pods/ephemeralcontainers (kubectl debug): only spec.ephemeralContainers is taken from the
 * write; each new one is reported running at once, as the kubelet would once it started it.
 */
function writeEphemeral(deps: RestDeps, t: RestTarget, prev: KubeObject, next: KubeObject, manager: KubeObject): RestReply {
  const wanted: KubeObject[] = next.spec?.ephemeralContainers ?? [];
  const had: KubeObject[] = prev.spec?.ephemeralContainers ?? [];
  for (const old of had) {
    const now = wanted.find((c) => c.name === old.name);
    if (!now || JSON.stringify(now) !== JSON.stringify(old)) {
      throw errors.invalid(t.def, prev.metadata.name, [{ type: "FieldValueForbidden", field: "spec.ephemeralContainers", detail: "Forbidden: existing ephemeral containers may not be removed or changed" }]);
    }
  }
  const ts = nowRfc3339(deps.now());
  const statuses: KubeObject[] = [...(prev.status?.ephemeralContainerStatuses ?? [])];
  for (const c of wanted) {
    c.terminationMessagePath ??= "/dev/termination-log";
    c.terminationMessagePolicy ??= "File";
    c.imagePullPolicy ??= "IfNotPresent";
    if (!statuses.some((s) => s.name === c.name)) {
      statuses.push({ name: c.name, state: { running: { startedAt: ts } }, lastState: {}, ready: false, restartCount: 0, image: c.image, imageID: `${c.image}@sha256:${"0".repeat(64)}`, containerID: `containerd://${crypto.randomUUID().replace(/-/g, "")}` });
    }
  }
  const out = { ...prev, spec: { ...prev.spec, ephemeralContainers: wanted }, metadata: { ...prev.metadata, resourceVersion: next.metadata?.resourceVersion ?? prev.metadata.resourceVersion } };
  const r = commitUpdate(deps, t, prev, out, manager);
  r.body.status = { ...(r.body.status ?? {}), ephemeralContainerStatuses: statuses };
  if (isDryRun(t.query)) return r;
  const stored = deps.store.put(t.def, r.body, "MODIFIED");
  return { status: 200, body: stored, tableRows: [stored] };
}

export function getSubresource(deps: RestDeps, t: RestTarget): RestReply {
  const o = existing(deps, t);
  if (t.subresource === "scale" && t.def.kind === "Deployment") return { status: 200, body: scaleOf(t.def, o) };
  if (t.subresource === "status" || t.subresource === "ephemeralcontainers") return { status: 200, body: o, tableRows: [o] };
  throw errors.methodNotAllowed();
}

interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export function remove(deps: RestDeps, t: RestTarget, raw: unknown): RestReply {
  const opts = (raw ?? {}) as DeleteOptions;
  const o = existing(deps, t);
  const pre = opts.preconditions ?? {};
  if (pre.uid && pre.uid !== o.metadata.uid) {
    throw new ApiError({ ...errors.conflict(t.def, o.metadata.name).status, message: `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${o.metadata.uid}` });
  }
  if (pre.resourceVersion && pre.resourceVersion !== o.metadata.resourceVersion) {
    throw new ApiError({ ...errors.conflict(t.def, o.metadata.name).status, message: `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${o.metadata.resourceVersion}` });
  }
  const dry = isDryRun(t.query) || (opts.dryRun ?? []).includes("All");
  const ns = t.namespace ?? "";
  if (t.def.kind === "Namespace") {
    // The namespace answers Terminating; its contents go with it (the namespace controller's job).
    const ts = nowRfc3339(deps.now());
    const term = { ...o, metadata: { ...o.metadata, deletionTimestamp: ts }, status: { phase: "Terminating" } };
    if (dry) return { status: 200, body: term };
    for (const def of [findResource("", "v1", "pods")!, findResource("", "v1", "configmaps")!, findResource("", "v1", "secrets")!, findResource("", "v1", "services")!, findResource("", "v1", "events")!, findResource("apps", "v1", "deployments")!]) {
      for (const child of deps.store.list(def, o.metadata.name)) {
        deps.store.remove(def, o.metadata.name, child.metadata.name);
        if (def.kind === "Pod") deps.onPodDeleted(o.metadata.name, child.metadata.name);
      }
    }
    deps.store.remove(t.def, "", o.metadata.name);
    return { status: 200, body: term };
  }
  if (dry) return { status: 200, body: t.def.kind === "Pod" || t.def.kind === "Service" ? o : deleteSuccess(t.def, o.metadata.name, o.metadata.uid) };
  if (t.def.kind === "Pod") {
    // Graceful deletion as watchers see it: first the pod marked for deletion (kubectl get -w
    // prints it Terminating), then, the kubelet done at once here, the pod removed.
    const grace = Number(t.query.get("gracePeriodSeconds") ?? (raw as { gracePeriodSeconds?: number } | undefined)?.gracePeriodSeconds ?? o.spec?.terminationGracePeriodSeconds ?? 30);
    o.metadata.deletionTimestamp = nowRfc3339(new Date(deps.now().getTime() + grace * 1000));
    o.metadata.deletionGracePeriodSeconds = grace;
    deps.store.put(t.def, o, "MODIFIED");
  }
  const gone = deps.store.remove(t.def, ns, o.metadata.name)!;
  if (t.def.kind === "Pod") deps.onPodDeleted(ns, o.metadata.name);
  // Pods and services return the deleted object (their registries set ReturnDeletedObject).
  if (t.def.kind === "Pod" || t.def.kind === "Service") return { status: 200, body: gone };
  return { status: 200, body: deleteSuccess(t.def, o.metadata.name, o.metadata.uid) };
}

export function removeCollection(deps: RestDeps, t: RestTarget): RestReply {
  const listed = list(deps, t);
  const dry = isDryRun(t.query);
  const items: KubeObject[] = [];
  for (const o of listed.tableRows ?? []) {
    if (dry) items.push(o);
    else {
      const gone = deps.store.remove(t.def, o.metadata.namespace ?? "", o.metadata.name);
      if (gone) items.push(gone);
      if (t.def.kind === "Pod") deps.onPodDeleted(o.metadata.namespace ?? "", o.metadata.name);
    }
  }
  const body = { kind: `${t.def.kind}List`, apiVersion: apiVersionOf(t.def), metadata: { resourceVersion: String(deps.store.resourceVersion) }, items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) };
  return { status: 200, body, tableRows: items };
}
