// The best-effort line policy for interactive shells (rules with `ssh: { lines: [...] }`): the
// caller's keystrokes are forwarded as they come (so echo, completion and editing work), except
// Enter, which is held while the line typed since the last Enter is decided as a `shell` action
// with that line. Allowed: Enter goes on. Refused: the line is wiped upstream (^U, readline's and
// the tty's line kill) and the caller is told why. Backspace, ^U and ^W are followed; any other
// control key or escape sequence (arrows, tab completion, history) stays in the line as typed,
// so the policy sees a line it cannot read (deny rules with lines refuse it). NOT a security
// boundary: aliases, history, pasted escapes and full-screen programs defeat it; exec policy is.

/** Readline's unix-line-discard and the tty's VKILL. */
const KILL_LINE = Buffer.from([0x15]);
const MAX_LINE = 16 * 1024;

export interface LineVerdict {
  readonly allowed: boolean;
  readonly message: string;
}

export interface ShellLineGateDeps {
  /** Bytes for the upstream; false when it is full (the gate does not wait for that: the relay's pause does). */
  forward(bytes: Buffer): void;
  decide(line: string): Promise<LineVerdict>;
  /** Text for the caller's terminal. */
  tell(text: string): void;
  /** The gate can take input again after write() returned false. */
  resume(): void;
}

export class ShellLineGate {
  private line: number[] = [];
  /** More was typed than the line keeps: the decided line must not look like a whole one. */
  private overflowed = false;
  private waiting = false;
  private readonly held: Buffer[] = [];

  constructor(private readonly deps: ShellLineGateDeps) {}

  /** Caller input; false while a line is being decided (pause the caller until resume()). */
  write(chunk: Buffer): boolean {
    if (this.waiting) {
      this.held.push(chunk);
      return false;
    }
    return this.take(chunk);
  }

  private take(chunk: Buffer): boolean {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0d || b === 0x0a) {
        if (i > from) this.deps.forward(chunk.subarray(from, i));
        const line = this.submit();
        if (line === null) {
          from = i;
          continue;
        }
        this.decideThen(line, chunk.subarray(i, i + 1), chunk.subarray(i + 1));
        return false;
      }
      this.edit(b);
    }
    if (from < chunk.length) this.deps.forward(chunk.subarray(from));
    return true;
  }

  private edit(b: number): void {
    if (b === 0x7f || b === 0x08) {
      // Backspace: the last character, with its UTF-8 continuation bytes.
      while (this.line.length > 0 && (this.line[this.line.length - 1]! & 0xc0) === 0x80) this.line.pop();
      this.line.pop();
    } else if (b === 0x15 || b === 0x03) {
      this.line = []; // ^U, ^C
      this.overflowed = false;
    } else if (b === 0x17) {
      // ^W: the last word and the blanks before it.
      while (this.line.length > 0 && this.line[this.line.length - 1] === 0x20) this.line.pop();
      while (this.line.length > 0 && this.line[this.line.length - 1] !== 0x20) this.line.pop();
    } else if (this.line.length < MAX_LINE) this.line.push(b);
    else this.overflowed = true;
  }

  /** The line typed since the last Enter, or null for an empty one (nothing to decide). */
  private submit(): string | null {
    const bytes = this.line;
    const overflowed = this.overflowed;
    this.line = [];
    this.overflowed = false;
    if (bytes.length === 0 && !overflowed) return null;
    const text = new TextDecoder().decode(new Uint8Array(bytes));
    // The shell runs all of it, the gate kept only the start: decide a line that cannot be read
    // (a control character makes it unsplittable), so deny rules refuse it and only rules that
    // allow any line let it through.
    return overflowed ? `${text}\n[line longer than ${MAX_LINE} bytes]` : text;
  }

  private decideThen(line: string, enter: Buffer, rest: Buffer): void {
    this.waiting = true;
    const go = (v: LineVerdict) => {
      if (v.allowed) this.deps.forward(enter);
      else {
        this.deps.forward(KILL_LINE);
        this.deps.tell(`\r\ngatehouse: line refused: ${v.message}\r\n`);
      }
      this.waiting = false;
      const queued = [rest, ...this.held.splice(0)];
      for (let k = 0; k < queued.length; k++) {
        if (!this.take(queued[k]!)) {
          // Another Enter: what follows it waits again.
          this.held.unshift(...queued.slice(k + 1));
          return;
        }
      }
      this.deps.resume();
    };
    this.deps.decide(line).then(go, (e: unknown) => go({ allowed: false, message: `the line could not be decided: ${String(e)}` }));
  }
}
