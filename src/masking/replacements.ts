// The edits a one-pass mask makes to a JSON text, in order, and the text with them made.

export class Replacements {
  /**
   * text[from[i], to[i]) becomes json[i], in double quotes when quote[i] (a string that needs
   * no escape: quoted here, not by a concatenation per value); the spans are in order and do
   * not overlap.
   */
  readonly from: number[] = [];
  readonly to: number[] = [];
  readonly json: string[] = [];
  readonly quote: boolean[] = [];
  length = 0;

  push(from: number, to: number, json: string, quote: boolean): void {
    const i = this.length++;
    this.from[i] = from;
    this.to[i] = to;
    this.json[i] = json;
    this.quote[i] = quote;
  }

  clear(): void {
    // Let go of the replacement strings; keep the arrays' capacity.
    for (let i = 0; i < this.length; i++) this.json[i] = "";
    this.length = 0;
  }

  /** The text with the replacements made. */
  applyToText(text: string): string {
    let out = "";
    let last = 0;
    for (let i = 0; i < this.length; i++) {
      out += text.slice(last, this.from[i]) + (this.quote[i] ? `"${this.json[i]}"` : this.json[i]);
      last = this.to[i]!;
    }
    return out + text.slice(last);
  }
}
