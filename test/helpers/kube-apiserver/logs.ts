// Container logs: what a test (or a pod's attached main process) writes, kept per
// namespace/pod/container, served by pods/log with tailLines, limitBytes, timestamps, and with
// follow=true as a stream that stays open until the log is ended, the pod deleted, or the client leaves.

interface LogLine {
  readonly at: Date;
  readonly text: string;
}

interface ContainerLog {
  readonly lines: LogLine[];
  readonly listeners: Set<(line: LogLine | null) => void>;
  ended: boolean;
}

export interface LogQuery {
  readonly follow: boolean;
  readonly tailLines: number | undefined;
  readonly limitBytes: number | undefined;
  readonly timestamps: boolean;
  readonly sinceSeconds: number | undefined;
}

const encoder = new TextEncoder();

export class PodLogs {
  private readonly logs = new Map<string, ContainerLog>();

  private log(ns: string, pod: string, container: string): ContainerLog {
    const k = `${ns}/${pod}/${container}`;
    let l = this.logs.get(k);
    if (!l) {
      l = { lines: [], listeners: new Set(), ended: false };
      this.logs.set(k, l);
    }
    return l;
  }

  /** Appends `text` (split into lines; a trailing newline is implied) to a container's log. */
  append(ns: string, pod: string, container: string, text: string, at = new Date()): void {
    const l = this.log(ns, pod, container);
    const parts = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
    for (const p of parts) {
      const line = { at, text: `${p}\n` };
      l.lines.push(line);
      for (const fn of [...l.listeners]) fn(line);
    }
  }

  /** Ends every follower of the container's log (the container stopped). */
  end(ns: string, pod: string, container?: string): void {
    for (const [k, l] of this.logs) {
      if (!k.startsWith(`${ns}/${pod}/`) || (container !== undefined && k !== `${ns}/${pod}/${container}`)) continue;
      l.ended = true;
      for (const fn of [...l.listeners]) fn(null);
    }
  }

  /** Forgets a pod's logs (deleted), ending its followers first. */
  drop(ns: string, pod: string): void {
    this.end(ns, pod);
    for (const k of [...this.logs.keys()]) if (k.startsWith(`${ns}/${pod}/`)) this.logs.delete(k);
  }

  /** Ends every follower of every log (server stopping). */
  endAll(): void {
    for (const l of this.logs.values()) for (const fn of [...l.listeners]) fn(null);
  }

  stream(ns: string, pod: string, container: string, q: LogQuery, signal: AbortSignal): ReadableStream<Uint8Array> {
    const l = this.log(ns, pod, container);
    const fmt = (line: LogLine) => encoder.encode(q.timestamps ? `${line.at.toISOString().replace(/Z$/, "000000Z")} ${line.text}` : line.text);
    let lines = l.lines;
    if (q.sinceSeconds !== undefined) {
      const from = Date.now() - q.sinceSeconds * 1000;
      lines = lines.filter((x) => x.at.getTime() >= from);
    }
    if (q.tailLines !== undefined) lines = q.tailLines === 0 ? [] : lines.slice(-q.tailLines);
    let budget = q.limitBytes ?? Infinity;
    let cleanup = () => {};
    return new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          cleanup();
          try {
            controller.close();
          } catch {
            /* the client went away first */
          }
        };
        const send = (line: LogLine): void => {
          if (closed) return;
          let bytes = fmt(line);
          if (bytes.length > budget) bytes = bytes.subarray(0, budget);
          budget -= bytes.length;
          if (bytes.length) controller.enqueue(bytes);
          if (budget <= 0) close();
        };
        for (const line of lines) send(line);
        if (!q.follow || l.ended || closed) {
          close();
          return;
        }
        const listener = (line: LogLine | null) => (line ? send(line) : close());
        l.listeners.add(listener);
        const onAbort = () => close();
        signal.addEventListener("abort", onAbort);
        cleanup = () => {
          l.listeners.delete(listener);
          signal.removeEventListener("abort", onAbort);
        };
      },
      cancel() {
        cleanup();
      },
    });
  }
}
