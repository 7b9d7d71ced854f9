// A stand-in Kubernetes API server for tests: HTTPS on 127.0.0.1 (its own CA), one bearer token,
// discovery, in-memory resources with watch, Table printing, Status errors, pod logs, and
// exec/attach/port-forward over WebSocket to real local processes and ports. Real kubectl is the
// yardstick: every format here is what kubectl v1.32 sends and expects. Nothing is shared between
// two servers; start as many as a test needs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { PodLogs } from "./logs.ts";
import { findResource } from "./resources.ts";
import type { ResourceDef } from "./resources.ts";
import type { HandlerContext, Authorizer } from "./handler.ts";
import { serveHttp, serveUpgrade } from "./http-server.ts";
import { ObjectStore } from "./store.ts";
import type { KubeObject } from "./store.ts";
import { makeServerTls } from "./tls.ts";
import { PodRuntime } from "./pod-runtime.ts";
import * as rest from "./rest.ts";

export type { Authorizer, RequestAttributes } from "./handler.ts";
export type { KubeObject } from "./store.ts";

export interface KubeApiServerOptions {
  /** The one bearer token accepted (default: a random one, returned as `token`). */
  readonly token?: string;
  /** The user name Forbidden messages name (default "gatehouse-upstream"). */
  readonly user?: string;
  /** Decides each resource request; a string is the reason of a 403 (default: allow all). */
  readonly authorize?: Authorizer;
  /** Answers SelfSubjectAccessReview (default: allowed). */
  readonly accessReview?: (spec: KubeObject) => { allowed: boolean; reason?: string; denied?: boolean };
  /** How many changes a watch can resume after (default 10000); older resourceVersions get 410 Expired. */
  readonly watchHistory?: number;
  /** Namespaces to create besides default, kube-system, kube-public and kube-node-lease. */
  readonly namespaces?: readonly string[];
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly accept: string;
  readonly contentType: string;
  readonly authorization: string;
  readonly upgrade: string;
  /** Sec-WebSocket-Protocol as offered (exec, attach, port-forward). */
  readonly websocketProtocol: string;
  /** The CN of a verified client certificate, or "". */
  readonly clientCertificate: string;
  readonly userAgent: string;
  /** Impersonate-* headers as "name: value" (lower-case names). */
  readonly impersonate: readonly string[];
}

export interface KubeApiServer {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The CA that signed the server certificate (PEM), for kubeconfig certificate-authority-data. */
  readonly caPem: string;
  readonly token: string;
  /** A client certificate and key (PEM) this server accepts instead of the token (user: its CN). */
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  readonly store: ObjectStore;
  readonly logs: PodLogs;
  /** Every request seen, oldest first (a test can check what reached the cluster). */
  readonly requests: RecordedRequest[];
  /** Creates (or replaces) an object as if applied by an administrator; returns the stored object. */
  put(obj: KubeObject): KubeObject;
  /** A stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string, name: string): KubeObject | undefined;
  /** A pod in Running state with one container per name in `containers` (default ["main"]). */
  addPod(namespace: string, name: string, opts?: { containers?: string[]; image?: string; labels?: Record<string, string>; command?: string[] }): KubeObject;
  /** Maps a pod's container port to a real local port that pods/portforward connects to. */
  mapPort(namespace: string, pod: string, podPort: number, localPort: number, host?: string): void;
  /** Appends to a container's log (a trailing newline is implied). */
  appendLog(namespace: string, pod: string, container: string, text: string): void;
  /** Ends the followers of a pod's logs (the container exited). */
  endLogs(namespace: string, pod: string): void;
  /** A kubeconfig (YAML) for this server: cluster with its CA, user with the token. */
  kubeconfig(opts?: { namespace?: string; token?: string; clientCertificate?: boolean }): string;
  /** Output read from the live exec/attach processes, and how many of them wait for a slow reader. */
  processStats(): { bytesOut: number; paused: number };
  /** The number of open watch, log and WebSocket streams (to wait for a client to connect). */
  openStreams(): number;
  stop(): Promise<void>;
}

