// Keeps a relaying target's resident memory flat when the JS engine alone would not. Bun hands
// every socket read to JS as a fresh buffer, so a large transfer (ten million rows, a big file)
// leaves its own size in dead buffers, and the engine schedules collections by the size of its
// heap, not by the rate of garbage: between two collections resident memory can grow by
// hundreds of MB. The pacer looks at resident memory every CHECK_EVERY bytes relayed and runs a
// full collection only when it grew by GROWTH since the last one: small statements and
// requests never trigger it; a 10M-row result (~450 MB read) triggers it a few dozen times.
// (16 MB rather than 32: with 32 the 1M-row psql test peaked at 155 MB under a loaded CI run.)
// (It replaced a collection every 4 MiB relayed, which ran ~110 times for the same result.)
// A collection also waits until GROWTH bytes were relayed since the last one: it can only free
// the read buffers of what was relayed, and resident memory grows by itself too (the heap of
// many small statements, which the engine collects on its own). Without that rule pgbench -S
// at 8 clients ran a full collection every second or so: 10% of the main thread's samples.

const CHECK_EVERY = 64 * 1024;
const GROWTH = 16 * 1024 * 1024;

export interface MemoryPacerOptions {
  /** Resident bytes now (default: process.memoryUsage.rss). */
  readonly rss?: () => number;
  /** A full collection (default: Bun.gc(true)). */
  readonly collect?: () => void;
  readonly checkEvery?: number;
  readonly growth?: number;
  /** Bytes relayed since the last collection before another may run (default: growth). */
  readonly minRelayed?: number;
}

export class MemoryPacer {
  private sinceCheck = 0;
  private sinceCollect = 0;
  private readonly minRelayed: number;
  private readonly rss: () => number;
  private readonly collect: () => void;
  private readonly checkEvery: number;
  private readonly growth: number;
  private rssAfterCollect: number;
  /** Collections run so far. */
  collections = 0;

  constructor(options: MemoryPacerOptions = {}) {
    this.rss = options.rss ?? (() => process.memoryUsage.rss());
    this.collect = options.collect ?? (() => Bun.gc(true));
    this.checkEvery = options.checkEvery ?? CHECK_EVERY;
    this.growth = options.growth ?? GROWTH;
    this.minRelayed = options.minRelayed ?? this.growth;
    this.rssAfterCollect = this.rss();
  }

  /** Counts bytes read from a socket. */
  readonly relayed = (bytes: number): void => {
    this.sinceCheck += bytes;
    if (this.sinceCheck < this.checkEvery) return;
    this.sinceCollect += this.sinceCheck;
    this.sinceCheck = 0;
    const now = this.rss();
    if (now > this.rssAfterCollect + this.growth && this.sinceCollect >= this.minRelayed) {
      this.collect();
      this.collections++;
      this.sinceCollect = 0;
      this.rssAfterCollect = this.rss();
    } else if (now < this.rssAfterCollect) {
      // Memory went down by itself: measure growth from there.
      this.rssAfterCollect = now;
    }
  };
}
