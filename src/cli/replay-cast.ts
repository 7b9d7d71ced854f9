// Plays an asciicast v2 recording to the terminal at its recorded pace (or faster, or with
// idle time capped, or without waiting), streaming the file a line at a time. Only "o" events
// are shown; input, resize and marker events are skipped, as asciinema does.
import { readLines } from "../audit/line-reader.ts";
import { GatewayError } from "../core/errors.ts";

export interface PlayOptions {
  /** Playback speed-up: 2 plays twice as fast. */
  readonly speed: number;
  /** Longest pause between two events, in seconds (before the speed-up), or null for none. */
  readonly idleLimit: number | null;
  /** Print everything at once. */
  readonly noWait: boolean;
  readonly write: (text: string) => void;
  /** Waits `ms`; resolves early (false) when aborted. Injected so tests do not wait. */
  readonly sleep: (ms: number) => Promise<boolean>;
}

export interface CastHeader {
  readonly width: number;
  readonly height: number;
  readonly timestamp?: number;
}

export interface PlayResult {
  readonly header: CastHeader;
  /** Output events shown. */
  readonly events: number;
  /** Seconds of the recording played (its last event's time). */
  readonly duration: number;
  /** True when stopped by an abort before the end. */
  readonly stopped: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Plays `file`; throws GatewayError E_STATE when it is not an asciicast v2 file. */
export async function playCast(file: string, opts: PlayOptions): Promise<PlayResult> {
  let header: CastHeader | null = null;
  let last = 0;
  let events = 0;
  for await (const raw of readLines(file)) {
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(raw.bytes));
    } catch {
      if (!raw.terminated && header !== null) break; // a recording cut while being written
      throw notCast(file, raw.line, "not JSON");
    }
    if (header === null) {
      header = parseHeader(value, file);
      continue;
    }
    if (!Array.isArray(value) || value.length !== 3 || typeof value[0] !== "number" || typeof value[1] !== "string" || typeof value[2] !== "string") {
      throw notCast(file, raw.line, "an event must be [seconds, type, data]");
    }
    const [time, type, data] = value as [number, string, string];
    if (type !== "o") continue;
    let pause = Math.max(0, time - last);
    if (opts.idleLimit !== null) pause = Math.min(pause, opts.idleLimit);
    last = time;
    if (!opts.noWait && pause > 0 && !(await opts.sleep((pause * 1000) / opts.speed))) {
      return { header, events, duration: last, stopped: true };
    }
    opts.write(data);
    events++;
  }
  if (header === null) throw notCast(file, 1, "the file is empty");
  return { header, events, duration: last, stopped: false };
}

function parseHeader(value: unknown, file: string): CastHeader {
  const h = value as { version?: unknown; width?: unknown; height?: unknown; timestamp?: unknown } | null;
  if (h === null || typeof h !== "object" || h.version !== 2) throw notCast(file, 1, 'the header must have "version": 2');
  if (typeof h.width !== "number" || typeof h.height !== "number") throw notCast(file, 1, "the header must have width and height");
  return { width: h.width, height: h.height, ...(typeof h.timestamp === "number" ? { timestamp: h.timestamp } : {}) };
}

function notCast(file: string, line: number, problem: string): GatewayError {
  return new GatewayError("E_STATE", `not an asciicast v2 recording: ${file}:${line}: ${problem}`);
}

/** A sleep that an AbortSignal cuts short (resolving false). */
export function abortableSleep(signal: AbortSignal): (ms: number) => Promise<boolean> {
  return (ms) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve(false);
      const done = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", done);
        resolve(true);
      }, ms);
      signal.addEventListener("abort", done, { once: true });
    });
}
