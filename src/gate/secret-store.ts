// The current values of the secret references in targets' settings (an upstream password, a
// bearer header, a private key): re-read when a referenced file changes and taken over from
// each reload. A target asks for its settings when it opens an upstream connection and keeps
// nothing, so new connections use the new secret and open ones keep the one they logged in with.
// A reference that cannot be read keeps its last value: an error naming the reference (never a
// value) is logged, counted and shown by /healthz until it reads again.
import { dirname } from "node:path";
import type { Config, TargetConfig } from "../config/schema.ts";
import { formatKeyPath } from "../config/issue.ts";
import { refFiles, refLabel, refText, resolveSecretParts, type SecretRef } from "../config/secrets.ts";
import { errorMessage } from "../core/errors.ts";
import { watchFolder, type FolderWatch } from "./watch-folder.ts";

export interface SecretStoreDeps {
  /** Environment for ${env:…} references (they cannot change while the process runs). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: { info(msg: string, f?: Record<string, unknown>): void; error(msg: string, f?: Record<string, unknown>): void };
  /** A reference could not be read (counted per attempt). */
  readonly onReadFailure: (reference: string) => void;
  /** The reference fails now (reason), or reads again (null): for /healthz. */
  readonly onState: (reference: string, reason: string | null) => void;
  /** A reference now has a new value: for the audit log. Never given the value. */
  readonly onRotated: (rotation: SecretRotation) => void | Promise<void>;
  /** A file read by a reference outside targets' settings changed (e.g. identity): reload the configuration. */
  readonly onOtherChange?: () => void;
  /** Quiet time after the last change before reading; writers replace files in several steps. Default 100ms. */
  readonly debounceMs?: number;
}

export interface SecretRotation {
  /** The references as written, e.g. "${file:/run/pg-password}". */
  readonly reference: string;
  /** Where they are used, by target name, e.g. "targets.app-db.upstream.password". */
  readonly keys: readonly string[];
  readonly targets: readonly string[];
  /** "file": the referenced file changed; "reload": the configuration was reloaded. */
  readonly cause: "file" | "reload";
}

interface Entry {
  readonly target: string;
  /** Path inside the target's settings, e.g. ["upstream", "password"]. */
  readonly inner: readonly (string | number)[];
  readonly key: string;
  readonly ref: SecretRef;
  readonly reference: string;
  value: string;
}

/** The running targets' secrets. Keyed by target name: a reload may reorder targets. */
export class SecretStore {
  readonly #deps: SecretStoreDeps;
  #entries: Entry[] = [];
  #other: SecretRef[] = [];
  /** Per target: its settings with the current values, rebuilt only when a value changes. */
  readonly #current = new Map<string, TargetConfig>();
  readonly #failing = new Map<string, string>();
  readonly #watchers = new Map<string, FolderWatch>();
  #closed = false;

  constructor(deps: SecretStoreDeps) {
    this.#deps = deps;
  }

