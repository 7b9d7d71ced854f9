// The API server's own RequestInfo test table (k8s.io/apiserver/pkg/endpoints/request/
// requestinfo_test.go: TestGetAPIRequestInfo, TestGetNonAPIRequestInfo, TestFieldSelectorParsing),
// ported as data: method, URL and what RequestInfo yields. request-info-upstream.test.ts runs
// each through classifyRequest and compares. Where the classifier deliberately refuses what the
// server would accept, the case says `refused` and why (the server's reading is kept beside it).

export interface UpstreamInfo {
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  /** "" when the server sets no namespace. */
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

export interface UpstreamCase {
  readonly method: string;
  readonly url: string;
  /** RequestInfo's answer for a resource request; "non-resource" when IsResourceRequest is false. */
  readonly upstream: UpstreamInfo | "non-resource";
  /** Set when the classifier refuses the request on purpose: why. */
  readonly refused?: string;
  /** A note on the row. */
  readonly note?: string;
}

const r = (verb: string, group: string, version: string, namespace: string, resource: string, subresource: string, name: string): UpstreamInfo => ({ verb, group, version, namespace, resource, subresource, name });

export const UPSTREAM_CASES: readonly UpstreamCase[] = [
  // TestGetAPIRequestInfo: resource paths
  { method: "GET", url: "/api/v1/namespaces", upstream: r("list", "", "v1", "", "namespaces", "", "") },
  { method: "GET", url: "/api/v1/namespaces/other", upstream: r("get", "", "v1", "other", "namespaces", "", "other") },
  { method: "GET", url: "/api/v1/namespaces/other/pods", upstream: r("list", "", "v1", "other", "pods", "", "") },
  { method: "GET", url: "/api/v1/namespaces/other/pods/foo", upstream: r("get", "", "v1", "other", "pods", "", "foo") },
  { method: "HEAD", url: "/api/v1/namespaces/other/pods/foo", upstream: r("get", "", "v1", "other", "pods", "", "foo") },
  { method: "GET", url: "/api/v1/pods", upstream: r("list", "", "v1", "", "pods", "", "") },
  { method: "HEAD", url: "/api/v1/pods", upstream: r("list", "", "v1", "", "pods", "", "") },
  {
    method: "PATCH",
    url: "/api/v1/namespaces/new-namespace",
    upstream: r("patch", "", "v1", "new-namespace", "namespaces", "", "new-namespace"),
    note: "the stored test table expects namespace \"\" here, but requestinfo.go (the three versions read: kubernetes/kubernetes at 01bb682 and db8b216, a fork at 08d114e) sets Namespace to the name for /namespaces/{name}; the code is what the server runs",
  },
  // special verbs
  {
    method: "GET",
    url: "/api/v1/proxy/namespaces/other/pods/foo",
    upstream: r("proxy", "", "v1", "other", "pods", "", "foo"),
    refused: "the legacy /proxy/ prefix is no longer served; RequestInfo would call it verb proxy without a subresource",
  },
  {
    method: "GET",
    url: "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource",
    upstream: r("proxy", "", "v1", "other", "pods", "", "foo"),
    refused: "the legacy /proxy/ prefix",
  },
  { method: "GET", url: "/api/v1/watch/pods", upstream: r("watch", "", "v1", "", "pods", "", "") },
  { method: "GET", url: "/api/v1/pods?watch=true", upstream: r("watch", "", "v1", "", "pods", "", "") },
  { method: "GET", url: "/api/v1/pods?watch=false", upstream: r("list", "", "v1", "", "pods", "", "") },
  { method: "GET", url: "/api/v1/watch/namespaces/other/pods", upstream: r("watch", "", "v1", "other", "pods", "", "") },
  { method: "GET", url: "/api/v1/namespaces/other/pods?watch=1", upstream: r("watch", "", "v1", "other", "pods", "", "") },
  { method: "GET", url: "/api/v1/namespaces/other/pods?watch=0", upstream: r("list", "", "v1", "other", "pods", "", "") },
  // subresource identification
  { method: "GET", url: "/api/v1/namespaces/other/pods/foo/status", upstream: r("get", "", "v1", "other", "pods", "status", "foo") },
  { method: "GET", url: "/api/v1/namespaces/other/pods/foo/proxy/subpath", upstream: r("get", "", "v1", "other", "pods", "proxy", "foo") },
  { method: "PUT", url: "/api/v1/namespaces/other/finalize", upstream: r("update", "", "v1", "other", "namespaces", "finalize", "other") },
  { method: "PUT", url: "/api/v1/namespaces/other/status", upstream: r("update", "", "v1", "other", "namespaces", "status", "other") },
  // verb identification
  { method: "PATCH", url: "/api/v1/namespaces/other/pods/foo", upstream: r("patch", "", "v1", "other", "pods", "", "foo") },
  { method: "DELETE", url: "/api/v1/namespaces/other/pods/foo", upstream: r("delete", "", "v1", "other", "pods", "", "foo") },
  { method: "POST", url: "/api/v1/namespaces/other/pods", upstream: r("create", "", "v1", "other", "pods", "", "") },
  // deletecollection verb identification
  { method: "DELETE", url: "/api/v1/nodes", upstream: r("deletecollection", "", "v1", "", "nodes", "", "") },
  { method: "DELETE", url: "/api/v1/namespaces", upstream: r("deletecollection", "", "v1", "", "namespaces", "", "") },
  { method: "DELETE", url: "/api/v1/namespaces/other/pods", upstream: r("deletecollection", "", "v1", "other", "pods", "", "") },
  { method: "DELETE", url: "/apis/extensions/v1/namespaces/other/pods", upstream: r("deletecollection", "extensions", "v1", "other", "pods", "", "") },
  // api group and version identification
  { method: "POST", url: "/apis/extensions/v1/namespaces/other/pods", upstream: r("create", "extensions", "v1", "other", "pods", "", "") },
  { method: "POST", url: "/apis/extensions/v1beta3/namespaces/other/pods", upstream: r("create", "extensions", "v1beta3", "other", "pods", "", "") },
  // TestGetAPIRequestInfo: error cases (non-resource requests)
  { method: "GET", url: "/", upstream: "non-resource" },
  { method: "GET", url: "/api/version/", upstream: "non-resource", refused: "a trailing slash (the server trims it; the gateway refuses slashes it would have to trim)" },
  { method: "GET", url: "/apis/group/version/", upstream: "non-resource", refused: "a trailing slash" },
  { method: "GET", url: "/badprefix/version/resource", upstream: "non-resource" },
  { method: "GET", url: "/apis/version/resource", upstream: "non-resource" },
  // TestGetNonAPIRequestInfo
  { method: "GET", url: "/api/version/resource", upstream: r("list", "", "version", "", "resource", "", "") },
  { method: "GET", url: "/apis/group/version/resource/name/subresource", upstream: r("get", "group", "version", "", "resource", "subresource", "name") },
  { method: "GET", url: "/api/version/resource/name/subresource", upstream: r("get", "", "version", "", "resource", "subresource", "name") },
  { method: "GET", url: "/apis/batch/v1/job", upstream: r("list", "batch", "v1", "", "job", "", "") },
  { method: "GET", url: "/apis/batch/v1/job/foo", upstream: r("get", "batch", "v1", "", "job", "", "foo") },
  { method: "GET", url: "/apis/batch/v1/job/foo/scale", upstream: r("get", "batch", "v1", "", "job", "scale", "foo") },
  { method: "GET", url: "/not-api/version/resource", upstream: "non-resource" },
  { method: "GET", url: "/apis/extensions/v1beta1", upstream: "non-resource" },
  { method: "GET", url: "/apis/extensions/v1beta1/", upstream: "non-resource", refused: "a trailing slash" },
  { method: "GET", url: "/api/version", upstream: "non-resource" },
  { method: "GET", url: "/api", upstream: "non-resource" },
  { method: "GET", url: "", upstream: "non-resource", refused: "an empty request target is not an absolute path" },
  // TestFieldSelectorParsing
  { method: "GET", url: "/apis/group/version/resource", upstream: r("list", "group", "version", "", "resource", "", "") },
  { method: "GET", url: "/apis/group/version/resource?fieldSelector=metadata.name=name1", upstream: r("list", "group", "version", "", "resource", "", "name1") },
  { method: "GET", url: "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", upstream: r("watch", "group", "version", "", "resource", "", "name1") },
  { method: "GET", url: "/apis/group/version/resource?fieldSelector=foo=bar", upstream: r("list", "group", "version", "", "resource", "", "") },
  {
    method: "GET",
    url: "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo",
    upstream: r("list", "group", "version", "", "resource", "", ""),
    refused: "an invalid field selector (the server logs it, authorizes a list of everything, and its list handler then fails to decode the options)",
  },
  {
    method: "GET",
    url: "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true",
    upstream: r("watch", "group", "version", "", "resource", "", ""),
    refused: "an invalid field selector",
  },
  {
    method: "GET",
    url: "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false",
    upstream: r("list", "group", "version", "", "resource", "", ""),
    refused: "an invalid field selector",
  },
];
