// A byte connection as a target's relay uses it, one interface over two kinds of socket: Bun's
// own (Bun.listen / Bun.connect), written from the data callback with no stream machinery in
// between, and a node stream (node:tls), for TLS started in the middle of a conversation
// (PostgreSQL's SSLRequest), which Bun sockets cannot do on an accepted connection.
//
// write() hands the kernel what it takes at once and keeps the rest (a view, not a copy),
// written before anything later, on drain: a true answer means every byte is in the kernel
// (the caller may reuse its buffer at once); false means "stop reading the other side, and
// leave those bytes as they are, until drain()". Incoming chunks are fresh buffers of their
// own, so views of them may be kept. While detached or paused, what arrives
// is held and handed on, in order, at the next attach and resume (nothing is lost between the
// readers of a login and the relay that follows).
import type { Socket as BunSocket, TCPSocketListener } from "bun";
import { Duplex } from "node:stream";

export interface ConnectionEvents {
  /** A chunk as it arrived (a buffer of its own: views of it may be kept). */
  data(chunk: Uint8Array): void;
  /** Everything kept by write() is in the kernel now. */
  drain(): void;
  /** Called once: the peer closed (error null) or the connection failed. */
  close(error: Error | null): void;
}

export interface Connection {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** The connection is over (closed by either side); writes are dropped. */
  readonly closed: boolean;
  /** Sends events to `events` from now on; what was held is handed on at once unless paused (call resume() to read). */
  attach(events: ConnectionEvents): void;
  /** Pauses and stops sending events; what arrives is held for the next attach. */
  detach(): void;
  /**
   * true: every byte is in the kernel (or the connection is closed) and the buffer is free.
   * false: some were kept, by reference: leave them unchanged and wait for drain().
   */
  write(bytes: Uint8Array): boolean;
  /** Writes `bytes` and whatever is kept, then closes. */
  end(bytes?: Uint8Array): void;
  /** Closes now; kept bytes are dropped. */
  destroy(): void;
  pause(): void;
  resume(): void;
}

type Held = Uint8Array | { readonly closed: Error | null };

/** What both kinds share: events, holding while detached or paused, closing once. */
abstract class BaseConnection implements Connection {
  abstract readonly remoteAddress: string | undefined;
  abstract readonly remotePort: number | undefined;
  closed = false;
  protected events: ConnectionEvents | null = null;
  protected paused = false;
  private held: Held[] = [];
  private closeReported = false;

  attach(events: ConnectionEvents): void {
    this.events = events;
    if (!this.paused) this.release();
  }

  detach(): void {
    this.pause();
    this.events = null;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.pauseSocket();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.release();
    if (!this.paused && !this.closed) this.resumeSocket();
  }

  abstract write(bytes: Uint8Array): boolean;
  abstract end(bytes?: Uint8Array): void;
  abstract destroy(): void;
  protected abstract pauseSocket(): void;
  protected abstract resumeSocket(): void;

  protected onData(chunk: Uint8Array): void {
    if (this.events !== null && !this.paused && this.held.length === 0) this.events.data(chunk);
    else this.held.push(chunk);
  }

  protected onDrain(): void {
    this.events?.drain();
  }

  protected onClose(error: Error | null): void {
    this.closed = true;
    if (this.closeReported) return;
    this.closeReported = true;
    if (this.events !== null && !this.paused && this.held.length === 0) this.events.close(error);
    else this.held.push({ closed: error });
  }

  /** Hands on what was held, in order, until a handler pauses or detaches. */
  private release(): void {
    while (this.held.length > 0 && this.events !== null && !this.paused) {
      const h = this.held.shift()!;
      if (h instanceof Uint8Array) this.events.data(h);
      else this.events.close(h.closed);
    }
  }
}

/** After end(), how long the peer may keep the connection open before it is cut. */
const LINGER_MS = 3_000;

/** A Bun socket; its handlers (bunSocketHandlers) find this object in socket.data. */
export class BunConnection extends BaseConnection {
  private readonly queue: Uint8Array[] = [];
  private ending = false;
  private linger: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly socket: BunSocket<BunConnection>) {
    super();
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  /** Bytes kept for the next drain. */
  get kept(): number {
    let n = 0;
    for (const q of this.queue) n += q.byteLength;
    return n;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.ending) return true;
    if (this.queue.length > 0) {
      this.queue.push(bytes);
      return false;
    }
    const n = this.socket.write(bytes);
    if (n < 0) return true; // closed under us: the close event follows
    if (n < bytes.byteLength) {
      this.queue.push(n === 0 ? bytes : bytes.subarray(n));
      return false;
    }
    return true;
  }

  end(bytes?: Uint8Array): void {
    if (this.closed || this.ending) return;
    if (bytes !== undefined && bytes.byteLength > 0) this.write(bytes);
    this.ending = true;
    if (this.queue.length === 0) this.finish();
  }

  /**
   * Everything is written: send FIN, and read (dropping it) until the peer closes. Closing with
   * bytes unread would send RST, and the peer could lose the last message (a FATAL that says
   * why) still in its receive buffer. A peer that does not close is cut after LINGER_MS.
   */
  private finish(): void {
    if (this.closed) return;
    this.socket.shutdown();
    this.socket.resume();
    this.linger = setTimeout(() => this.socket.terminate(), LINGER_MS);
    this.linger.unref?.();
  }

  destroy(): void {
    this.queue.length = 0;
    if (this.closed) return;
    this.ending = true;
    this.socket.terminate();
  }

  protected pauseSocket(): void {
    if (!this.closed) this.socket.pause();
  }

  protected resumeSocket(): void {
    this.socket.resume();
  }

  /** @internal the socket's handlers */
  handleData(chunk: Uint8Array): void {
    if (this.ending) return; // the owner ended the connection: nobody reads this any more
    this.onData(chunk);
  }

  /** @internal */
  handleDrain(): void {
    const q = this.queue;
    while (q.length > 0) {
      const head = q[0]!;
      const n = this.socket.write(head);
      if (n < 0) {
        q.length = 0;
        return;
      }
      if (n < head.byteLength) {
        q[0] = head.subarray(n);
        return;
      }
      q.shift();
    }
    if (this.ending) {
      this.finish();
      return;
    }
    this.onDrain();
  }

  /** @internal */
  handleClose(error: Error | null): void {
    this.queue.length = 0;
    if (this.linger !== null) clearTimeout(this.linger);
    this.onClose(error);
  }
}

