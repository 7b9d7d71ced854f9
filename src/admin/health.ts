// What /healthz reports. The gateway is unhealthy once something has happened that only an
// operator can put right: today, an audit write that failed (the log takes no more records
// after one, and a record nothing waited for may be lost). It stays so until a restart.
// It is degraded (still serving, /healthz says why) while something that can mend itself is
// wrong: a secret reference that cannot be read, whose previous value stays in use.

export class Health {
  readonly #problems = new Map<string, string>();
  readonly #degraded = new Map<string, string>();

  /** Records a problem that lasts until recover(key); the gateway still serves. */
  degrade(key: string, reason: string): void {
    this.#degraded.set(key, reason);
  }

  recover(key: string): void {
    this.#degraded.delete(key);
  }

  /** What is degraded now, one reason each. */
  degraded(): string[] {
    return [...this.#degraded.values()];
  }

  /** Records a lasting problem; the first reason given for a `key` is the one kept. */
  fail(key: string, reason: string): void {
    if (!this.#problems.has(key)) this.#problems.set(key, reason);
  }

  /** null when healthy, else every problem, one per line. */
  unhealthy(): string | null {
    return this.#problems.size === 0 ? null : [...this.#problems.values()].join("\n");
  }
}
