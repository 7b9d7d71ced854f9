// A pass-through HTTP proxy that adds `Authorization: Bearer <token>` to every request, for MCP
// clients that cannot send a header (the conformance suite's client connects with a bare URL).
// Everything else goes through as sent, Host and Origin included (so a DNS-rebinding check still
// sees the client's values), and responses stream back unbuffered (SSE stays live).

export interface BearerProxy {
  /** http://127.0.0.1:PORT: the same paths as the target. */
  readonly url: string;
  stop(): Promise<void>;
}

export function startBearerProxy(targetBase: string, token: string): BearerProxy {
  const target = new URL(targetBase);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const incoming = new URL(req.url);
      const url = new URL(incoming.pathname + incoming.search, target);
      const headers = new Headers(req.headers);
      headers.set("authorization", `Bearer ${token}`);
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const res = await fetch(url, {
        method: req.method,
        headers,
        body: hasBody ? await req.arrayBuffer() : undefined,
        redirect: "manual",
        signal: req.signal,
        decompress: false,
      } as RequestInit);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers: res.headers });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    stop: async () => void (await server.stop(true)),
  };
}
