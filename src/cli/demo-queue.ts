// Shares PGlite's single backend between the demo database's connections (the gateway's
// sessions and its catalog connection). pglite-socket's own queue keeps every other connection
// waiting while one holds a transaction open, the gateway's catalog connection included: the
// gateway then waits for the catalog to decide a session's statement inside BEGIN … COMMIT, and
// the catalog waits for that session's COMMIT, for ever. Here the catalog connection (the
// application_name the gateway gives it) may run its read-only queries inside another
// connection's transaction, though never in the middle of an extended-protocol batch, whose
// unnamed statement a simple Query would drop. Inside a failed transaction its query fails too
// (the gateway logs it, refuses the statement, and reconnects), as the server would refuse the
// statement itself until ROLLBACK.
import type { PGlite } from "@electric-sql/pglite";

/** The application_name the gateway's catalog connection sends (src/targets/postgres/catalog/catalog.ts). */
export const CATALOG_APPLICATION_NAME = "gatehouse catalog";

interface Item {
  readonly handlerId: number;
  readonly message: Uint8Array;
  readonly onData: (data: Uint8Array) => void;
  readonly resolve: (bytes: number) => void;
  readonly reject: (e: Error) => void;
}

type Backend = Pick<PGlite, "runExclusive" | "execProtocolRawStream" | "exec">;

/** The interface PGLiteSocketHandler calls (its own queue class is not exported). */
export class DemoQueue {
  private queue: Item[] = [];
  private running = false;
  private readonly started = new Set<number>();
  private readonly catalog = new Set<number>();
  /** The connection the backend is waiting on: inside a transaction, a batch without Sync, or COPY FROM STDIN. */
  private holder: number | null = null;
  private holderMidBatch = false;

  constructor(private readonly db: Backend) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    if (!this.started.has(handlerId)) {
      this.started.add(handlerId);
      if (startupParameter(message, "application_name") === CATALOG_APPLICATION_NAME) this.catalog.add(handlerId);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  clearQueueForHandler(handlerId: number): void {
    this.queue = this.queue.filter((q) => {
      if (q.handlerId !== handlerId) return true;
      q.reject(new Error("connection closed"));
      return false;
    });
    this.started.delete(handlerId);
    this.catalog.delete(handlerId);
  }

  /** A connection that closes while the backend waits on it: roll back, and let the others run. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.holder !== handlerId) return;
    try {
      await this.db.exec("ROLLBACK");
    } catch {
      // Nothing to roll back (a batch without a transaction): the backend is free again anyway.
    }
    this.holder = null;
    this.holderMidBatch = false;
    void this.pump();
  }

  private next(): Item | undefined {
    const i = this.queue.findIndex(
      (q) => this.holder === null || q.handlerId === this.holder || (this.catalog.has(q.handlerId) && !this.holderMidBatch),
    );
    return i < 0 ? undefined : this.queue.splice(i, 1)[0];
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let item = this.next(); item !== undefined; item = this.next()) {
        const tail = new ReadyTracker();
        let bytes = 0;
        try {
          const it = item;
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(it.message, {
              onRawData: (data) => {
                bytes += data.length;
                tail.push(data);
                it.onData(data);
              },
            }),
          );
        } catch (e) {
          item.reject(e instanceof Error ? e : new Error(String(e)));
          continue;
        }
        // Terminate gets no answer and changes nothing: the close that follows rolls back what
        // its connection left open. Every other message leaves the backend free only when its
        // output ends with ReadyForQuery 'I'.
        if (!this.catalog.has(item.handlerId) && item.message[0] !== 0x58) {
          const idle = tail.status === 0x49;
          this.holder = idle ? null : item.handlerId;
          this.holderMidBatch = !idle && tail.status === null;
        }
        item.resolve(bytes);
      }
    } finally {
      this.running = false;
    }
  }
}

/** Follows backend message framing across chunks; status is the last message's ReadyForQuery status, or null. */
export class ReadyTracker {
  status: number | null = null;
  private header: number[] = [];
  private remaining = 0;
  private type = 0;

  push(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length - i);
        if (this.type === 0x5a && take > 0) this.status = data[i + take - 1]!;
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header.push(data[i++]!);
      if (this.header.length < 5) continue;
      const [t, a, b, c, d] = this.header as [number, number, number, number, number];
      this.type = t;
      this.remaining = ((a << 24) | (b << 16) | (c << 8) | d) - 4;
      this.header = [];
      this.status = null;
    }
  }
}

/** A parameter of a StartupMessage (length, protocol version, then name\0value\0 … \0); null for other messages. */
export function startupParameter(message: Uint8Array, name: string): string | null {
  if (message.length < 8 || message[0] !== 0) return null;
  const text = new TextDecoder().decode(message.subarray(8));
  const parts = text.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i] === name) return parts[i + 1] ?? null;
  return null;
}
