// Matches Kubernetes API requests (KubernetesRequestFacts, from targets/kubernetes/request-info.ts)
// against a rule's `kubernetes:` section:
//   verbs       RBAC verbs; read (get, list, watch, head) and write (create, update, patch,
//               delete, deletecollection); subresource verbs (exec, attach, portforward, log,
//               proxy, scale, status, eviction, ephemeralcontainers: any request on that
//               subresource); non-resource verbs (head, post, put, options); * for all
//   groups      API groups ("" or core for the core group), globs
//   resources   RBAC form: pods, pods/exec, deployments.apps, deployments.apps/scale, pods/*, *
//   namespaces  globs; "" stands for cluster-scoped requests; a list or watch without a namespace
//               of a namespaced resource (GET /api/v1/secrets) reaches every namespace: it is
//               within an allow rule's namespaces only when they hold "*", and within a deny or
//               review rule's whatever namespaces they name
//   names       globs over the object's name
//   commands    exec: argv patterns, as SSH exec commands (ssh-patterns.ts, ssh-wrappers.ts)
//   paths       non-resource URLs (/metrics, /logs/*): globs, "/" separates segments
// All stated conditions must hold. How they meet requests, and why:
// - A rule with `paths` is about non-resource URLs only; a rule without is about resource
//   requests only (an allow rule for `read` does not open /metrics or /logs). Discovery
//   (/api, /apis, /version, /openapi, health) is the target's built-in (builtin:discovery).
// - pods/exec, attach and portforward are "create" whatever the method (kubectl's WebSocket exec
//   is a GET; the API server also authorizes it as create since 1.31), and no connect
//   subresource (those three and proxy) is ever a `read`: `write` covers them all.
// - Allow rules match exactly: `deployments` does not allow deployments.apps (write the group,
//   or state `groups`), `pods` does not allow pods/exec, case matters; a request without a name
//   (list, watch, create, deletecollection) is not within `names`; exec is within `commands`
//   only when its argv is a simple command and every command it runs (sh -c …) matches.
// - Deny and review rules match broadly, so that nothing slips past them: a verb covers its
//   siblings (delete covers deletecollection; get, list and watch each other; update and patch
//   each other; on pods, exec, attach and ephemeralcontainers each other, portforward and proxy
//   each other), any case, a resource
//   with or without its group, a subresource by its parent (`pods` covers pods/exec), a
//   request without a name whatever `names` says (a list reads every name), every attach and
//   ephemeralcontainers request whatever `commands` says (the gateway cannot see what is typed
//   or run there), and an exec whose argv runs what the gateway cannot see.
import { GatewayError } from "../../core/errors.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlob, compileGlobs, type StringPredicate } from "../glob.ts";
import { compileCommandPatterns } from "./ssh-patterns.ts";
import { analyseArgv, type CommandAnalysis } from "./ssh-wrappers.ts";
import { CLUSTER_SCOPED_RESOURCES, CONNECT_SUBRESOURCES, NAMESPACED_RESOURCES, READ_VERBS, SUBRESOURCE_VERBS, WRITE_VERBS, checkGroup, checkResource, checkVerb } from "./kubernetes-vocabulary.ts";

export { KUBERNETES_VERBS } from "./kubernetes-vocabulary.ts";

export type KubernetesSection = NonNullable<RuleConfig["kubernetes"]>;

/** What rules need of one request, computed once per decision (RequestView.kube). */
export interface KubeView {
  /** resource[.group][/subresource], e.g. "deployments.apps/scale". */
  readonly full: string;
  /** The same without the API group, e.g. "deployments/scale". */
  readonly core: string;
  /** resource[.group] and resource: the parent of a subresource. */
  readonly parentFull: string;
  readonly parentCore: string;
  /**
   * Where the request reaches: one namespace; cluster-scoped (no namespace, a resource served
   * without one); every namespace (no namespace, a namespaced resource: GET /api/v1/secrets); or
   * unknown (no namespace, a resource the gateway does not know: a custom one, either).
   */
  readonly scope: "namespace" | "cluster" | "all" | "unknown";
  /** The verb rules match: "create" for exec, attach and portforward whatever the method. */
  readonly verb: string;
  /** A non-resource URL (facts.path set, no resource). */
  readonly nonResource: boolean;
  /** exec: the analysis of its command argv; null for other requests. */
  readonly analysis: CommandAnalysis | null;
  /**
   * The names `names` are matched against: the object's name first (for a proxy name such as
   * "https:web:443", the service "web"), then the name as given when it differs. Allow rules
   * match the first; deny and review rules any.
   */
  readonly names: readonly string[];
}

