// hono's `html` template, held to what the console needs: synchronous, every interpolated value
// escaped unless it is itself an escaped fragment (another h`` or raw()).
import { html, raw } from "hono/html";

export type Html = ReturnType<typeof raw>;

export function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const out = html(strings, ...values);
  // Only a Promise among the values makes it asynchronous; pages never pass one.
  if (out instanceof Promise) throw new TypeError("console templates must be synchronous");
  return out;
}

export { raw };
