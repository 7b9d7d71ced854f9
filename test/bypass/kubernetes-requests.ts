// The Kubernetes request bypass corpus: attempts to do what the seed policy
// (policies/prod-approval) refuses or holds — delete the production namespace, write to
// production without an SRE's approval, read outside staging and production, act as someone
// else — or what the stricter policy below denies (production secrets, deleting the database,
// shells in staging), by spelling the request another way: path encodings, case, dot segments,
// doubled slashes, watch instead of get, deletecollection instead of delete, every patch type,
// subresources (exec over a WebSocket GET, attach, ephemeralcontainers, the proxies), the legacy
// /watch/ and /proxy/ prefixes, field selector tricks, impersonation headers, a namespace in the
// body that is not the path's, dry runs.
//
// Data only: kubernetes-requests.test.ts decides each attempt as the gateway does (classify,
// impersonation, body, policy, built-ins) through the compiled policy; the Kubernetes target's
// end-to-end test sends the same requests through the gateway to the test API server and checks
// that the status and the server's state match. LEGITIMATE_KUBE_REQUESTS are what kubectl get,
// describe, logs, apply, exec and port-forward send: they must stay allowed.
//
// A bypass once found is an attempt here forever.

export type KubeBypassTheme =
  | "encoding"
  | "case"
  | "dot-segment"
  | "slashes"
  | "namespace-object"
  | "patch-type"
  | "write-verb"
  | "deletecollection"
  | "subresource"
  | "proxy"
  | "legacy-prefix"
  | "field-selector"
  | "watch"
  | "impersonation"
  | "body-namespace"
  | "dry-run"
  | "query"
  | "exec-command";

/** What the gateway must answer: refused by the classifier (400/405/415), denied by policy, held for approval. */
export type KubeOutcome = "refused" | "deny" | "review";

export interface KubeBypassAttempt {
  readonly id: string;
  readonly theme: KubeBypassTheme;
  /** Which policy decides it: the seed (policies/prod-approval) or the seed plus STRICT_RULES. */
  readonly policy: "seed" | "strict";
  readonly method: string;
  /** The raw request-target, exactly as sent. */
  readonly target: string;
  readonly contentType?: string;
  /** Extra request headers (impersonation), as sent. */
  readonly headers?: readonly (readonly [string, string])[];
  /** The request body, as sent (UTF-8 text). */
  readonly body?: string;
  /** The caller's groups; default developers. */
  readonly groups?: readonly string[];
  readonly expect: KubeOutcome;
  readonly note: string;
}

/** The caller and target every attempt runs as, unless it names groups. */
export const KUBE_BYPASS_CALLER = { subject: "alice", groups: ["developers"], target: "prod-k8s" } as const;

/** Rules added to the seed for the "strict" attempts (the seed's own rules come first). */
export const STRICT_RULES = `
rules:
  - name: no-production-secrets
    targets: [prod-*]
    kubernetes: { verbs: [get], resources: [secrets], namespaces: [production] }
    effect: deny
    message: production secrets are read through the vault, not the API
  - name: no-deleting-databases
    targets: [prod-*]
    kubernetes: { verbs: [delete], resources: [statefulsets.apps], names: [db-*] }
    effect: deny
  - name: oncall-reads-everywhere
    groups: [oncall]
    targets: [prod-*]
    kubernetes: { verbs: [read] }
    effect: allow
  - name: no-exec-into-databases
    targets: [prod-*]
    kubernetes: { verbs: [exec, portforward], names: [db-*] }
    effect: deny
    message: the databases are reached through the bastion
  - name: no-shells-in-staging
    targets: [prod-*]
    kubernetes: { commands: ["sh **", "bash **", "rm **"], namespaces: [staging] }
    effect: deny
    message: no shells in staging pods; run a command
`;

const MERGE = "application/merge-patch+json";
const JSON_PATCH = "application/json-patch+json";
const STRATEGIC = "application/strategic-merge-patch+json";
const APPLY = "application/apply-patch+yaml";
const P = "/api/v1/namespaces/production";
const S = "/api/v1/namespaces/staging";
const APPS_P = "/apis/apps/v1/namespaces/production";
const APPS_S = "/apis/apps/v1/namespaces/staging";
const DEPLOYMENT = JSON.stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" }, spec: { replicas: 2 } });
const exec = (ns: string, ...argv: string[]) => `/api/v1/namespaces/${ns}/pods/web/exec?${argv.map((a) => `command=${encodeURIComponent(a)}`).join("&")}&container=app&stdin=true&stdout=true&tty=true`;

