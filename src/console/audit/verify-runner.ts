// `gatehouse verify` for the console: run on demand in the background (a 1 GB log takes a while,
// and no page waits for it), one run at a time; the page shows the last result and when it ran.
import { verifyLogReport, type VerifyReport } from "../../audit/verify.ts";
import type { PublicKey } from "../../audit/signing-key.ts";
import { errorMessage } from "../../core/errors.ts";
import type { Clock } from "../../core/types.ts";

export interface VerifyState {
  readonly running: boolean;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly report?: VerifyReport;
  /** The run itself failed (not the log). */
  readonly error?: string;
}

export class VerifyRunner {
  #state: VerifyState = { running: false };
  #run: Promise<void> | null = null;

  constructor(
    private readonly path: () => string,
    private readonly keys: () => readonly PublicKey[],
    private readonly clock: Clock,
  ) {}

  get state(): VerifyState {
    return this.#state;
  }

  /** Starts a run unless one is going; resolves when that run ends (callers need not wait). */
  start(): Promise<void> {
    if (this.#run !== null) return this.#run;
    const startedAt = this.clock.now();
    const previous = this.#state;
    this.#state = { ...previous, running: true, startedAt };
    this.#run = verifyLogReport(this.path(), { keys: this.keys() })
      .then(
        (report) => {
          this.#state = { running: false, startedAt, finishedAt: this.clock.now(), report };
        },
        (e: unknown) => {
          this.#state = { running: false, startedAt, finishedAt: this.clock.now(), error: errorMessage(e) };
        },
      )
      .finally(() => (this.#run = null));
    return this.#run;
  }
}
