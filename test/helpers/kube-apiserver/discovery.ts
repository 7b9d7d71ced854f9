// Discovery documents built from the resource table: legacy /api, /apis, /api/v1 and
// /apis/GROUP/VERSION (APIVersions, APIGroupList, APIGroup, APIResourceList) and the aggregated
// apidiscovery.k8s.io/v2 APIGroupDiscoveryList that kubectl 1.32 asks /api and /apis for first
// (it falls back to the legacy documents when the answer's Content-Type is not the aggregated one).
import { RESOURCES, apiVersionOf, groupVersions } from "./resources.ts";
import type { ResourceDef } from "./resources.ts";
import type { KubeObject } from "./store.ts";

export const AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
export const AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/** Which aggregated discovery version an Accept header asks for, if any (v2 preferred). */
export function wantsAggregated(accept: string): "v2" | "v2beta1" | undefined {
  const items = accept.split(",").map((s) => s.replace(/\s+/g, "").toLowerCase());
  for (const it of items) {
    if (!it.includes("as=apigroupdiscoverylist") || !it.includes("g=apidiscovery.k8s.io")) continue;
    if (it.includes("v=v2beta1")) return "v2beta1";
    if (it.includes("v=v2")) return "v2";
  }
  return undefined;
}

export const VERSION_INFO = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.4",
  gitCommit: "59526cd4867447956156ae3a602fcbac5a2c1ff8",
  gitTreeState: "clean",
  buildDate: "2025-04-22T16:02:27Z",
  goVersion: "go1.23.6",
  compiler: "gc",
  platform: "linux/amd64",
};

function legacyResources(group: string, version: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const r of RESOURCES.filter((x) => x.group === group && x.version === version)) {
    const main: KubeObject = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames.length) main.shortNames = r.shortNames;
    if (r.categories.length) main.categories = r.categories;
    out.push(main);
    for (const s of r.subresources) {
      const sub: KubeObject = { name: `${r.resource}/${s.name}`, singularName: r.singular, namespaced: r.namespaced };
      if (s.group !== undefined) sub.group = s.group;
      if (s.version !== undefined) sub.version = s.version;
      sub.kind = s.kind || r.kind;
      sub.verbs = s.verbs;
      out.push(sub);
    }
  }
  return out;
}

export function apiResourceList(group: string, version: string): KubeObject {
  const list: KubeObject = { kind: "APIResourceList" };
  if (group !== "") list.apiVersion = "v1";
  list.groupVersion = group === "" ? version : `${group}/${version}`;
  list.resources = legacyResources(group, version);
  return list;
}

export function apiVersions(serverAddress: string): KubeObject {
  return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }] };
}

function apiGroup(group: string): KubeObject {
  const versions = groupVersions().filter((g) => g.group === group).map((g) => ({ groupVersion: apiVersionOf(g), version: g.version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function apiGroupList(): KubeObject {
  const names = [...new Set(groupVersions().map((g) => g.group).filter((g) => g !== ""))];
  return { kind: "APIGroupList", apiVersion: "v1", groups: names.map(apiGroup) };
}

export function apiGroupDoc(group: string): KubeObject | undefined {
  if (!groupVersions().some((g) => g.group === group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group) };
}

function resourceDiscovery(r: ResourceDef): KubeObject {
  const d: KubeObject = {
    resource: r.resource,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? "Namespaced" : "Cluster",
    singularResource: r.singular,
    verbs: r.verbs,
  };
  if (r.shortNames.length) d.shortNames = r.shortNames;
  if (r.categories.length) d.categories = r.categories;
  if (r.subresources.length) {
    d.subresources = r.subresources.map((s) => ({
      subresource: s.name,
      responseKind: { group: s.group ?? r.group, version: s.version ?? r.version, kind: s.kind || r.kind },
      verbs: s.verbs,
    }));
  }
  return d;
}

/** The APIGroupDiscoveryList of /api (`legacy`: the core group only) or of /apis (all others). */
export function aggregatedDiscovery(legacy: boolean, version: "v2" | "v2beta1"): KubeObject {
  const groups = [...new Set(groupVersions().map((g) => g.group))].filter((g) => (legacy ? g === "" : g !== ""));
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups.map((group) => ({
      metadata: group === "" ? { creationTimestamp: null } : { name: group, creationTimestamp: null },
      versions: groupVersions()
        .filter((g) => g.group === group)
        .map((g) => ({
          version: g.version,
          resources: RESOURCES.filter((r) => r.group === group && r.version === g.version).map(resourceDiscovery),
          freshness: "Current",
        })),
    })),
  };
}