function resourceFor(apiVersion: string, kind: string): ResourceDef {
  const [group, version] = apiVersion.includes("/") ? (apiVersion.split("/") as [string, string]) : ["", apiVersion];
  const def = [...new Set(["pods", "deployments", "namespaces", "configmaps", "secrets", "services", "events"])]
    .map((r) => findResource(group, version, r))
    .find((d) => d?.kind === kind);
  if (!def) throw new Error(`kube-apiserver stand-in: no resource for ${apiVersion} ${kind}`);
  return def;
}

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const tls = makeServerTls();
  const token = opts.token ?? `kube-token-${crypto.randomUUID()}`;
  const store = new ObjectStore(opts.watchHistory);
  const logs = new PodLogs();
  const workDir = mkdtempSync(join(tmpdir(), "kube-apiserver-pods-"));
  const runtime = new PodRuntime(workDir, logs);
  const requests: RecordedRequest[] = [];
  const stoppers = new Set<() => void>();
  let streams = 0;
  const deps: rest.RestDeps = {
    store,
    now: () => new Date(),
    accessReview: opts.accessReview ?? (() => ({ allowed: true })),
    onPodDeleted: (ns, name) => {
      logs.drop(ns, name);
      runtime.podDeleted(ns, name);
    },
  };
  const nsDef = findResource("", "v1", "namespaces")!;
  for (const ns of ["default", "kube-node-lease", "kube-public", "kube-system", ...(opts.namespaces ?? [])]) {
    rest.create(deps, { def: nsDef, namespace: undefined, name: undefined, subresource: undefined, query: new URLSearchParams() }, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, "kube-apiserver");
  }

  let serverAddress = "";
  const ctx: HandlerContext = {
    token,
    user: opts.user ?? "gatehouse-upstream",
    authorize: opts.authorize ?? (() => true),
    deps,
    logs,
    runtime,
    serverAddress: () => serverAddress,
    record: (r) => requests.push(r),
    onStop: (end) => {
      stoppers.add(end);
      return () => stoppers.delete(end);
    },
    streamOpened: () => {
      streams++;
      return () => {
        streams--;
      };
    },
  };

  // Client certificates are asked for, not required: a request is authenticated by a certificate
  // this CA signed (user = its CN, as the x509 authenticator does) or by the bearer token.
  const server = createServer({ cert: tls.certPem, key: tls.keyPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: false });
  const sockets = new Set<Duplex>();
  server.on("secureConnection", (sock: Duplex) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => void serveHttp(ctx, req, res));
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void serveUpgrade(ctx, req, socket, head));
  // Watches and follows stay open for as long as the test needs them.
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  serverAddress = `127.0.0.1:${port}`;
  const url = `https://127.0.0.1:${port}`;

  const api: KubeApiServer = {
    url,
    port,
    caPem: tls.caPem,
    token,
    clientCertPem: tls.clientCertPem,
    clientKeyPem: tls.clientKeyPem,
    store,
    logs,
    requests,
    put(obj) {
      const def = resourceFor(obj.apiVersion, obj.kind);
      const ns = def.namespaced ? (obj.metadata?.namespace ?? "default") : undefined;
      const t = { def, namespace: ns, name: obj.metadata?.name, subresource: undefined, query: new URLSearchParams() };
      if (store.get(def, ns ?? "", obj.metadata.name)) return rest.update(deps, t, obj, "test").body;
      return rest.create(deps, { ...t, name: undefined }, obj, "test").body;
    },
    get(apiVersion, kind, namespace, name) {
      const def = resourceFor(apiVersion, kind);
      return store.get(def, def.namespaced ? namespace : "", name);
    },
    addPod(namespace, name, p = {}) {
      const containers = (p.containers ?? ["main"]).map((c) => ({ name: c, image: p.image ?? "busybox:1.36", ...(p.command ? { command: p.command } : {}) }));
      return api.put({ apiVersion: "v1", kind: "Pod", metadata: { name, namespace, labels: p.labels ?? { app: name } }, spec: { containers } });
    },
    mapPort(namespace, pod, podPort, localPort, host = "127.0.0.1") {
      runtime.mapPort(namespace, pod, podPort, { host, port: localPort });
    },
    appendLog(namespace, pod, container, text) {
      logs.append(namespace, pod, container, text);
    },
    endLogs(namespace, pod) {
      logs.end(namespace, pod);
    },
    kubeconfig(k = {}) {
      const ca = Buffer.from(tls.caPem).toString("base64");
      return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: test",
        "  cluster:",
        `    server: ${url}`,
        `    certificate-authority-data: ${ca}`,
        "users:",
        "- name: test",
        "  user:",
        ...(k.clientCertificate
          ? [`    client-certificate-data: ${Buffer.from(tls.clientCertPem).toString("base64")}`, `    client-key-data: ${Buffer.from(tls.clientKeyPem).toString("base64")}`]
          : [`    token: ${k.token ?? token}`]),
        "contexts:",
        "- name: test",
        "  context:",
        "    cluster: test",
        "    user: test",
        `    namespace: ${k.namespace ?? "default"}`,
        "current-context: test",
        "",
      ].join("\n");
    },
    openStreams: () => streams,
    processStats: () => runtime.outputStats(),
    async stop() {
      for (const end of [...stoppers]) end();
      logs.endAll();
      runtime.stopAll();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const sock of sockets) sock.destroy();
      });
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  return api;
}
