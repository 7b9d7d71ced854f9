// The stream masker wired to an output: masked bytes go to `emit` as soon as the masker lets
// them go, and what it holds back (a word that might still become an e-mail …) is flushed when
// the stream has been quiet for `idleMs`, so an interactive shell's prompt and echo still show.
import type { StreamMasker } from "./stream-masker.ts";

export const DEFAULT_IDLE_FLUSH_MS = 15;

export interface MaskedOutputOptions {
  /** Quiet time after which held-back bytes are flushed. Default 15 ms. */
  readonly idleMs?: number;
  /** Timer functions, for tests. */
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (handle: unknown) => void;
}

export interface MaskedOutput {
  /** Masks and emits a chunk; returns what `emit` returned (false: the output is full), true when nothing was emitted. */
  write(chunk: Uint8Array): boolean;
  /** The stream ended: flush what is held, stop the timer. */
  end(): void;
}

export function maskedOutput(masker: StreamMasker, emit: (bytes: Uint8Array) => boolean, opts: MaskedOutputOptions = {}): MaskedOutput {
  const idleMs = opts.idleMs ?? DEFAULT_IDLE_FLUSH_MS;
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  let timer: unknown = null;
  let ended = false;

  const flush = (final = false) => {
    timer = null;
    const out = masker.flush(final);
    if (out.length > 0) emit(out);
  };

  return {
    write(chunk) {
      if (ended) return true;
      if (timer !== null) {
        clearTimer(timer);
        timer = null;
      }
      const out = masker.write(chunk);
      if (masker.held > 0) timer = setTimer(flush, idleMs);
      return out.length > 0 ? emit(out) : true;
    },
    end() {
      if (ended) return;
      ended = true;
      if (timer !== null) clearTimer(timer);
      flush(true);
    },
  };
}
