// An answer whose body is already in memory (a get, a list, a masked answer): marked so that the
// listener writes it with one end(bytes) and a Content-Length, instead of reading it back through
// a Web stream reader chunk by chunk (that loop cost several percent of the gateway's CPU per request).
const wholes = new WeakMap<Response, Uint8Array>();

export function wholeResponse(bytes: Uint8Array, init: ResponseInit): Response {
  const res = new Response(bytes, init);
  wholes.set(res, bytes);
  return res;
}

/** The body of a Response made by wholeResponse, or undefined. */
export function wholeBody(res: Response): Uint8Array | undefined {
  return wholes.get(res);
}