/** The handlers of every Bun socket made here: each event goes to the socket's BunConnection. */
function bunSocketHandlers(onOpen: (c: BunConnection) => void) {
  const errors = new WeakMap<BunConnection, Error>();
  return {
    binaryType: "uint8array" as const,
    open(socket: BunSocket<BunConnection>) {
      socket.setNoDelay(true);
      const c = new BunConnection(socket);
      socket.data = c;
      onOpen(c);
    },
    data(socket: BunSocket<BunConnection>, chunk: Uint8Array) {
      socket.data.handleData(chunk);
    },
    drain(socket: BunSocket<BunConnection>) {
      socket.data.handleDrain();
    },
    end(socket: BunSocket<BunConnection>) {
      // The peer sent FIN; without half-open connections the socket closes now.
      socket.data?.handleClose(null);
    },
    error(socket: BunSocket<BunConnection>, error: Error) {
      if (socket.data !== undefined) errors.set(socket.data, error);
    },
    close(socket: BunSocket<BunConnection>, error?: Error) {
      const c = socket.data;
      if (c === undefined) return;
      c.handleClose(error ?? errors.get(c) ?? null);
    },
  };
}

export interface ConnectionListener {
  readonly port: number;
  /** Stops accepting; open connections stay (close them yourself). */
  stop(): void;
}

/** Listens on host:port; throws (as Bun.listen) when the address cannot be bound. */
export function listenConnections(host: string, port: number, onConnection: (c: Connection) => void): ConnectionListener {
  const listener: TCPSocketListener<BunConnection> = Bun.listen<BunConnection>({
    hostname: host,
    port,
    socket: bunSocketHandlers(onConnection),
  });
  return {
    port: listener.port,
    stop: () => listener.stop(false),
  };
}

/** Opens a TCP connection; rejects with the socket's error, or after timeoutMs. */
export function connectTcp(host: string, port: number, timeoutMs: number): Promise<Connection> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`connection timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const handlers = bunSocketHandlers((c) => {
      if (settled) return c.destroy();
      settled = true;
      clearTimeout(timer);
      resolve(c);
    });
    Bun.connect<BunConnection>({
      hostname: host,
      port,
      socket: {
        ...handlers,
        connectError(_socket: BunSocket<BunConnection>, error: Error) {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch((e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e instanceof Error ? e : new Error(String(e)));
    });
  });
}

/**
 * A node stream (a TLSSocket). Writes are copied: the stream keeps what it is given even when
 * write() says true, and true must mean the caller may reuse its buffer.
 */
export class StreamConnection extends BaseConnection {
  constructor(
    private readonly stream: Duplex & { remoteAddress?: string; remotePort?: number },
    private readonly peer?: { remoteAddress: string | undefined; remotePort: number | undefined },
  ) {
    super();
    // Paused until its owner attaches and resumes (as after a login reader's detach()).
    stream.pause();
    this.paused = true;
    stream.on("data", (chunk: Uint8Array) => this.onData(chunk));
    stream.on("drain", () => this.onDrain());
    let error: Error | null = null;
    stream.on("error", (e: Error) => (error ??= e));
    stream.on("end", () => this.onClose(error));
    stream.on("close", () => this.onClose(error));
    if (stream.destroyed) this.onClose(null);
  }

  get remoteAddress(): string | undefined {
    return this.peer?.remoteAddress ?? this.stream.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.peer?.remotePort ?? this.stream.remotePort;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.stream.destroyed) return true;
    return this.stream.write(Buffer.from(bytes));
  }

  end(bytes?: Uint8Array): void {
    if (this.stream.destroyed) return;
    if (bytes !== undefined) this.stream.end(Buffer.from(bytes));
    else this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }

  protected pauseSocket(): void {
    this.stream.pause();
  }

  protected resumeSocket(): void {
    this.stream.resume();
  }
}

/**
 * A node Duplex over a connection, for node:tls to run TLS on a Bun socket (an accepted
 * PostgreSQL client that sent SSLRequest). The connection must be detached from other readers.
 */
export function duplexOver(c: Connection): Duplex {
  let waiting: (() => void) | null = null;
  const duplex = new Duplex({
    read() {
      c.resume();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      if (c.write(chunk)) callback();
      else waiting = callback;
    },
    final(callback) {
      c.end();
      callback();
    },
    destroy(error, callback) {
      c.destroy();
      callback(error);
    },
  });
  c.attach({
    data(chunk) {
      if (!duplex.push(chunk)) c.pause();
    },
    drain() {
      const w = waiting;
      waiting = null;
      w?.();
    },
    close(error) {
      if (error !== null) duplex.destroy(error);
      else duplex.push(null);
    },
  });
  c.resume();
  return duplex;
}
