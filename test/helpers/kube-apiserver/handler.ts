// One request: authenticate the bearer token, classify the URL, authorize, then serve discovery,
// a REST verb, a watch, a log, or upgrade to a WebSocket for exec/attach/port-forward, answering
// errors as metav1.Status and lists or objects as Tables when the Accept header asks for them.
import { AGGREGATED_V2, AGGREGATED_V2BETA1, VERSION_INFO, aggregatedDiscovery, apiGroupDoc, apiGroupList, apiResourceList, apiVersions, wantsAggregated } from "./discovery.ts";
import type { PodLogs } from "./logs.ts";
import { openApiDocument } from "./openapi.ts";
import type { PodRuntime } from "./pod-runtime.ts";
import { podLog, podProxy, upgrade } from "./pod-subresources.ts";
import { PROTOBUF, decodeProtobufBody } from "./protobuf.ts";
import { groupVersions } from "./resources.ts";
import * as rest from "./rest.ts";
import type { RestReply, RestTarget } from "./rest.ts";
import { classify } from "./routes.ts";
import type { ResourceRequest } from "./routes.ts";
import { ApiError, errors } from "./status.ts";
import { toTable } from "./table.ts";
import type { IncludeObject } from "./table.ts";
import { watchStream } from "./watch.ts";
import type { WsConn } from "./websocket.ts";
import type { RecordedRequest } from "./index.ts";

export interface RequestAttributes {
  readonly verb: string;
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly subresource: string | undefined;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  /** The user the request acts as: Impersonate-User when given, else the credential's user. */
  readonly user: string;
  /** Impersonate-Group values. */
  readonly groups: readonly string[];
}

/** true to allow; a string is the reason given in the 403. */
export type Authorizer = (a: RequestAttributes) => true | string;

export interface WsSession {
  open(ws: WsConn): void;
  message(m: string | Uint8Array): void;
  close(): void;
}

export interface HandlerContext {
  readonly token: string;
  readonly user: string;
  readonly authorize: Authorizer;
  readonly deps: rest.RestDeps;
  readonly logs: PodLogs;
  readonly runtime: PodRuntime;
  serverAddress(): string;
  record(r: RecordedRequest): void;
  onStop(end: () => void): () => void;
  streamOpened(): () => void;
}

const JSON_TYPE = "application/json";
const TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io";

function json(body: unknown, status = 200, contentType = JSON_TYPE): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": contentType, "Cache-Control": "no-cache, private" } });
}

function statusResponse(e: ApiError): Response {
  return json(e.status, e.status.code);
}

function wantsTable(accept: string): boolean {
  return accept.split(",").some((a) => {
    const p = a.replace(/\s+/g, "").toLowerCase();
    return p.includes("as=table") && p.includes("g=meta.k8s.io") && p.includes("v=v1");
  });
}

/** Refuses an Accept header with no JSON in it (protobuf only, say): this server speaks JSON. */
function checkAccept(accept: string): void {
  if (accept === "") return;
  const ok = accept.split(",").some((a) => {
    const t = a.split(";")[0]!.trim().toLowerCase();
    return t === "application/json" || t === "*/*" || t === "application/*" || t === "application/yaml" || t === "text/plain";
  });
  if (!ok) throw errors.notAcceptable(`only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io`);
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get("includeObject");
  return v === "None" || v === "Object" ? v : "Metadata";
}

/** Accepts a WebSocket upgrade with `protocol`, the session then fed its messages. */
export type Upgrader = (protocol: string, session: WsSession) => void;

/** Marks a streamed response (watch, log): the server flushes its headers at once and sends it chunked. */
export const STREAM_MARK = "X-Kube-Apiserver-Stream";

/** Counts a stream as open until it ends or the client cancels it. */
export function counted(ctx: HandlerContext, inner: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const done = ctx.streamOpened();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  const reader = inner.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done: end } = await reader.read();
      if (end) {
        finish();
        controller.close();
      } else controller.enqueue(value);
    },
    cancel(reason) {
      finish();
      void reader.cancel(reason);
    },
  });
}

