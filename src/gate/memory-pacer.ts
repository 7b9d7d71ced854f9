// Keeps a relaying target's resident memory flat when the JS engine alone would not. Bun hands
// every socket read to JS as a fresh buffer, so a large transfer (ten million rows, a big file)
// leaves its own size in dead buffers, and the engine schedules collections by the size of its
// heap, not by the rate of garbage: between two collections resident memory can grow by
// hundreds of MB. The pacer looks at resident memory every CHECK_EVERY bytes relayed and runs a
// full collection only when it grew by GROWTH since the last one: small statements and
// requests never trigger it; a 10M-row result (~450 MB read) triggers it a few dozen times.
// (16 MB rather than 32: with 32 the 1M-row psql test peaked at 155 MB under a loaded CI run.)
// (It replaced a collection every 4 MiB relayed, which ran ~110 times for the same result.)
// Unless a large read (BULK_CHUNK or more) came since the last look, a collection also waits
// until GROWTH bytes were relayed since the last one: small reads (statements, keystrokes) leave
// few dead buffers, and resident memory grows by itself too (the heap of many small statements,
// which the engine collects on its own). Without that rule pgbench -S at 8 clients ran a full
// collection every second or so: 10% of the main thread's samples. Growth while reads are small
// asks the engine for a collection that does not hold the event loop (Bun.gc(false)) instead. Large reads keep the first
// rule alone: their buffers are larger than the bytes they hold, so resident memory outgrows the
// bytes relayed (waiting for 16 MB relayed too took the 1M-row psql test over 150 MB).

const CHECK_EVERY = 64 * 1024;
const GROWTH = 16 * 1024 * 1024;
const BULK_CHUNK = 16 * 1024;

export interface MemoryPacerOptions {
  /** Resident bytes now (default: process.memoryUsage.rss). */
  readonly rss?: () => number;
  /** A full collection (default: Bun.gc(true)). */
  readonly collect?: () => void;
  /** A collection that does not hold the event loop, for growth while reads are small (default: Bun.gc(false)). */
  readonly collectSoon?: () => void;
  readonly checkEvery?: number;
  readonly growth?: number;
  /** Bytes relayed since the last collection before another may run, unless a large read came (default: growth). */
  readonly minRelayed?: number;
  /** A read at least this large is bulk: collections go by growth alone (default 16 KiB). */
  readonly bulkChunk?: number;
}

export class MemoryPacer {
  private sinceCheck = 0;
  private sinceCollect = 0;
  private bulk = false;
  private readonly minRelayed: number;
  private readonly bulkChunk: number;
  private readonly rss: () => number;
  private readonly collect: () => void;
  private readonly checkEvery: number;
  private readonly growth: number;
  private rssAfterCollect: number;
  private readonly collectSoon: () => void;
  /** Collections run so far. */
  collections = 0;
  /** Collections asked for while reads were small (collectSoon). */
  lightCollections = 0;

  constructor(options: MemoryPacerOptions = {}) {
    this.rss = options.rss ?? (() => process.memoryUsage.rss());
    this.collect = options.collect ?? (() => Bun.gc(true));
    this.collectSoon = options.collectSoon ?? (() => Bun.gc(false));
    this.checkEvery = options.checkEvery ?? CHECK_EVERY;
    this.growth = options.growth ?? GROWTH;
    this.minRelayed = options.minRelayed ?? this.growth;
    this.bulkChunk = options.bulkChunk ?? BULK_CHUNK;
    this.rssAfterCollect = this.rss();
  }

  /** Counts bytes read from a socket. */
  readonly relayed = (bytes: number): void => {
    this.sinceCheck += bytes;
    if (bytes >= this.bulkChunk) this.bulk = true;
    if (this.sinceCheck < this.checkEvery) return;
    this.sinceCollect += this.sinceCheck;
    this.sinceCheck = 0;
    const bulk = this.bulk;
    this.bulk = false;
    const now = this.rss();
    if (now > this.rssAfterCollect + this.growth && (bulk || this.sinceCollect >= this.minRelayed)) {
      this.collect();
      this.collections++;
      this.sinceCollect = 0;
      this.rssAfterCollect = this.rss();
    } else if (now > this.rssAfterCollect + this.growth) {
      // Small reads only: the engine's own collection, asked for now and run beside the event
      // loop, keeps the heap from growing for long (without it pgbench -S at 8 clients peaked at
      // 453 MB); growth is measured from here until memory goes down.
      this.collectSoon();
      this.lightCollections++;
      this.rssAfterCollect = now;
    } else if (now < this.rssAfterCollect) {
      // Memory went down by itself: measure growth from there.
      this.rssAfterCollect = now;
    }
  };
}
