// A tiny internal API for the quick start (`gatehouse serve --demo`): orders and customers
// with e-mail addresses and card numbers, so masking and denial have something to show.

const customers = [
  { id: 1, name: "Ada Lovelace", email: "ada@example.com", card: "4242 4242 4242 4242" },
  { id: 2, name: "Grace Hopper", email: "grace@example.org", card: "5555 5555 5555 4444" },
];
const orders = [
  { id: 1, customer: 1, total: 120.5, status: "shipped" },
  { id: 2, customer: 2, total: 42, status: "open" },
];

export function startDemoUpstream(hostname: string, port: number): { port: number; stop(): void } {
  const server = Bun.serve({
    hostname,
    port,
    async fetch(req) {
      const url = new URL(req.url);
      const seen = { authorization: req.headers.get("authorization") };
      if (url.pathname === "/api/customers") return Response.json({ customers, seen });
      if (url.pathname === "/api/orders" && req.method === "GET") return Response.json({ orders });
      if (url.pathname.startsWith("/api/orders") && req.method === "POST") {
        const body = await req.text();
        return Response.json({ created: true, body }, { status: 201 });
      }
      if (req.method === "DELETE") return Response.json({ deleted: url.pathname });
      return Response.json({ path: url.pathname, method: req.method, seen });
    },
  });
  return { port: server.port ?? port, stop: () => void server.stop(true) };
}