export async function handleRequest(ctx: HandlerContext, req: Request, upgrader: Upgrader | undefined, certUser?: string): Promise<Response | undefined> {
  const url = new URL(req.url);
  const h = req.headers;
  ctx.record({
    method: req.method,
    path: url.pathname,
    query: url.search,
    accept: h.get("accept") ?? "",
    contentType: h.get("content-type") ?? "",
    authorization: h.get("authorization") ?? "",
    upgrade: h.get("upgrade") ?? "",
    websocketProtocol: h.get("sec-websocket-protocol") ?? "",
    clientCertificate: certUser ?? "",
    userAgent: h.get("user-agent") ?? "",
    impersonate: [...h.entries()].filter(([k]) => k.toLowerCase().startsWith("impersonate-")).map(([k, v]) => `${k.toLowerCase()}: ${v}`),
  });
  try {
    if (certUser === undefined && h.get("authorization") !== `Bearer ${ctx.token}`) throw errors.unauthorized();
    const accept = h.get("accept") ?? "";
    const info = classify(req.method, url);
    if (info.kind === "nonresource") return nonResource(ctx, url.pathname, accept, req.method);
    // A proxied request carries whatever Accept its client sends to the pod.
    if (info.subresource !== "proxy") checkAccept(accept);
    if (!info.def) throw errors.pathNotFound();
    // Impersonate-User acts as that user (the credential here is a cluster admin's, allowed to).
    const user = h.get("impersonate-user") ?? certUser ?? ctx.user;
    const groups = (h.get("impersonate-group") ?? "").split(",").map((g) => g.trim()).filter(Boolean);
    const verdict = ctx.authorize({ verb: info.verb, group: info.group, version: info.version, resource: info.resource, subresource: info.subresource, namespace: info.namespace, name: info.name, user, groups });
    if (verdict !== true) {
      const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
      throw errors.forbidden(user, info.verb, info.def, resource, info.name, info.namespace, verdict);
    }
    const target: RestTarget = { def: info.def, namespace: info.namespace, name: info.name, subresource: info.subresource, query: url.searchParams };
    if (info.subresource === "exec" || info.subresource === "attach" || info.subresource === "portforward") return upgrade(ctx, req, upgrader, info, target);
    if (info.subresource === "log") return podLog(ctx, req, target);
    if (info.subresource === "proxy" && info.def.kind === "Pod") return await podProxy(ctx, req, url, target);
    return await resourceVerb(ctx, req, info, target, accept);
  } catch (e) {
    if (e instanceof ApiError) return statusResponse(e);
    const msg = e instanceof Error ? e.message : String(e);
    return statusResponse(errors.internal(msg));
  }
}