  /**
   * Takes the references of a configuration just loaded (at start, on each reload), whose
   * values the load has just read. `running` are the targets' settings as started.
   */
  adopt(config: Config, running: readonly TargetConfig[], cause: "start" | "reload"): void {
    const before = new Map(this.#entries.map((e) => [`${e.target}\0${e.key}`, e]));
    const names = new Set(running.map((t) => t.name));
    const found: Entry[] = [];
    const other: SecretRef[] = [];
    for (const ref of config.secretRefs ?? []) {
      const [top, index, ...inner] = ref.path;
      const target = top === "targets" && typeof index === "number" ? config.targets[index] : undefined;
      if (target === undefined || !names.has(target.name)) {
        other.push(ref);
        continue;
      }
      const value = valueAt(target, inner);
      if (typeof value !== "string") continue;
      found.push({ target: target.name, inner, key: formatKeyPath(["targets", target.name, ...inner]), ref, reference: refLabel(ref.parts), value });
    }
    // A reload changes values, not references: a reference that now names another file, or a
    // setting that became or stopped being a reference, is a target settings change that waits
    // for a restart (policy/diff-listeners.ts says so), and the running target keeps its own.
    const sameRef = (a: Entry, b: Entry) => refText(a.ref.parts) === refText(b.ref.parts) && a.ref.baseDir === b.ref.baseDir;
    const entries =
      cause === "start"
        ? found
        : this.#entries.map((old) => {
            const next = found.find((e) => e.target === old.target && e.key === old.key);
            return next !== undefined && sameRef(old, next) ? next : old;
          });
    this.#entries = entries;
    this.#other = other;
    this.#current.clear();
    if (cause === "reload") {
      const changed = entries.filter((e) => {
        const old = before.get(`${e.target}\0${e.key}`);
        return old !== undefined && old.value !== e.value;
      });
      this.#announce(changed, "reload");
      // References no longer used stop failing; the refresh below reads the others.
      const used = new Set(entries.map((e) => e.reference));
      for (const reference of [...this.#failing.keys()]) if (!used.has(reference)) this.#setState(reference, null);
    }
    this.#rewatch();
    // A file may have changed after the load read it and before this: its change event was
    // taken by a refresh this adoption has just overwritten, or came before the watch began.
    void this.refresh().catch((e) => this.#deps.log.error(`re-reading secrets failed: ${errorMessage(e)}`));
  }

  /** The target's settings with every secret reference at its current value. Ask at connect time; keep nothing. */
  current<T extends TargetConfig>(target: T): T {
    const known = this.#current.get(target.name);
    if (known !== undefined) return known as T;
    const mine = this.#entries.filter((e) => e.target === target.name);
    let out: T = target;
    if (mine.length > 0) {
      out = structuredClone(target) as T;
      for (const e of mine) setAt(out, e.inner, e.value);
      Object.freeze(out);
    }
    this.#current.set(target.name, out);
    return out;
  }

  /** The references failing now, with why: for /healthz. */
  failing(): ReadonlyMap<string, string> {
    return this.#failing;
  }

  #chain: Promise<void> = Promise.resolve();

  /**
   * Re-reads the file references (in `files`' folders, or all) now: what a change to a watched
   * folder does after its quiet time. One at a time, so an older read never lands after a newer.
   */
  refresh(files?: ReadonlySet<string>): Promise<void> {
    const run = this.#chain.then(() => this.#refresh(files));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #refresh(files?: ReadonlySet<string>): Promise<void> {
    const touches = (ref: SecretRef) => files === undefined || refFiles(ref).some((f) => files.has(f) || files.has(dirname(f)));
    const byReference = new Map<string, Entry[]>();
    for (const e of this.#entries) {
      if (!e.ref.parts.some((p) => p.kind === "file") || !touches(e.ref)) continue;
      const list = byReference.get(e.reference) ?? [];
      list.push(e);
      byReference.set(e.reference, list);
    }
    const changed: Entry[] = [];
    for (const [reference, list] of byReference) {
      let value: string;
      try {
        value = await resolveSecretParts(list[0]!.ref.parts, { env: this.#deps.env, baseDir: list[0]!.ref.baseDir });
      } catch (e) {
        if (this.#closed) return;
        this.#deps.onReadFailure(reference);
        const reason = `secret reference ${reference} (${list.map((x) => x.key).join(", ")}, ${list[0]!.ref.where}) cannot be read; its previous value stays in use: ${errorMessage(e)}`;
        this.#deps.log.error(reason, { reference });
        this.#setState(reference, reason);
        continue;
      }
      if (this.#closed) return;
      this.#setState(reference, null);
      for (const e of list) {
        if (e.value === value) continue;
        e.value = value;
        changed.push(e);
      }
    }
    if (changed.length > 0) {
      for (const t of new Set(changed.map((e) => e.target))) this.#current.delete(t);
      this.#announce(changed, "file");
    }
    if (this.#other.some(touches) && files !== undefined) this.#deps.onOtherChange?.();
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #setState(reference: string, reason: string | null): void {
    const was = this.#failing.get(reference) ?? null;
    if (reason === null) {
      if (was === null) return;
      this.#failing.delete(reference);
      this.#deps.log.info(`secret reference ${reference} reads again`, { reference });
    } else {
      if (was !== null) return;
      this.#failing.set(reference, reason);
    }
    this.#deps.onState(reference, reason);
  }

  #announce(changed: readonly Entry[], cause: "file" | "reload"): void {
    const byReference = new Map<string, Entry[]>();
    for (const e of changed) byReference.set(e.reference, [...(byReference.get(e.reference) ?? []), e]);
    for (const [reference, list] of byReference) {
      const rotation: SecretRotation = { reference, keys: list.map((e) => e.key), targets: [...new Set(list.map((e) => e.target))], cause };
      this.#deps.log.info(`secret reference ${reference} rotated: new upstream connections of ${rotation.targets.join(", ")} use the new value`, { reference, cause });
      // onRotated records the rotation (a failed audit write is counted and reported there);
      // anything else it throws is logged, never dropped.
      void Promise.resolve()
        .then(() => this.#deps.onRotated(rotation))
        .catch((e: unknown) => this.#deps.log.error(`recording the rotation of ${reference} failed`, { reference, error: errorMessage(e) }));
    }
  }

  // Folders, not files (see watch-folder.ts). Any change in a folder re-reads the references
  // in it: the event's file name is not always the secret's (a Kubernetes secret volume swaps
  // its `..data` symlink), and a value that did not change is not announced.
  #rewatch(): void {
    if (this.#closed) return;
    const dirs = new Set<string>();
    for (const ref of [...this.#entries.map((e) => e.ref), ...this.#other]) for (const f of refFiles(ref)) dirs.add(dirname(f));
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      const w = watchFolder(dir, () => void this.refresh(new Set([dir])).catch((e) => this.#deps.log.error(`re-reading secrets in ${dir} failed: ${errorMessage(e)}`)), {
        debounceMs: this.#deps.debounceMs ?? 100,
        onError: (m) => this.#deps.log.error(`${m}; its secrets are re-read on reload only`),
      });
      this.#watchers.set(dir, w);
    }
  }
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let cur = root;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

function setAt(root: unknown, path: readonly (string | number)[], value: string): void {
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
}