const EXEC_LIKE = new Set(["exec", "attach", "portforward"]);

export function kubeView(f: KubernetesRequestFacts): KubeView {
  const group = f.apiGroup ? `.${f.apiGroup}` : "";
  const sub = f.subresource ? `/${f.subresource}` : "";
  const nonResource = f.resource === "" && f.path !== undefined;
  const verb = f.resource === "pods" && f.subresource !== undefined && EXEC_LIKE.has(f.subresource) ? "create" : f.verb.toLowerCase();
  const names: string[] = [];
  if (f.name !== undefined) {
    const parts = f.subresource === "proxy" ? f.name.split(":") : [f.name];
    const object = parts.length === 3 ? parts[1]! : parts[0]!;
    names.push(object);
    if (object !== f.name) names.push(f.name);
  }
  const isExec = f.resource === "pods" && f.subresource === "exec";
  const scope = f.namespace ? "namespace" : nonResource || CLUSTER_SCOPED_RESOURCES.has(f.resource) ? "cluster" : NAMESPACED_RESOURCES.has(f.resource) ? "all" : "unknown";
  return {
    scope,
    full: `${f.resource}${group}${sub}`,
    core: `${f.resource}${sub}`,
    parentFull: `${f.resource}${group}`,
    parentCore: f.resource,
    verb,
    nonResource,
    analysis: isExec ? analyseArgv(f.command ?? []) : null,
    names,
  };
}

export type KubernetesConditionName = "verbs" | "apiGroups" | "resources" | "namespaces" | "names" | "commands" | "paths";

/** One condition of the section: decide() uses `test`; explain adds the `why`. */
export interface KubernetesCondition {
  readonly name: KubernetesConditionName;
  test(f: KubernetesRequestFacts, v: KubeView): boolean;
  why(f: KubernetesRequestFacts, v: KubeView, holds: boolean): string;
}

const list = (xs: readonly string[]) => `[${xs.join(", ")}]`;

/** Runs `check` on each item, then `compile`; a GatewayError from either keeps (or gets) the key path. */
function compileList<T>(key: keyof KubernetesSection, items: readonly string[], check: (item: string, index: number) => void, compile: () => T): T {
  items.forEach((item, i) => {
    try {
      check(item, i);
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e;
      if (Array.isArray(e.details["path"])) throw e;
      throw new GatewayError(e.code, e.message, { cause: e, details: { ...e.details, path: ["kubernetes", key, i] } });
    }
  });
  try {
    return compile();
  } catch (e) {
    if (!(e instanceof GatewayError)) throw e;
    throw new GatewayError(e.code, e.message, { cause: e, details: { ...e.details, path: ["kubernetes", key] } });
  }
}

/**
 * What a verb in a deny or review rule also covers, so that a sibling verb reaching the same
 * objects cannot dodge it: a deletecollection deletes what a delete does, a list or watch reads
 * what a get does, a patch changes what an update does.
 */
const RESTRICTING_VERBS: Readonly<Record<string, readonly string[]>> = {
  get: ["get", "list", "watch"],
  list: ["get", "list", "watch"],
  watch: ["get", "list", "watch"],
  delete: ["delete", "deletecollection"],
  update: ["update", "patch"],
  patch: ["update", "patch"],
};

/**
 * Subresources that give the same power, for deny and review rules: exec, attach and an
 * ephemeral container each run what one likes inside a pod; port-forward and the pod proxy each
 * reach its ports.
 */
const SUBRESOURCE_SIBLINGS: Readonly<Record<string, readonly string[]>> = {
  exec: ["exec", "attach", "ephemeralcontainers"],
  attach: ["exec", "attach", "ephemeralcontainers"],
  ephemeralcontainers: ["exec", "attach", "ephemeralcontainers"],
  portforward: ["portforward", "proxy"],
  proxy: ["portforward", "proxy"],
};

/** The subresources a restricting rule's mention of `sub` stands for on `resource`. */
function siblingsOf(resource: string, sub: string): readonly string[] {
  return resource === "pods" ? (SUBRESOURCE_SIBLINGS[sub] ?? [sub]) : [sub];
}

