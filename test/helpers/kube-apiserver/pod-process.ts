// A "container process": a real local process standing in for what would run in the pod, with a
// pseudo-terminal when the caller asks for a TTY (Bun.Terminal, so resizes reach it as SIGWINCH)
// or plain pipes otherwise. exec gets a fresh one per request; attach shares the pod's main one.
import type { Subprocess, Terminal } from "bun";

export type OutputStream = 1 | 2;

export interface SpawnSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly tty: boolean;
  readonly stdin: boolean;
}

/** How a process ended, as the kubelet reports it: an exit code, or the error that kept it from starting. */
export type ProcessEnd = { code: number } | { error: string };

export class PodProcess {
  private readonly outputs = new Set<(stream: OutputStream, data: Uint8Array) => void>();
  private readonly proc: Subprocess | undefined;
  private readonly terminal: Terminal | undefined;
  /** Settles once the process has exited and all its output has been delivered. */
  readonly ended: Promise<ProcessEnd>;
  private stdinOpen: boolean;
  private readonly gates = new Set<() => Promise<void> | undefined>();
  /** Bytes of output read from the process so far. */
  bytesOut = 0;
  /** True while output reading waits for a slow reader (backpressure reaches the process's pipe). */
  paused = false;

  constructor(spec: SpawnSpec) {
    this.stdinOpen = spec.stdin;
    let ptyEof: () => void = () => {};
    const ptyDone = new Promise<void>((r) => (ptyEof = r));
    try {
      if (spec.tty) {
        this.proc = Bun.spawn([...spec.argv], {
          cwd: spec.cwd,
          env: { ...spec.env, TERM: spec.env.TERM ?? "xterm" },
          terminal: { cols: 80, rows: 24, data: (_t, d) => this.emit(1, d), exit: () => ptyEof() },
        });
        this.terminal = this.proc.terminal;
      } else {
        this.proc = Bun.spawn([...spec.argv], { cwd: spec.cwd, env: spec.env, stdin: spec.stdin ? "pipe" : "ignore", stdout: "pipe", stderr: "pipe" });
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const end: ProcessEnd = { error: `OCI runtime exec failed: exec failed: unable to start container process: exec: ${JSON.stringify(spec.argv[0] ?? "")}: executable file not found in $PATH: unknown` };
      void msg;
      this.ended = Promise.resolve(end);
      return;
    }
    const proc = this.proc;
    const pumps: Promise<void>[] = [];
    if (!spec.tty) {
      pumps.push(this.pump(proc.stdout as ReadableStream<Uint8Array>, 1), this.pump(proc.stderr as ReadableStream<Uint8Array>, 2));
    }
    this.ended = (async (): Promise<ProcessEnd> => {
      await proc.exited;
      if (spec.tty) {
        // The PTY delivers the last output after the process exits; its EOF says all of it came.
        await Promise.race([ptyDone, Bun.sleep(2000)]);
        this.terminal?.close();
      }
      await Promise.all(pumps);
      return { code: proc.exitCode ?? 128 + signalNumber(proc.signalCode) };
    })();
  }

  private async pump(stream: ReadableStream<Uint8Array>, id: OutputStream): Promise<void> {
    for await (const chunk of stream) {
      this.bytesOut += chunk.length;
      this.emit(id, chunk);
      // A reader that does not keep up stops the reading here, so the process blocks on a full
      // pipe, as it would in a container behind a slow kubectl: memory stays flat.
      const waits = [...this.gates].map((g) => g()).filter((w): w is Promise<void> => w !== undefined);
      if (waits.length) {
        this.paused = true;
        await Promise.all(waits);
        this.paused = false;
      }
    }
  }

  /** Adds a check run after each output chunk; a promise it returns holds the next read. */
  addGate(gate: () => Promise<void> | undefined): () => void {
    this.gates.add(gate);
    return () => this.gates.delete(gate);
  }

  private emit(stream: OutputStream, data: Uint8Array): void {
    for (const fn of [...this.outputs]) fn(stream, data);
  }

  /** Receives output (stdout, stderr; a TTY's output is stdout). Returns the unsubscribe. */
  onOutput(fn: (stream: OutputStream, data: Uint8Array) => void): () => void {
    this.outputs.add(fn);
    return () => this.outputs.delete(fn);
  }

  write(data: Uint8Array): void {
    if (this.terminal) this.terminal.write(data);
    else if (this.stdinOpen && this.proc?.stdin && typeof this.proc.stdin !== "number") {
      this.proc.stdin.write(data);
      void this.proc.stdin.flush();
    }
  }

  /** Ends stdin: EOF on a pipe, ^D on a TTY (what closing a terminal's input means to a shell). */
  closeStdin(): void {
    if (this.terminal) {
      this.terminal.write("\x04");
      return;
    }
    if (this.stdinOpen && this.proc?.stdin && typeof this.proc.stdin !== "number") {
      this.stdinOpen = false;
      void this.proc.stdin.end();
    }
  }

  resize(cols: number, rows: number): void {
    if (this.terminal && cols > 0 && rows > 0) this.terminal.resize(cols, rows);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    try {
      this.proc?.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function signalNumber(sig: string | number | null): number {
  if (typeof sig === "number") return sig;
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };
  return sig ? (table[sig] ?? 0) : 0;
}
