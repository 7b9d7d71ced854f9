// Budgets as the target's limits set them: tools/call per identity and window, and per identity
// and tool. Fixed windows, counted in memory per target (a restart starts them again); a call is
// counted once it is allowed.
export interface WindowBudget {
  readonly max: number;
  readonly windowMs: number;
}

interface Count {
  start: number;
  n: number;
}

export class Budgets {
  readonly #counts = new Map<string, Count>();
  #sweptAt = 0;

  constructor(
    private readonly calls: WindowBudget | undefined,
    private readonly toolCalls: WindowBudget | undefined,
  ) {}

  /** Which budget a call would overrun now ("calls" or "tool_calls"), or null. Counts nothing. */
  over(identity: string, tool: string, now: number): { budget: "calls" | "tool_calls"; max: number; windowMs: number } | null {
    if (this.calls !== undefined && this.#used(`c\0${identity}`, this.calls, now) >= this.calls.max) return { budget: "calls", ...this.calls };
    if (this.toolCalls !== undefined && this.#used(`t\0${identity}\0${tool}`, this.toolCalls, now) >= this.toolCalls.max) return { budget: "tool_calls", ...this.toolCalls };
    return null;
  }

  /** Counts an allowed call. */
  count(identity: string, tool: string, now: number): void {
    if (this.calls !== undefined) this.#add(`c\0${identity}`, this.calls, now);
    if (this.toolCalls !== undefined) this.#add(`t\0${identity}\0${tool}`, this.toolCalls, now);
    this.#sweep(now);
  }

  #used(key: string, b: WindowBudget, now: number): number {
    const c = this.#counts.get(key);
    return c === undefined || now - c.start >= b.windowMs ? 0 : c.n;
  }

  #add(key: string, b: WindowBudget, now: number): void {
    const c = this.#counts.get(key);
    if (c === undefined || now - c.start >= b.windowMs) this.#counts.set(key, { start: now, n: 1 });
    else c.n++;
  }

  /** Drops finished windows now and then, so the map stays as large as the active callers. */
  #sweep(now: number): void {
    const longest = Math.max(this.calls?.windowMs ?? 0, this.toolCalls?.windowMs ?? 0);
    if (now - this.#sweptAt < longest) return;
    this.#sweptAt = now;
    for (const [k, c] of this.#counts) if (now - c.start >= longest) this.#counts.delete(k);
  }
}
