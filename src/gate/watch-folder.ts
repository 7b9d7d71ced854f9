// Calls back, after a quiet time, when something in a folder changes. Folders rather than
// files: a file replaced by a rename (editors, careful writers, Kubernetes' `..data` swap)
// ends a watch on the file itself.
import { watch, type FSWatcher } from "node:fs";
import { errorMessage } from "../core/errors.ts";

export interface FolderWatch {
  close(): void;
}

/** `names`, when given: only events naming one of these files count (an event without a name counts). */
export function watchFolder(dir: string, onChange: () => void, opts: { debounceMs?: number; names?: readonly string[]; onError: (message: string) => void }): FolderWatch {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  let w: FSWatcher | null = null;
  try {
    w = watch(dir, { persistent: false }, (_event, filename) => {
      if (closed) return;
      if (opts.names !== undefined && filename !== null && !opts.names.includes(String(filename))) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        if (!closed) onChange();
      }, opts.debounceMs ?? 150);
    });
    w.on("error", (e) => opts.onError(`cannot watch "${dir}": ${errorMessage(e)}`));
  } catch (e) {
    opts.onError(`cannot watch "${dir}": ${errorMessage(e)}`);
  }
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      w?.close();
    },
  };
}
