// The pod subresources that are not plain REST: log (a stream), proxy (an HTTP relay to the
// pod's port) and the WebSocket upgrades of exec, attach and portforward, with the kubelet's
// container rules (the one container, or a name from containers or ephemeralContainers).
import { counted, STREAM_MARK } from "./handler.ts";
import type { HandlerContext, Upgrader, WsSession } from "./handler.ts";
import { PortForwardSession, PORTFORWARD_PROTOCOLS } from "./portforward.ts";
import { ChannelSession, REMOTECOMMAND_PROTOCOLS } from "./remotecommand.ts";
import * as rest from "./rest.ts";
import type { RestTarget } from "./rest.ts";
import type { ResourceRequest } from "./routes.ts";
import { ApiError, errors, statusBody } from "./status.ts";
import type { KubeObject } from "./store.ts";

function podAndContainer(ctx: HandlerContext, target: RestTarget, container: string | null): { pod: KubeObject; container: KubeObject } {
  const pod = rest.get(ctx.deps, target).body;
  const containers: KubeObject[] = pod.spec?.containers ?? [];
  const ephemeral: KubeObject[] = pod.spec?.ephemeralContainers ?? [];
  let c: KubeObject | undefined;
  if (container) {
    c = containers.find((x) => x.name === container) ?? ephemeral.find((x) => x.name === container);
    if (!c) throw errors.badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
  } else if (containers.length === 1) c = containers[0];
  else throw errors.badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.map((x) => x.name).join(" ")}]`);
  return { pod, container: c! };
}

/**
 * pods/NAME[:PORT]/proxy/PATH: the request relayed over HTTP to the pod port's local stand-in
 * (mapPort), its answer returned as it is; 503 as the API server words it when nothing listens.
 */
export async function podProxy(ctx: HandlerContext, req: Request, url: URL, target: RestTarget): Promise<Response> {
  const [podName, portText] = (target.name ?? "").split(":") as [string, string | undefined];
  const pod = rest.get(ctx.deps, { ...target, name: podName }).body;
  const declared = (pod.spec?.containers ?? []).flatMap((c: KubeObject) => c.ports ?? []).map((p: KubeObject) => p.containerPort as number);
  const port = portText ? Number(portText) : (declared[0] ?? 80);
  const marker = `/proxy`;
  const at = url.pathname.indexOf(marker, url.pathname.indexOf(`/pods/${target.name}`));
  const rest_ = at >= 0 ? url.pathname.slice(at + marker.length) || "/" : "/";
  const t = ctx.runtime.portTarget(pod.metadata.namespace, pod.metadata.name, port);
  const unreachable = (why: string) =>
    new ApiError(statusBody(503, "ServiceUnavailable", `error trying to reach service: dial tcp ${pod.status?.podIP ?? "10.244.0.1"}:${port}: ${why}`));
  if (!t) throw unreachable("connect: connection refused");
  const headers = new Headers(req.headers);
  for (const h of ["authorization", "host", "connection", "content-length"]) headers.delete(h);
  const query = new URLSearchParams(url.search);
  try {
    const res = await fetch(`http://${t.host}:${t.port}${rest_}${query.toString() ? `?${query}` : ""}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
      redirect: "manual",
    });
    const out = new Headers(res.headers);
    out.delete("content-length");
    out.delete("transfer-encoding");
    return new Response(await res.arrayBuffer(), { status: res.status, headers: out });
  } catch (e) {
    throw unreachable(e instanceof Error ? e.message : String(e));
  }
}

export function podLog(ctx: HandlerContext, req: Request, target: RestTarget): Response {
  if (req.method !== "GET") throw errors.methodNotAllowed();
  const q = target.query;
  const { pod, container } = podAndContainer(ctx, target, q.get("container"));
  if (q.get("previous") === "true") throw errors.badRequest(`previous terminated container "${container.name}" in pod "${pod.metadata.name}" not found`);
  const num = (k: string) => (q.get(k) === null ? undefined : Number(q.get(k)));
  const stream = ctx.logs.stream(pod.metadata.namespace, pod.metadata.name, container.name, {
    follow: q.get("follow") === "true",
    tailLines: num("tailLines"),
    limitBytes: num("limitBytes"),
    timestamps: q.get("timestamps") === "true",
    sinceSeconds: num("sinceSeconds"),
  }, req.signal);
  return new Response(counted(ctx, stream), { headers: { "Content-Type": "text/plain", [STREAM_MARK]: "1" } });
}

