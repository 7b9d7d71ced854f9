// The gateway's own limit on the size of a request's head (request line and headers). The
// runtime's HTTP parser answers a bare 431 with no body and no record for a head over its
// limit, and the gateway never sees it; so the compiled binary raises the runtime's limit
// (build.ts: --max-http-header-size=65536) and this lower one answers first, with a reason and
// a record. (The runtime's limit of about 198 headers is fixed; a lower count limit here would
// only refuse more, not answer those, so there is none.)

/** Request line plus headers, in bytes, as the runtime's default limit counted them before. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** What the compiled binary's runtime allows (see build.ts); a head larger still gets the runtime's bare 431. */
export const RUNTIME_MAX_HEAD_BYTES = 64 * 1024;

/**
 * Why a request's head is over the gateway's limits, or null. The size is that of the head on
 * the wire, as near as the parsed request shows it: "METHOD target HTTP/1.1", each
 * "name: value", a CRLF after each line.
 */
export function headTooLarge(method: string, url: string, headers: Headers): string | null {
  // The request line carries the path and query, not the scheme and host the URL begins with.
  const origin = url.indexOf("//");
  const path = origin < 0 ? 0 : url.indexOf("/", origin + 2);
  let bytes = method.length + 1 + (path < 0 ? 1 : url.length - path) + 11;
  headers.forEach((value, name) => {
    bytes += name.length + 2 + value.length + 2;
  });
  if (bytes > MAX_HEAD_BYTES) return `the request line and headers take about ${bytes} bytes; the gateway takes at most ${MAX_HEAD_BYTES}`;
  return null;
}
