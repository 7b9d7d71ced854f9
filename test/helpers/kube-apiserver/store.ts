// The in-memory "etcd": objects by resource/namespace/name, one cluster-wide resourceVersion
// counter, and the history of changes that watches replay from a resourceVersion and then follow.
import type { ResourceDef } from "./resources.ts";

// Objects are JSON as kubectl sends them; fields are read where needed, so they stay loosely typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any>;

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  readonly rv: number;
  readonly type: WatchEventType;
  readonly def: ResourceDef;
  readonly object: KubeObject;
}

function key(def: ResourceDef, namespace: string, name: string): string {
  return `${def.group}/${def.resource}/${def.namespaced ? namespace : ""}/${name}`;
}

/** A deep copy: handlers mutate what they get, the store keeps its own. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private rv = 1000;

  /** `historyLimit`: how many past events a watch can resume from; older resourceVersions get 410 Expired. */
  constructor(private readonly historyLimit = 10_000) {}

  get resourceVersion(): number {
    return this.rv;
  }

  nextResourceVersion(): number {
    return ++this.rv;
  }

  /** The oldest resourceVersion a watch may still resume after. */
  get oldestResumable(): number {
    return this.history.length === 0 ? this.rv : this.history[0]!.rv - 1;
  }

  get(def: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    const o = this.objects.get(key(def, namespace, name));
    return o === undefined ? undefined : clone(o);
  }

  /** The stored objects themselves, not copies (lists are hot in benchmarks): callers must not change them. */
  list(def: ResourceDef, namespace?: string): KubeObject[] {
    const prefix = `${def.group}/${def.resource}/`;
    const out: KubeObject[] = [];
    for (const [k, o] of this.objects) {
      if (!k.startsWith(prefix)) continue;
      if (def.namespaced && namespace !== undefined && o.metadata?.namespace !== namespace) continue;
      out.push(o);
    }
    out.sort((a, b) => `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ""}/${b.metadata.name}`));
    return out;
  }

  /** Stores `obj` (already complete: metadata filled by the caller) and tells watchers. */
  put(def: ResourceDef, obj: KubeObject, type: "ADDED" | "MODIFIED"): KubeObject {
    const rv = this.nextResourceVersion();
    obj.metadata.resourceVersion = String(rv);
    this.objects.set(key(def, obj.metadata.namespace ?? "", obj.metadata.name), clone(obj));
    this.emit({ rv, type, def, object: clone(obj) });
    return obj;
  }

  remove(def: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    const k = key(def, namespace, name);
    const o = this.objects.get(k);
    if (o === undefined) return undefined;
    this.objects.delete(k);
    const rv = this.nextResourceVersion();
    // A DELETED event carries the object at its last state with the deletion's resourceVersion.
    o.metadata.resourceVersion = String(rv);
    this.emit({ rv, type: "DELETED", def, object: clone(o) });
    return clone(o);
  }

  /** Events after resourceVersion `after`, oldest first. */
  since(after: number): StoreEvent[] {
    return this.history.filter((e) => e.rv > after);
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: StoreEvent): void {
    this.history.push(e);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const fn of [...this.listeners]) fn(e);
  }
}