function negotiate(offered: string | null, supported: readonly string[]): string | undefined {
  for (const p of (offered ?? "").split(",").map((s) => s.trim())) if (supported.includes(p)) return p;
  return undefined;
}

export function upgrade(ctx: HandlerContext, req: Request, upgrader: Upgrader | undefined, info: ResourceRequest, target: RestTarget): Response | undefined {
  const up = (req.headers.get("upgrade") ?? "").toLowerCase();
  if (up.startsWith("spdy")) {
    throw errors.badRequest(
      `this API server stand-in does not accept SPDY upgrades for ${info.subresource}: use WebSockets (kubectl 1.30+ does by default; do not set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false or KUBECTL_PORT_FORWARD_WEBSOCKETS=false)`,
    );
  }
  if (up !== "websocket" || !upgrader) throw errors.badRequest("Upgrade request required");
  const q = target.query;
  const offered = req.headers.get("sec-websocket-protocol");
  if (info.subresource === "portforward") {
    const protocol = negotiate(offered, PORTFORWARD_PROTOCOLS);
    if (!protocol) throw errors.badRequest(`unable to upgrade: requested protocol(s) are not supported: ${offered ?? ""}; supported protocols are ${PORTFORWARD_PROTOCOLS.join(", ")}`);
    const pod = rest.get(ctx.deps, target).body;
    const ports = q.getAll("ports").flatMap((p) => p.split(",")).map(Number);
    let session: PortForwardSession | undefined;
    let done = () => {};
    const data: WsSession = {
      open: (ws) => {
        done = ctx.streamOpened();
        session = new PortForwardSession(ws, { protocol, ports, target: (port) => ctx.runtime.portTarget(pod.metadata.namespace, pod.metadata.name, port), podName: pod.metadata.name, podUid: pod.metadata.uid, namespace: pod.metadata.namespace });
      },
      message: (m) => session?.onMessage(m),
      close: () => {
        session?.onClose();
        done();
      },
    };
    upgrader(protocol, data);
    return undefined;
  }
  const protocol = negotiate(offered, REMOTECOMMAND_PROTOCOLS);
  if (!protocol) throw errors.badRequest(`unable to upgrade: requested protocol(s) are not supported: ${offered ?? ""}; supported protocols are ${REMOTECOMMAND_PROTOCOLS.join(", ")}`);
  const { pod, container } = podAndContainer(ctx, target, q.get("container"));
  // The API server decodes these with strconv.ParseBool: python3-kubernetes sends "True".
  const flag = (k: string) => ["1", "t", "T", "TRUE", "true", "True"].includes(q.get(k) ?? "");
  const streams = { stdin: flag("stdin"), stdout: flag("stdout"), stderr: flag("stderr"), tty: flag("tty") };
  const isExec = info.subresource === "exec";
  const argv = q.getAll("command");
  if (isExec && argv.length === 0) throw errors.badRequest("you must specify at least 1 command");
  if (!streams.stdin && !streams.stdout && !streams.stderr) throw errors.badRequest("you must specify at least 1 of stdin, stdout, stderr");
  let session: ChannelSession | undefined;
  let done = () => {};
  const data: WsSession = {
    open: (ws) => {
      done = ctx.streamOpened();
      const proc = isExec ? ctx.runtime.exec(pod, container, argv, streams.tty, streams.stdin) : ctx.runtime.main(pod, container);
      session = new ChannelSession(ws, { process: proc, streams, protocol, argv: isExec ? argv : (container.command ?? ["sh"]), killOnClose: isExec });
    },
    message: (m) => session?.onMessage(m),
    close: () => {
      session?.onClose();
      done();
    },
  };
  upgrader(protocol, data);
  return undefined;
}