function nonResource(ctx: HandlerContext, path: string, accept: string, method: string): Response {
  if (method !== "GET" && method !== "HEAD") throw errors.methodNotAllowed();
  switch (path) {
    case "/healthz":
    case "/livez":
    case "/readyz":
      return new Response("ok", { headers: { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" } });
    case "/version":
      return json(VERSION_INFO);
    case "/api":
    case "/apis": {
      const agg = wantsAggregated(accept);
      if (agg) return json(aggregatedDiscovery(path === "/api", agg), 200, agg === "v2" ? AGGREGATED_V2 : AGGREGATED_V2BETA1);
      return json(path === "/api" ? apiVersions(ctx.serverAddress()) : apiGroupList());
    }
    default:
      break;
  }
  const openapi = openApiDocument(path);
  if (openapi) return json(openapi);
  const seg = path.split("/").filter(Boolean);
  if (seg[0] === "api" && seg.length === 2 && groupVersions().some((g) => g.group === "" && g.version === seg[1])) return json(apiResourceList("", seg[1]!));
  if (seg[0] === "apis" && seg.length === 2) {
    const g = apiGroupDoc(seg[1]!);
    if (g) return json(g);
  }
  if (seg[0] === "apis" && seg.length === 3 && groupVersions().some((g) => g.group === seg[1] && g.version === seg[2])) return json(apiResourceList(seg[1]!, seg[2]!));
  throw errors.pathNotFound();
}

async function bodyText(req: Request): Promise<string> {
  return await req.text();
}

/** The request body as JSON: JSON, YAML, or the protobuf typed clients send. */
async function readBody(req: Request): Promise<unknown> {
  const ct = req.headers.get("content-type") ?? "";
  if (ct.toLowerCase().startsWith(PROTOBUF)) return decodeProtobufBody(new Uint8Array(await req.arrayBuffer()));
  return rest.parseBody(await req.text(), ct);
}

function reply(r: RestReply, target: RestTarget, accept: string): Response {
  const isStatus = r.body.kind === "Status";
  if (!isStatus && r.tableRows && wantsTable(accept)) {
    const table = toTable(target.def, r.tableRows, r.body.metadata?.resourceVersion, includeObject(target.query));
    if (r.body.metadata?.continue) table.metadata = { ...table.metadata, continue: r.body.metadata.continue, remainingItemCount: r.body.metadata.remainingItemCount };
    return json(table, r.status, TABLE_TYPE);
  }
  return json(r.body, r.status);
}

async function resourceVerb(ctx: HandlerContext, req: Request, info: ResourceRequest, target: RestTarget, accept: string): Promise<Response> {
  const deps = ctx.deps;
  const ua = req.headers.get("user-agent") ?? "";
  const sub = info.subresource;
  if (sub !== undefined && !info.def!.subresources.some((s) => s.name === sub)) throw errors.pathNotFound();
  if (!info.def!.verbs.includes(info.verb) && sub === undefined) throw errors.methodNotAllowed();
  switch (info.verb) {
    case "list":
      return reply(rest.list(deps, target), target, accept);
    case "watch": {
      if (info.name !== undefined) {
        // GET .../NAME?watch=true: a watch of that one object (fieldSelector metadata.name).
        target.query.set("fieldSelector", `metadata.name=${info.name}`);
      }
      const stream = watchStream({ store: deps.store, target: { ...target, name: undefined }, table: wantsTable(accept) ? includeObject(target.query) : undefined, signal: req.signal, onStop: ctx.onStop });
      return new Response(counted(ctx, stream), { headers: { "Content-Type": wantsTable(accept) ? TABLE_TYPE : JSON_TYPE, "Cache-Control": "no-cache, private", [STREAM_MARK]: "1" } });
    }
    case "get":
      return reply(sub ? rest.getSubresource(deps, target) : rest.get(deps, target), target, accept);
    case "create": {
      if (sub === "eviction") {
        rest.remove(deps, target, undefined);
        return json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 }, 201);
      }
      if (sub !== undefined) throw errors.methodNotAllowed();
      if (info.name !== undefined) throw errors.methodNotAllowed();
      return reply(rest.create(deps, target, await readBody(req), ua), target, accept);
    }
    case "update": {
      return reply(rest.update(deps, target, await readBody(req), ua), target, accept);
    }
    case "patch":
      return reply(rest.patch(deps, target, await bodyText(req), req.headers.get("content-type") ?? "", ua), target, accept);
    case "delete": {
      const raw = new Uint8Array(await req.arrayBuffer());
      const ct = req.headers.get("content-type") ?? "";
      const body = raw.length === 0 ? undefined : ct.toLowerCase().startsWith(PROTOBUF) ? decodeProtobufBody(raw) : rest.parseBody(new TextDecoder().decode(raw), ct);
      return reply(rest.remove(deps, target, body), target, accept);
    }
    case "deletecollection":
      return reply(rest.removeCollection(deps, target), target, accept);
    default:
      throw errors.methodNotAllowed();
  }
}
