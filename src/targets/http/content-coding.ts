// The body of a masked response as the masker must read it: the upstream's content codings
// undone, within the mask size limit. fetch did this (decompress: true) for masked routes; the
// gateway's own client (gate/http1-client.ts) hands over the bytes as sent, so it is done here.
// A coding it does not know, or a body that inflates past the limit, is refused: masking bytes
// it cannot read would send what the rule meant to hide.
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from "node:zlib";
import { GatewayError, errorMessage } from "../../core/errors.ts";

/** Undoes `contentEncoding` (a list, applied in order, so undone last first); at most `max` bytes out. */
export function decodeContentCoding(body: Uint8Array, contentEncoding: string, max: number): Uint8Array {
  const codings = contentEncoding
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  let out = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    try {
      switch (coding) {
        case "gzip":
        case "x-gzip":
          out = gunzipSync(out, { maxOutputLength: max });
          break;
        case "deflate":
          // "deflate" is zlib-wrapped by the RFC; some servers send it raw, which fetch also reads.
          out = (out[0]! & 0x0f) === 8 && ((out[0]! << 8) | out[1]!) % 31 === 0 ? inflateSync(out, { maxOutputLength: max }) : inflateRawSync(out, { maxOutputLength: max });
          break;
        case "br":
          out = brotliDecompressSync(out, { maxOutputLength: max });
          break;
        default:
          throw new GatewayError("E_MASK", `the response's Content-Encoding ${JSON.stringify(contentEncoding)} cannot be decoded to mask it`);
      }
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      const tooLarge = (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
      throw new GatewayError("E_MASK", tooLarge ? `the response inflates to more than mask_max_size (${max} bytes); refused rather than sent unmasked` : `the response's ${coding} body cannot be decoded to mask it: ${errorMessage(e)}`, { cause: e });
    }
  }
  return out;
}