type A = Omit<KubeBypassAttempt, "policy"> & { readonly policy?: KubeBypassAttempt["policy"] };
const seed = (a: A): KubeBypassAttempt => ({ policy: "seed", ...a });
const strict = (a: A): KubeBypassAttempt => ({ ...a, policy: "strict" });

export const KUBE_BYPASS_ATTEMPTS: readonly KubeBypassAttempt[] = [
  // Path encodings: the server decodes %XX after routing has begun; the gateway never reads them.
  seed({ id: "enc-slash-upper", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/production%2F", expect: "refused", note: "%2F after the name" }),
  seed({ id: "enc-slash-lower", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces%2fproduction", expect: "refused", note: "%2f as the separator before the name" }),
  seed({ id: "enc-letter", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/prod%75ction", expect: "refused", note: "an encoded u in production" }),
  seed({ id: "enc-resource", theme: "encoding", method: "DELETE", target: "/api/v1/%6eamespaces/production", expect: "refused", note: "an encoded n in namespaces" }),
  seed({ id: "enc-double", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/prod%2575ction", expect: "refused", note: "a double-encoded u" }),
  seed({ id: "enc-plus", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/production+", expect: "refused", note: "a plus that a form decoder reads as a space" }),
  seed({ id: "enc-group", theme: "encoding", method: "POST", target: "/apis/app%73/v1/namespaces/production/deployments", body: DEPLOYMENT, contentType: "application/json", expect: "refused", note: "an encoded group name" }),
  seed({ id: "enc-traversal", theme: "encoding", method: "POST", target: "/api/v1/namespaces/staging%2F..%2Fproduction/pods", expect: "refused", note: "staging/../production, encoded" }),
  seed({ id: "enc-fullwidth", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/%EF%BD%90roduction", expect: "refused", note: "a fullwidth p" }),
  seed({ id: "enc-nul", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/production%00", expect: "refused", note: "an encoded NUL after the name" }),
  seed({ id: "enc-raw-unicode", theme: "encoding", method: "DELETE", target: "/api/v1/namespaces/prоduction", expect: "refused", note: "a Cyrillic o sent raw" }),
  // Case.
  seed({ id: "case-resource", theme: "case", method: "DELETE", target: "/api/v1/Namespaces/production", expect: "refused", note: "Namespaces" }),
  seed({ id: "case-name", theme: "case", method: "DELETE", target: "/api/v1/namespaces/Production", expect: "refused", note: "Production" }),
  seed({ id: "case-prefix", theme: "case", method: "DELETE", target: "/API/v1/namespaces/production", expect: "deny", note: "/API is no API prefix: a non-resource URL no rule allows" }),
  seed({ id: "case-version", theme: "case", method: "DELETE", target: "/api/V1/namespaces/production", expect: "refused", note: "V1" }),
  seed({ id: "case-method", theme: "case", method: "delete", target: "/api/v1/namespaces/production", expect: "refused", note: "a lower-case method (Go has no verb for it)" }),
  seed({ id: "case-group", theme: "case", method: "POST", target: "/apis/APPS/v1/namespaces/production/deployments", expect: "refused", note: "APPS" }),
  // Dot segments.
  seed({ id: "dot-dot-namespace", theme: "dot-segment", method: "POST", target: "/api/v1/namespaces/staging/../production/pods", expect: "refused", note: "staging/../production" }),
  seed({ id: "dot-segment", theme: "dot-segment", method: "DELETE", target: "/api/v1/namespaces/./production", expect: "refused", note: "a ./ segment" }),
  seed({ id: "dot-dot-end", theme: "dot-segment", method: "DELETE", target: "/api/v1/namespaces/staging/..", expect: "refused", note: "a trailing .." }),
  seed({ id: "dot-dot-encoded", theme: "dot-segment", method: "DELETE", target: "/api/v1/namespaces/staging/%2e%2e/production", expect: "refused", note: "an encoded .." }),
  seed({ id: "dot-dot-proxy", theme: "dot-segment", method: "GET", target: "/api/v1/namespaces/staging/services/web/proxy/../../../../api/v1/namespaces/production/secrets", expect: "refused", note: "climbing out of a staging proxy path" }),
  // Slashes.
  seed({ id: "slash-leading", theme: "slashes", method: "DELETE", target: "//api/v1/namespaces/production", expect: "refused", note: "a leading doubled slash (the server trims it)" }),
  seed({ id: "slash-middle", theme: "slashes", method: "DELETE", target: "/api/v1//namespaces/production", expect: "refused", note: "a doubled slash" }),
  seed({ id: "slash-trailing", theme: "slashes", method: "DELETE", target: "/api/v1/namespaces/production/", expect: "refused", note: "a trailing slash (the server trims it)" }),
  seed({ id: "slash-backslash", theme: "slashes", method: "DELETE", target: "/api/v1/namespaces\\production", expect: "refused", note: "a backslash" }),
  seed({ id: "slash-triple", theme: "slashes", method: "POST", target: "/api/v1/namespaces///production/pods", expect: "refused", note: "three slashes" }),
  // The production namespace itself.
  seed({ id: "ns-delete", theme: "namespace-object", method: "DELETE", target: P, expect: "deny", note: "kubectl delete namespace production" }),
  seed({ id: "ns-deletecollection", theme: "deletecollection", method: "DELETE", target: "/api/v1/namespaces", expect: "deny", note: "delete every namespace, production with them" }),
  seed({ id: "ns-deletecollection-field", theme: "deletecollection", method: "DELETE", target: "/api/v1/namespaces?fieldSelector=metadata.name%3Dproduction", expect: "deny", note: "deletecollection pinned to production by a field selector" }),
  seed({ id: "ns-deletecollection-label", theme: "deletecollection", method: "DELETE", target: "/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Dproduction", expect: "deny", note: "deletecollection pinned by the name label" }),
  seed({ id: "ns-delete-dry-run", theme: "dry-run", method: "DELETE", target: `${P}?dryRun=All`, expect: "deny", note: "a dry run is decided as the delete" }),
  seed({ id: "ns-delete-watch-prefix", theme: "legacy-prefix", method: "DELETE", target: "/api/v1/watch/namespaces/production", expect: "refused", note: "DELETE under the /watch/ prefix" }),
  seed({ id: "ns-delete-as-sre", theme: "namespace-object", method: "DELETE", target: `${P}?gracePeriodSeconds=0`, groups: ["sre", "developers"], expect: "deny", note: "an approver cannot delete it either" }),
  seed({ id: "ns-finalize", theme: "namespace-object", method: "PUT", target: `${P}/finalize`, body: JSON.stringify({ metadata: { name: "production" }, spec: { finalizers: [] } }), contentType: "application/json", expect: "review", note: "emptying the finalizers is a write in production" }),
  seed({ id: "ns-status", theme: "namespace-object", method: "PUT", target: `${P}/status`, expect: "review", note: "the namespace's status" }),
  seed({ id: "ns-patch", theme: "namespace-object", method: "PATCH", target: P, contentType: MERGE, body: JSON.stringify({ metadata: { labels: { x: "y" } } }), expect: "review", note: "labelling the namespace" }),
  // Writes in production by another verb or patch type.
  seed({ id: "write-create", theme: "write-verb", method: "POST", target: `${APPS_P}/deployments`, contentType: "application/json", body: DEPLOYMENT, expect: "review", note: "kubectl create" }),
  seed({ id: "write-update", theme: "write-verb", method: "PUT", target: `${APPS_P}/deployments/web`, contentType: "application/json", body: DEPLOYMENT, expect: "review", note: "kubectl replace" }),
  seed({ id: "patch-json", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: JSON_PATCH, body: JSON.stringify([{ op: "replace", path: "/spec/replicas", value: 0 }]), expect: "review", note: "JSON patch" }),
  seed({ id: "patch-merge", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: MERGE, body: JSON.stringify({ spec: { replicas: 0 } }), expect: "review", note: "merge patch" }),
  seed({ id: "patch-strategic", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: STRATEGIC, body: JSON.stringify({ spec: { replicas: 0 } }), expect: "review", note: "strategic merge patch (kubectl apply, client side)" }),
  seed({ id: "patch-apply-yaml", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web?fieldManager=kubectl&force=true`, contentType: APPLY, body: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 0\n", expect: "review", note: "server-side apply, forced" }),
  seed({ id: "patch-apply-cbor", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web?fieldManager=kubectl`, contentType: "application/apply-patch+cbor", expect: "review", note: "server-side apply in CBOR (no body sent)" }),
  seed({ id: "patch-apply-cbor-body", theme: "patch-type", method: "PATCH", target: `${APPS_S}/deployments/web?fieldManager=kubectl`, contentType: "application/apply-patch+cbor", body: "\u00a1dname", expect: "refused", note: "a CBOR body the gateway cannot check for its namespace" }),
  seed({ id: "patch-plain-json", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: "application/json", body: "{}", expect: "refused", note: "a Content-Type the server refuses (415)" }),
  seed({ id: "patch-type-case", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: "Application/Merge-Patch+JSON", body: "{}", expect: "refused", note: "the patch type in another case" }),
  seed({ id: "patch-type-params", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, contentType: `${MERGE}; charset=utf-8`, body: "{}", expect: "review", note: "a charset parameter" }),
  seed({ id: "patch-no-type", theme: "patch-type", method: "PATCH", target: `${APPS_P}/deployments/web`, body: "{}", expect: "refused", note: "no Content-Type" }),
  seed({ id: "write-delete", theme: "write-verb", method: "DELETE", target: `${P}/pods/web`, expect: "review", note: "kubectl delete pod" }),
  seed({ id: "deletecollection-pods", theme: "deletecollection", method: "DELETE", target: `${P}/pods`, expect: "review", note: "kubectl delete pods --all" }),
  seed({ id: "deletecollection-field", theme: "deletecollection", method: "DELETE", target: `${P}/pods?fieldSelector=metadata.name%3Dweb`, expect: "review", note: "deletecollection with a name selector" }),
  seed({ id: "dry-run-create", theme: "dry-run", method: "POST", target: `${P}/configmaps?dryRun=All`, contentType: "application/json", body: JSON.stringify({ metadata: { name: "c" } }), expect: "review", note: "a server-side dry run" }),
  seed({ id: "dry-run-patch", theme: "dry-run", method: "PATCH", target: `${APPS_P}/deployments/web?dryRun=All&dryRun=All`, contentType: MERGE, body: "{}", expect: "review", note: "dryRun given twice" }),
  // Subresources.
  seed({ id: "sub-scale", theme: "subresource", method: "PATCH", target: `${APPS_P}/deployments/web/scale`, contentType: MERGE, body: JSON.stringify({ spec: { replicas: 0 } }), expect: "review", note: "kubectl scale --replicas=0" }),
  seed({ id: "sub-status", theme: "subresource", method: "PUT", target: `${APPS_P}/deployments/web/status`, expect: "review", note: "writing a status" }),
  seed({ id: "sub-eviction", theme: "subresource", method: "POST", target: `${P}/pods/web/eviction`, contentType: "application/json", body: JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "web", namespace: "production" } }), expect: "review", note: "kubectl drain's eviction" }),
  seed({ id: "sub-ephemeral", theme: "subresource", method: "PATCH", target: `${P}/pods/web/ephemeralcontainers`, contentType: STRATEGIC, body: JSON.stringify({ spec: { ephemeralContainers: [{ name: "debug", image: "busybox", command: ["sh"] }] } }), expect: "review", note: "kubectl debug: a container of one's own in a production pod" }),
  seed({ id: "sub-exec-websocket", theme: "subresource", method: "GET", target: exec("production", "sh"), expect: "review", note: "exec over WebSocket is a GET, but no read" }),
  seed({ id: "sub-exec-post", theme: "subresource", method: "POST", target: exec("production", "sh"), expect: "review", note: "exec over SPDY's POST" }),
  seed({ id: "sub-attach", theme: "subresource", method: "GET", target: `${P}/pods/web/attach?container=app&stdin=true&stdout=true&tty=true`, expect: "review", note: "attach instead of exec" }),
  seed({ id: "sub-portforward", theme: "subresource", method: "GET", target: `${P}/pods/db-0/portforward?ports=5432`, expect: "review", note: "port-forward to the production database" }),
  // Proxies.
  seed({ id: "proxy-pod", theme: "proxy", method: "GET", target: `${P}/pods/web:8080/proxy/admin/drop-tables`, expect: "review", note: "a GET through the pod proxy reaches whatever the pod does" }),
  seed({ id: "proxy-service", theme: "proxy", method: "GET", target: `${P}/services/https:web:443/proxy/`, expect: "review", note: "kubectl proxy-style service path" }),
  seed({ id: "proxy-service-post", theme: "proxy", method: "POST", target: `${P}/services/web/proxy/api/delete`, expect: "review", note: "a POST through the service proxy" }),
  seed({ id: "proxy-encoded-tail", theme: "proxy", method: "GET", target: `${P}/services/web:80/proxy/a%2F..%2F..%2Fsecrets`, expect: "refused", note: "an encoded slash in the proxied path" }),
  seed({ id: "proxy-node-exec", theme: "proxy", method: "GET", target: "/api/v1/nodes/node-1/proxy/exec/production/web/app?command=sh", expect: "deny", note: "the kubelet's exec through nodes/proxy" }),
  seed({ id: "proxy-node-pods", theme: "proxy", method: "GET", target: "/api/v1/nodes/node-1/proxy/pods", expect: "deny", note: "the kubelet's pod list through nodes/proxy" }),
  seed({ id: "proxy-legacy-prefix", theme: "legacy-prefix", method: "GET", target: `/api/v1/proxy/namespaces/production/pods/web/admin`, expect: "refused", note: "the legacy /proxy/ prefix (verb proxy, no subresource)" }),
  seed({ id: "watch-prefix-post", theme: "legacy-prefix", method: "POST", target: "/api/v1/watch/namespaces/production/pods", expect: "refused", note: "a POST under the /watch/ prefix" }),
  seed({ id: "watch-prefix-subresource", theme: "legacy-prefix", method: "GET", target: "/api/v1/watch/namespaces/production/pods/web/exec?command=sh", expect: "refused", note: "exec under the /watch/ prefix" }),
  // A namespace in the body that is not the path's.
  seed({ id: "body-namespace-json", theme: "body-namespace", method: "POST", target: `${S}/configmaps`, contentType: "application/json", body: JSON.stringify({ metadata: { name: "c", namespace: "production" } }), expect: "refused", note: "a staging path, a production body" }),
  seed({ id: "body-namespace-yaml", theme: "body-namespace", method: "POST", target: `${S}/configmaps`, contentType: "application/yaml", body: "metadata:\n  name: c\n  namespace: production\n", expect: "refused", note: "the same in YAML" }),
  seed({ id: "body-namespace-apply", theme: "body-namespace", method: "PATCH", target: `${APPS_S}/deployments/web?fieldManager=kubectl`, contentType: APPLY, body: "metadata:\n  name: web\n  namespace: production\n", expect: "refused", note: "server-side apply naming production" }),
  seed({ id: "body-namespace-json-patch", theme: "body-namespace", method: "PATCH", target: `${APPS_S}/deployments/web`, contentType: JSON_PATCH, body: JSON.stringify([{ op: "replace", path: "/metadata/namespace", value: "production" }]), expect: "refused", note: "a JSON patch moving the namespace" }),
  seed({ id: "body-namespace-cluster-path", theme: "body-namespace", method: "POST", target: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", contentType: "application/json", body: JSON.stringify({ metadata: { name: "x", namespace: "production" } }), expect: "refused", note: "a namespaced body on a cluster-scoped path" }),
  seed({ id: "body-protobuf", theme: "body-namespace", method: "POST", target: `${S}/configmaps`, contentType: "application/vnd.kubernetes.protobuf", body: "k8s\u0000", expect: "refused", note: "a protobuf body the gateway cannot read" }),
  seed({ id: "body-name-mismatch", theme: "body-namespace", method: "PUT", target: `${S}/configmaps/a`, contentType: "application/json", body: JSON.stringify({ metadata: { name: "b" } }), expect: "refused", note: "a body naming another object" }),
  // Impersonation.
  seed({ id: "imp-user", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["Impersonate-User", "admin"]], expect: "deny", note: "act as admin" }),
  seed({ id: "imp-masters", theme: "impersonation", method: "DELETE", target: P, headers: [["Impersonate-User", "alice"], ["Impersonate-Group", "system:masters"]], expect: "deny", note: "act in system:masters" }),
  seed({ id: "imp-service-account", theme: "impersonation", method: "GET", target: "/api/v1/namespaces/kube-system/secrets", headers: [["Impersonate-User", "system:serviceaccount:kube-system:default"]], expect: "deny", note: "act as a kube-system service account" }),
  seed({ id: "imp-group-alone", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["Impersonate-Group", "system:masters"]], expect: "refused", note: "a group without a user" }),
  seed({ id: "imp-lower-case", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["impersonate-user", "admin"]], expect: "deny", note: "the header in lower case" }),
  seed({ id: "imp-extra", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["Impersonate-User", "alice"], ["Impersonate-Extra-scopes", "cluster-admin"]], expect: "deny", note: "an extra of one's own choosing" }),
  seed({ id: "imp-uid", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["Impersonate-User", "alice"], ["Impersonate-Uid", "0"]], expect: "deny", note: "a uid" }),
  seed({ id: "imp-unknown", theme: "impersonation", method: "GET", target: `${S}/pods`, headers: [["Impersonate-Whatever", "x"]], expect: "refused", note: "an Impersonate-* header the server does not know" }),
  // Reads outside staging and production.
  seed({ id: "watch-all-secrets", theme: "watch", method: "GET", target: "/api/v1/secrets?watch=true", expect: "deny", note: "a watch of every namespace's secrets" }),
  seed({ id: "list-all-secrets", theme: "watch", method: "GET", target: "/api/v1/secrets", expect: "deny", note: "a list of every namespace's secrets" }),
  seed({ id: "watch-prefix-all", theme: "legacy-prefix", method: "GET", target: "/api/v1/watch/secrets", expect: "deny", note: "the same through the /watch/ prefix" }),
  seed({ id: "watch-kube-system", theme: "watch", method: "GET", target: "/api/v1/namespaces/kube-system/secrets?watch=1", expect: "deny", note: "kube-system's secrets" }),
  seed({ id: "watch-empty-value", theme: "watch", method: "GET", target: "/api/v1/namespaces/kube-system/secrets?watch=", expect: "deny", note: "watch= (a watch, for Go)" }),
  seed({ id: "field-selector-twice", theme: "field-selector", method: "GET", target: "/api/v1/namespaces/kube-system/secrets?fieldSelector=metadata.name%3Da&fieldSelector=metadata.name%3Db", expect: "refused", note: "two field selectors" }),
  seed({ id: "field-selector-bad", theme: "field-selector", method: "GET", target: "/api/v1/namespaces/production/secrets?fieldSelector=metadata.name%3Ddb,x", expect: "refused", note: "a selector the server cannot parse (it would authorize a list of all)" }),
  seed({ id: "query-watch-twice", theme: "query", method: "GET", target: "/api/v1/namespaces/kube-system/pods?watch=false&watch=true", expect: "refused", note: "watch given twice" }),
  seed({ id: "query-semicolon", theme: "query", method: "GET", target: "/api/v1/namespaces/production/pods?watch=0;watch=1", expect: "refused", note: "a semicolon Go drops and Node keeps" }),
  seed({ id: "query-bad-escape", theme: "query", method: "GET", target: "/api/v1/namespaces/production/pods/web/exec?command=%zz", expect: "refused", note: "a malformed escape" }),
  // Under the strict policy: production secrets, databases, shells in staging.
  strict({ id: "strict-get-secret", theme: "watch", method: "GET", target: `${P}/secrets/db`, expect: "deny", note: "get of a production secret" }),
  strict({ id: "strict-list-secrets", theme: "watch", method: "GET", target: `${P}/secrets`, expect: "deny", note: "a list reads what a get would" }),
  strict({ id: "strict-watch-secrets", theme: "watch", method: "GET", target: `${P}/secrets?watch=true`, expect: "deny", note: "a watch on the list" }),
  strict({ id: "strict-watch-prefix-secret", theme: "legacy-prefix", method: "GET", target: "/api/v1/watch/namespaces/production/secrets/db", expect: "deny", note: "a watch of one secret through the /watch/ prefix" }),
  strict({ id: "strict-field-selector-secret", theme: "field-selector", method: "GET", target: `${P}/secrets?fieldSelector=metadata.name%3Ddb`, expect: "deny", note: "a list pinned to the secret" }),
  strict({ id: "strict-field-selector-sorted", theme: "field-selector", method: "GET", target: `${P}/secrets?fieldSelector=metadata.name%3Dzz,metadata.name%3Ddb`, expect: "deny", note: "two names: Go sorts the terms" }),
  strict({ id: "strict-oncall-all-secrets", theme: "watch", method: "GET", target: "/api/v1/secrets", groups: ["oncall"], expect: "deny", note: "a list across every namespace reads production's secrets too" }),
  strict({ id: "strict-oncall-watch-all-secrets", theme: "watch", method: "GET", target: "/api/v1/secrets?watch=1&allowWatchBookmarks=true", groups: ["oncall"], expect: "deny", note: "a watch across every namespace" }),
  strict({ id: "strict-oncall-watch-prefix-all", theme: "legacy-prefix", method: "GET", target: "/api/v1/watch/secrets", groups: ["oncall"], expect: "deny", note: "the same through the /watch/ prefix" }),
  strict({ id: "strict-oncall-secret", theme: "watch", method: "GET", target: `${P}/secrets/db`, groups: ["oncall"], expect: "deny", note: "on-call reads everything but production's secrets" }),
  strict({ id: "strict-secrets-case", theme: "case", method: "GET", target: `${P}/Secrets`, expect: "refused", note: "Secrets" }),
  strict({ id: "strict-deletecollection-db", theme: "deletecollection", method: "DELETE", target: `${APPS_S}/statefulsets`, expect: "deny", note: "deletecollection dodging a rule against delete" }),
  strict({ id: "strict-deletecollection-label", theme: "deletecollection", method: "DELETE", target: `${APPS_S}/statefulsets?labelSelector=app%3Ddb`, expect: "deny", note: "deletecollection by label" }),
  strict({ id: "strict-delete-db", theme: "write-verb", method: "DELETE", target: `${APPS_S}/statefulsets/db-0`, expect: "deny", note: "delete of the database" }),
  strict({ id: "strict-delete-db-case", theme: "case", method: "DELETE", target: `${APPS_S}/statefulsets/DB-0`, expect: "refused", note: "DB-0" }),
  strict({ id: "strict-shell", theme: "exec-command", method: "GET", target: exec("staging", "sh"), expect: "deny", note: "sh" }),
  strict({ id: "strict-shell-path", theme: "exec-command", method: "GET", target: exec("staging", "/bin/sh"), expect: "deny", note: "/bin/sh" }),
  strict({ id: "strict-shell-env", theme: "exec-command", method: "GET", target: exec("staging", "env", "sh"), expect: "deny", note: "env sh" }),
  strict({ id: "strict-shell-busybox", theme: "exec-command", method: "GET", target: exec("staging", "busybox", "sh"), expect: "deny", note: "busybox sh" }),
  strict({ id: "strict-shell-nice", theme: "exec-command", method: "POST", target: exec("staging", "nice", "-n", "5", "bash", "-i"), expect: "deny", note: "nice bash" }),
  strict({ id: "strict-shell-case", theme: "exec-command", method: "GET", target: exec("staging", "SH"), expect: "deny", note: "SH" }),
  strict({ id: "strict-rm-via-sh-c", theme: "exec-command", method: "GET", target: exec("staging", "sh", "-c", "rm -rf /data"), expect: "deny", note: "rm inside sh -c" }),
  strict({ id: "strict-rm-after-true", theme: "exec-command", method: "GET", target: exec("staging", "bash", "-c", "true; rm -rf /data"), expect: "deny", note: "a shell string that is no simple command" }),
  strict({ id: "strict-python", theme: "exec-command", method: "GET", target: exec("staging", "python3", "-c", "import os; os.system('sh')"), expect: "deny", note: "an interpreter runs what the gateway cannot see" }),
  strict({ id: "strict-script", theme: "exec-command", method: "GET", target: exec("staging", "script", "-qc", "bash", "/dev/null"), expect: "deny", note: "script -c bash" }),
  strict({ id: "strict-attach", theme: "subresource", method: "GET", target: `${S}/pods/web/attach?stdin=true&tty=true`, expect: "deny", note: "attach to a shell already running" }),
  strict({ id: "strict-ephemeral", theme: "subresource", method: "PATCH", target: `${S}/pods/web/ephemeralcontainers`, contentType: STRATEGIC, body: "{}", expect: "deny", note: "a debug container runs a command the gateway cannot see" }),
  strict({ id: "strict-db-exec", theme: "exec-command", method: "GET", target: "/api/v1/namespaces/staging/pods/db-0/exec?command=ls", expect: "deny", note: "exec into a database pod" }),
  strict({ id: "strict-db-attach", theme: "subresource", method: "GET", target: "/api/v1/namespaces/production/pods/db-0/attach?stdin=true&tty=true", expect: "deny", note: "attach instead of exec (in production: denied, not held)" }),
  strict({ id: "strict-db-debug", theme: "subresource", method: "PATCH", target: "/api/v1/namespaces/production/pods/db-0/ephemeralcontainers", contentType: STRATEGIC, body: "{}", expect: "deny", note: "a debug container instead of exec (in production: denied, not held)" }),
  strict({ id: "strict-db-proxy", theme: "proxy", method: "GET", target: "/api/v1/namespaces/staging/pods/db-0:5432/proxy/", expect: "deny", note: "the pod proxy instead of port-forward" }),
  strict({ id: "strict-db-portforward", theme: "subresource", method: "GET", target: "/api/v1/namespaces/staging/pods/db-0/portforward?ports=5432", expect: "deny", note: "port-forward to a database pod" }),
  strict({ id: "strict-empty-exec", theme: "exec-command", method: "POST", target: `${S}/pods/web/exec?container=app`, expect: "deny", note: "an exec with no command" }),
];

/** Requests kubectl sends that the seed policy must keep allowing, with the rule that allows them. */
export interface LegitimateKubeRequest {
  readonly policy: "seed" | "strict";
  readonly method: string;
  readonly target: string;
  readonly contentType?: string;
  readonly body?: string;
  readonly groups?: readonly string[];
  readonly rule: string;
  readonly note: string;
}

export const LEGITIMATE_KUBE_REQUESTS: readonly LegitimateKubeRequest[] = [
  { policy: "seed", method: "GET", target: "/api?timeout=32s", rule: "builtin:discovery", note: "discovery" },
  { policy: "seed", method: "GET", target: "/apis?timeout=32s", rule: "builtin:discovery", note: "discovery" },
  { policy: "seed", method: "GET", target: "/apis/apps/v1?timeout=32s", rule: "builtin:discovery", note: "group version discovery" },
  { policy: "seed", method: "GET", target: "/version?timeout=32s", rule: "builtin:discovery", note: "kubectl version" },
  { policy: "seed", method: "GET", target: "/openapi/v3/apis/apps/v1?hash=ABC", rule: "builtin:discovery", note: "kubectl explain, apply" },
  { policy: "seed", method: "GET", target: `${P}/pods?limit=500`, rule: "developers-read", note: "kubectl get pods" },
  { policy: "seed", method: "GET", target: `${P}/pods/web`, rule: "developers-read", note: "kubectl get pod web -o yaml" },
  { policy: "seed", method: "GET", target: `${P}/pods?fieldSelector=metadata.name%3Dweb&watch=true`, rule: "developers-read", note: "kubectl get pod web -w" },
  { policy: "seed", method: "GET", target: `${P}/events?fieldSelector=involvedObject.name%3Dweb%2CinvolvedObject.namespace%3Dproduction`, rule: "developers-read", note: "kubectl describe pod's events" },
  { policy: "seed", method: "GET", target: `${P}/pods/web/log?container=app&follow=true&tailLines=10`, rule: "developers-read", note: "kubectl logs -f" },
  { policy: "seed", method: "GET", target: `${APPS_P}/deployments?watch=1&resourceVersion=100`, rule: "developers-read", note: "a watch of deployments" },
  { policy: "seed", method: "GET", target: `${S}`, rule: "developers-read", note: "kubectl get namespace staging" },
  { policy: "seed", method: "POST", target: `${APPS_S}/deployments?fieldManager=kubectl-client-side-apply&fieldValidation=Strict`, contentType: "application/json", body: JSON.stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "staging" } }), rule: "developers-write-staging", note: "kubectl apply (create) in staging" },
  { policy: "seed", method: "PATCH", target: `${APPS_S}/deployments/web?fieldManager=kubectl-client-side-apply`, contentType: STRATEGIC, body: JSON.stringify({ spec: { replicas: 3 } }), rule: "developers-write-staging", note: "kubectl apply (patch) in staging" },
  { policy: "seed", method: "PATCH", target: `${APPS_S}/deployments/web?fieldManager=kubectl&force=false`, contentType: APPLY, body: "metadata:\n  name: web\n  namespace: staging\n", rule: "developers-write-staging", note: "kubectl apply --server-side in staging" },
  { policy: "seed", method: "DELETE", target: `${S}/pods/web`, rule: "developers-write-staging", note: "kubectl delete pod in staging" },
  { policy: "seed", method: "GET", target: exec("staging", "sh"), rule: "developers-write-staging", note: "kubectl exec -it web -- sh, in staging" },
  { policy: "seed", method: "GET", target: `${S}/pods/web/portforward?ports=8080`, rule: "developers-write-staging", note: "kubectl port-forward in staging" },
  { policy: "seed", method: "GET", target: `${S}/services/web:80/proxy/`, rule: "developers-write-staging", note: "kubectl proxy to a staging service" },
  { policy: "strict", method: "GET", target: exec("staging", "ls", "-la", "/srv"), rule: "developers-write-staging", note: "a plain command in staging under the strict policy" },
  { policy: "strict", method: "GET", target: `${P}/configmaps/web`, rule: "developers-read", note: "a production configmap under the strict policy" },
  { policy: "strict", method: "GET", target: "/api/v1/pods?limit=500", groups: ["oncall"], rule: "oncall-reads-everywhere", note: "kubectl get pods -A, on call" },
];
