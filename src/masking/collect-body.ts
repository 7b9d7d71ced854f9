// Gathers a response body that must be masked as a whole, up to a cap: above the cap the
// body is refused (and the upstream stream cancelled) rather than sent on unmasked.
import { GatewayError } from "../core/errors.ts";

export async function collectBody(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new GatewayError("E_UPSTREAM", `reading the response body failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      if (chunk.done) break;
      total += chunk.value.byteLength;
      if (total > maxBytes) {
        const error = new GatewayError("E_MASK", `response of more than ${maxBytes} bytes cannot be masked: refused`, {
          details: { maxBytes },
        });
        // The rest is never read: tell the upstream to stop sending. A failing cancel changes nothing.
        await reader.cancel(error).catch(() => undefined);
        throw error;
      }
      chunks.push(chunk.value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}
