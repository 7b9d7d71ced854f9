// Hot reload: on a change to the config file or folder (or reload(), e.g. on SIGHUP) the
// whole new configuration is loaded, validated and compiled; only then is it handed over.
// Any failure goes to onReject and the old policy keeps serving.
import { watch, statSync, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { loadPolicy, type LoadOptions } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { Policy } from "./compile.ts";

export { diffListeners } from "./diff-listeners.ts";

export interface WatchOptions {
  onReload(config: Config, policy: Policy): void | Promise<void>;
  onReject(error: unknown): void | Promise<void>;
  /** Quiet time after the last change before loading; editors write in several steps. Default 150ms. */
  readonly debounceMs?: number;
  readonly signal?: AbortSignal;
  readonly load?: LoadOptions;
}

export interface ConfigWatcher {
  /** Loads now; concurrent calls coalesce into one more load after the running one. */
  reload(): Promise<void>;
  close(): void;
}

const CONFIG_NAME = /\.ya?ml$/;
const TEST_NAME = /\.test\.ya?ml$/;

export function watchConfig(path: string, opts: WatchOptions): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? 150;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running: Promise<void> | null = null;
  let again = false;

  const safely = async (f: () => void | Promise<void>) => {
    try {
      await f();
    } catch {
      // A failing callback must not stop the watcher or surface as an unhandled rejection.
    }
  };

  const once = async () => {
    let config: Config;
    let policy: Policy;
    try {
      // The same load as `check` and start-up: every refusal carries file:line:column.
      ({ config, policy } = await loadPolicy(path, opts.load));
    } catch (e) {
      if (!closed) await safely(() => opts.onReject(e));
      return;
    }
    if (closed) return;
    try {
      await opts.onReload(config, policy);
    } catch (e) {
      await safely(() => opts.onReject(e));
    }
  };

  const reload = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await once();
        } while (again && !closed);
      } finally {
        running = null;
      }
    })();
    return running;
  };

  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Reported by the first reload; a file that appears later is still watched via its folder.
  }
  // Watch the folder even for a single file: editors replace files by renaming, which ends a
  // watch on the file itself.
  const dir = isDir ? path : dirname(path);
  const name = basename(path);
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_event, filename) => {
      if (closed) return;
      const f = filename === null ? null : basename(String(filename));
      if (f !== null) {
        if (isDir ? f.startsWith(".") || !CONFIG_NAME.test(f) || TEST_NAME.test(f) : f !== name) return;
      }
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void reload();
      }, debounceMs);
    });
    watcher.on("error", (e) => void safely(() => opts.onReject(e)));
  } catch (e) {
    queueMicrotask(() => void safely(() => opts.onReject(e)));
  }

  const close = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    watcher?.close();
  };
  opts.signal?.addEventListener("abort", close, { once: true });
  if (opts.signal?.aborted) close();
  return { reload, close };
}