function verbCondition(verbs: readonly string[], restricting: boolean): KubernetesCondition {
  const given = compileList("verbs", verbs, (v, i) => checkVerb(v, i), () => verbs.map((v) => v.toLowerCase()));
  const lower = restricting ? [...new Set(given.flatMap((v) => RESTRICTING_VERBS[v] ?? [v]))] : given;
  const any = lower.includes("*");
  const read = lower.includes("read");
  const write = lower.includes("write");
  const plain = new Set(lower.filter((v) => !(SUBRESOURCE_VERBS as readonly string[]).includes(v) || v === "proxy"));
  const subs = new Set(lower.filter((v) => (SUBRESOURCE_VERBS as readonly string[]).includes(v)));
  const test = (f: KubernetesRequestFacts, v: KubeView): boolean => {
    if (any) return true;
    const connect = f.subresource !== undefined && CONNECT_SUBRESOURCES.has(f.subresource);
    if (f.subresource !== undefined) {
      if (subs.has(f.subresource)) return true;
      if (restricting && siblingsOf(f.resource, f.subresource).some((x) => subs.has(x))) return true;
    }
    if (plain.has(v.verb)) return true;
    if (read && !connect && ((READ_VERBS as readonly string[]).includes(v.verb) || v.verb === "head")) return true;
    if (write && (connect || (WRITE_VERBS as readonly string[]).includes(v.verb) || (v.nonResource && ["post", "put", "patch", "delete"].includes(v.verb)))) return true;
    return false;
  };
  return {
    name: "verbs",
    test,
    why(f, v, holds) {
      const seen = f.subresource !== undefined ? `${v.verb} on ${f.subresource}` : v.verb;
      if (holds) return `verb ${seen} in its verbs ${list(verbs)}${restricting && !given.includes(v.verb) && !lower.includes("*") && plain.has(v.verb) ? ` (a deny or review rule's ${given.find((g) => RESTRICTING_VERBS[g]?.includes(v.verb)) ?? "verb"} also covers ${v.verb})` : ""}`;
      const note = f.subresource !== undefined && CONNECT_SUBRESOURCES.has(f.subresource) && read ? ` (${f.subresource} is never a read)` : "";
      return `verb ${seen} is not in its verbs ${list(verbs)}${note}`;
    },
  };
}

function groupCondition(groups: readonly string[], restricting: boolean): KubernetesCondition {
  const match = compileList("groups", groups, (g, i) => checkGroup(g, ["groups", i]), () => {
    const norm = groups.map((g) => (g === "core" ? "" : g));
    const literal = new Set(norm.filter((g) => !/[*?]/.test(g)));
    const globs = norm.filter((g) => /[*?]/.test(g));
    // `*` spans dots here: *.k8s.io is every group of the project.
    const re = globs.length > 0 ? compileGlobs(globs, { ignoreCase: restricting }) : null;
    const anyGroup = norm.includes("*");
    return (g: string) => anyGroup || literal.has(restricting ? g.toLowerCase() : g) || (re !== null && re(g));
  });
  return {
    name: "apiGroups",
    test: (f, v) => !v.nonResource && match(f.apiGroup ?? ""),
    why(f, v, holds) {
      if (v.nonResource) return "groups are about resources, and this is a non-resource URL";
      const g = f.apiGroup ? f.apiGroup : "core";
      return holds ? `API group ${g} in its groups ${list(groups)}` : `API group ${g} is not in its groups ${list(groups)}`;
    },
  };
}

function resourceCondition(resources: readonly string[], restricting: boolean, byGroup: boolean): KubernetesCondition {
  const globs: StringPredicate = compileList("resources", resources, (r, i) => checkResource(r, i), () =>
    resources.includes("*") ? () => true : compileGlobs(resources, { separator: "/", ignoreCase: restricting }),
  );
  return {
    name: "resources",
    test(f, v) {
      if (v.nonResource) return false;
      if (globs(v.full)) return true;
      // Unqualified names: deny and review rules, or an allow rule that states its groups.
      if ((restricting || byGroup) && globs(v.core)) return true;
      // A subresource by its parent or by a sibling of the same power, for deny and review rules
      // (an allow rule whose verbs name the subresource may name its parent: see
      // compileKubernetesConditions).
      if (!restricting || f.subresource === undefined) return false;
      if (globs(v.parentFull) || globs(v.parentCore)) return true;
      return siblingsOf(f.resource, f.subresource).some((x) => globs(`${v.parentFull}/${x}`) || globs(`${v.parentCore}/${x}`));
    },
    why(f, v, holds) {
      if (v.nonResource) return "resources are about resource requests, and this is a non-resource URL";
      return holds ? `resource ${v.full} matches its resources ${list(resources)}` : `resource ${v.full} is not matched by its resources ${list(resources)}`;
    },
  };
}

function namespaceCondition(namespaces: readonly string[], restricting: boolean): KubernetesCondition {
  const clusterScoped = namespaces.includes("");
  const globs = namespaces.filter((n) => n !== "");
  const everyNamespace = globs.includes("*");
  /**
   * A request without a namespace: cluster-scoped needs ""; one that reaches every namespace is
   * within an allow rule only when it lists "*", and within a deny or review rule that lists any
   * namespace; a resource of unknown scope is either, so an allow rule needs both "" and "*", and
   * a restricting rule either.
   */
  const withoutNamespace = (scope: KubeView["scope"]): boolean => {
    const all = restricting ? globs.length > 0 : everyNamespace;
    if (scope === "cluster") return clusterScoped;
    if (scope === "all") return all;
    return restricting ? clusterScoped || all : clusterScoped && all;
  };
  const match: StringPredicate = compileList("namespaces", namespaces, (n) => {
    if (n !== "" && !/^[a-z0-9*?-]+$/i.test(n)) throw new GatewayError("E_POLICY_INVALID", `"${n}" is not a namespace (a DNS label such as production) or a glob of one`);
    if (n !== "") compileGlob(n);
  }, () => (globs.length > 0 ? compileGlobs(globs, { ignoreCase: restricting }) : () => false));
  return {
    name: "namespaces",
    test: (f, v) => !v.nonResource && (v.scope === "namespace" ? match(f.namespace!) : withoutNamespace(v.scope)),
    why(f, v, holds) {
      if (v.nonResource) return "namespaces are about resource requests, and this is a non-resource URL";
      const where =
        v.scope === "namespace" ? `namespace ${f.namespace}` : v.scope === "cluster" ? 'a cluster-scoped request ("")' : v.scope === "all" ? "a request across every namespace" : `a request without a namespace for ${f.resource}, which may be cluster-scoped or across every namespace`;
      return holds ? `${where} in its namespaces ${list(namespaces.map((n) => (n === "" ? '""' : n)))}` : `${where} is not in its namespaces ${list(namespaces.map((n) => (n === "" ? '""' : n)))}`;
    },
  };
}

function nameCondition(names: readonly string[], restricting: boolean): KubernetesCondition {
  const match: StringPredicate = compileList("names", names, (n) => void compileGlob(n), () => compileGlobs(names, { ignoreCase: restricting }));
  return {
    name: "names",
    test(f, v) {
      if (v.nonResource) return false;
      if (v.names.length === 0) return restricting;
      return restricting ? v.names.some((n) => match(n)) : match(v.names[0]!);
    },
    why(f, v, holds) {
      if (v.nonResource) return "names are about resource requests, and this is a non-resource URL";
      if (v.names.length === 0) return restricting ? `a ${f.verb} names no object, so it may reach any of its names ${list(names)}` : `a ${f.verb} names no object, so its names ${list(names)} cannot vouch for it`;
      return holds ? `name ${f.name} matches its names ${list(names)}` : `name ${f.name} is not matched by its names ${list(names)}`;
    },
  };
}

function commandCondition(commands: readonly string[], restricting: boolean): KubernetesCondition {
  const patterns = compileList("commands", commands, (c) => void compileCommandPatterns([c], restricting), () => compileCommandPatterns(commands, restricting));
  const theirs = `its commands ${list(commands)}`;
  const blind = (f: KubernetesRequestFacts) => f.resource === "pods" && (f.subresource === "attach" || f.subresource === "ephemeralcontainers");
  return {
    name: "commands",
    test(f, v) {
      if (blind(f)) return restricting;
      const a = v.analysis;
      if (a === null) return false;
      if (restricting) return a.kind !== "simple" || a.commands.some((c) => patterns.within(c));
      if (patterns.any) return true;
      return a.kind === "simple" && a.commands.every((c) => patterns.whole(c));
    },
    why(f, v, holds) {
      if (blind(f)) return restricting ? `${f.subresource}: the gateway cannot see what runs there, so ${theirs} cover it` : `${f.subresource} runs no command the gateway can see: ${theirs} allow exec only`;
      const a = v.analysis;
      if (a === null) return "commands are about pods/exec, and this is not an exec";
      const argv = JSON.stringify(f.command ?? []);
      if (a.kind !== "simple") {
        const reason = a.kind === "unsplittable" ? `could not be split safely: ${a.reason}` : a.reason;
        return restricting ? `the command ${argv} could not be checked (${reason}), so ${theirs} treat it as any command` : patterns.any ? `${theirs} allow any command` : `the command ${argv} could not be checked (${reason}), so only rules that allow any command apply`;
      }
      if (holds) return `${a.commands.map((c) => JSON.stringify(c.join(" "))).join(" and ")} ${restricting ? "matches" : "in"} ${theirs}`;
      return `the command ${argv} is not ${restricting ? "matched by" : "within"} ${theirs}`;
    },
  };
}

function pathCondition(paths: readonly string[], restricting: boolean): KubernetesCondition {
  const match: StringPredicate = compileList("paths", paths, (p) => {
    if (!p.startsWith("/") && !p.startsWith("*")) throw new GatewayError("E_POLICY_INVALID", `non-resource path glob "${p}" must start with "/"`);
    compileGlob(p, { separator: "/" });
  }, () => compileGlobs(paths, { separator: "/", ignoreCase: restricting }));
  return {
    name: "paths",
    test: (f, v) => v.nonResource && match(f.path!),
    why(f, v, holds) {
      if (!v.nonResource) return "paths are about non-resource URLs, and this is a resource request";
      return holds ? `path ${f.path} matches its paths ${list(paths)}` : `path ${f.path} is not matched by its paths ${list(paths)}`;
    },
  };
}

/** The section's conditions, each compiled once; every one must hold. */
export function compileKubernetesConditions(section: KubernetesSection, restricting: boolean): KubernetesCondition[] {
  const out: KubernetesCondition[] = [];
  const resourceKeys = (["groups", "resources", "namespaces", "names", "commands"] as const).filter((k) => section[k] !== undefined);
  if (section.paths !== undefined && resourceKeys.length > 0) {
    throw new GatewayError("E_POLICY_INVALID", `its kubernetes section can never match: paths are about non-resource URLs, and ${resourceKeys.join(", ")} about resources`, { details: { path: ["kubernetes", "paths"] } });
  }
  if (section.verbs) out.push(verbCondition(section.verbs, restricting));
  if (section.groups) out.push(groupCondition(section.groups, restricting));
  if (section.resources) {
    const r = resourceCondition(section.resources, restricting, section.groups !== undefined);
    // An allow rule whose verbs name a subresource (exec) may name its parent (pods).
    const subVerbs = (section.verbs ?? []).map((v) => v.toLowerCase()).filter((v) => (SUBRESOURCE_VERBS as readonly string[]).includes(v));
    if (!restricting && subVerbs.length > 0) {
      const parentView = (v: KubeView): KubeView => ({ ...v, full: v.parentFull, core: v.parentCore });
      out.push({
        name: "resources",
        test: (f, v) => r.test(f, v) || (f.subresource !== undefined && subVerbs.includes(f.subresource) && r.test(f, parentView(v))),
        why: (f, v, holds) => (holds && !r.test(f, v) ? `resource ${v.parentFull}, the parent of ${f.subresource}, matches its resources ${list(section.resources!)}` : r.why(f, v, holds)),
      });
    } else out.push(r);
  }
  if (section.namespaces) out.push(namespaceCondition(section.namespaces, restricting));
  if (section.names) out.push(nameCondition(section.names, restricting));
  if (section.commands) out.push(commandCondition(section.commands, restricting));
  if (section.paths) out.push(pathCondition(section.paths, restricting));
  // Without paths, a section is about resource requests: one more condition, silent unless it fails.
  if (!section.paths) {
    out.push({
      name: "paths",
      test: (_f, v) => !v.nonResource,
      why: (f, v) => (v.nonResource ? `a non-resource URL (${f.path}) is matched only by rules with kubernetes.paths` : "a resource request"),
    });
  }
  return out;
}

export type KubernetesMatcher = (facts: KubernetesRequestFacts, view: KubeView) => boolean;

/** All conditions as one predicate. */
export function compileKubernetesMatcher(section: KubernetesSection, restricting: boolean): KubernetesMatcher {
  const conditions = compileKubernetesConditions(section, restricting);
  return (f, v) => {
    for (const c of conditions) if (!c.test(f, v)) return false;
    return true;
  };
}
