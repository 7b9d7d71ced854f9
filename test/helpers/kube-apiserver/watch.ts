// `?watch=true` on a list: a chunked stream of JSON WatchEvents, one per line, as the API server
// writes them: the current objects as ADDED when no resourceVersion (or "0") is given, else the
// changes after it (410 Expired in an ERROR event when it is too old), then every change live,
// until timeoutSeconds pass, the client goes away or the server stops. Table watches carry a
// one-row Table per event, the column definitions in the first only.
import { apiVersionOf } from "./resources.ts";
import type { RestTarget } from "./rest.ts";
import { fieldMatcher, labelMatcher } from "./selectors.ts";
import { statusBody } from "./status.ts";
import type { KubeObject, ObjectStore, StoreEvent } from "./store.ts";
import { toTable } from "./table.ts";
import type { IncludeObject } from "./table.ts";

export interface WatchOptions {
  readonly store: ObjectStore;
  readonly target: RestTarget;
  /** Table rows instead of objects, with this includeObject. */
  readonly table: IncludeObject | undefined;
  readonly signal: AbortSignal;
  /** Registers a function that ends the stream when the server stops. */
  readonly onStop: (end: () => void) => () => void;
}

const encoder = new TextEncoder();

export function watchStream(opts: WatchOptions): ReadableStream<Uint8Array> {
  const { store, target: t } = opts;
  const lm = labelMatcher(t.query.get("labelSelector"));
  const fm = fieldMatcher(t.query.get("fieldSelector"));
  const matches = (e: { def: StoreEvent["def"]; object: KubeObject }) =>
    e.def === t.def && (!t.def.namespaced || t.namespace === undefined || e.object.metadata?.namespace === t.namespace) && lm(e.object) && fm(e.object);
  let first = true;
  const encode = (type: string, object: KubeObject): Uint8Array => {
    let o = object;
    if (opts.table && type !== "ERROR" && type !== "BOOKMARK") {
      o = toTable(t.def, [object], object.metadata?.resourceVersion, opts.table, Date.now(), first);
      first = false;
    } else if (type !== "ERROR" && !o.kind) o = { apiVersion: apiVersionOf(t.def), kind: t.def.kind, ...o };
    return encoder.encode(JSON.stringify({ type, object: o }) + "\n");
  };
  let cleanup = () => {};
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let closed = false;
      const end = () => {
        if (closed) return;
        closed = true;
        cleanup();
        try {
          controller.close();
        } catch {
          /* already closed by the client */
        }
      };
      const send = (type: string, object: KubeObject) => {
        if (!closed) controller.enqueue(encode(type, object));
      };
      const rvParam = t.query.get("resourceVersion") ?? "";
      const unsubscribe = store.subscribe((e) => {
        if (matches(e)) send(e.type, e.object);
      });
      const stopHook = opts.onStop(end);
      const timeout = Number(t.query.get("timeoutSeconds") ?? "0");
      const timer = timeout > 0 ? setTimeout(end, timeout * 1000) : undefined;
      const onAbort = () => end();
      opts.signal.addEventListener("abort", onAbort);
      cleanup = () => {
        unsubscribe();
        stopHook();
        if (timer) clearTimeout(timer);
        opts.signal.removeEventListener("abort", onAbort);
      };
      if (rvParam === "" || rvParam === "0") {
        for (const o of store.list(t.def, t.namespace)) if (matches({ def: t.def, object: o })) send("ADDED", o);
      } else {
        const after = Number(rvParam);
        if (!Number.isFinite(after)) {
          send("ERROR", statusBody(400, "BadRequest", `invalid resource version: ${rvParam}`));
          end();
          return;
        }
        if (after < store.oldestResumable) {
          send("ERROR", statusBody(410, "Expired", `too old resource version: ${after} (${store.oldestResumable})`));
          end();
          return;
        }
        for (const e of store.since(after)) if (matches(e)) send(e.type, e.object);
      }
      if (t.query.get("allowWatchBookmarks") === "true" && t.query.get("sendInitialEvents") === "true") {
        send("BOOKMARK", { kind: t.def.kind, apiVersion: apiVersionOf(t.def), metadata: { resourceVersion: String(store.resourceVersion), annotations: { "k8s.io/initial-events-end": "true" } } });
      }
    },
    cancel() {
      cleanup();
    },
  });
}
