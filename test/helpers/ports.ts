// Ports for servers that tests start. Bind port 0 and ask the server which port it got
// (startGatewayProcess reads the gateway's "serving" line; Bun.serve and net servers report
// their own): a port probed here is released before the server binds it, and another process
// may take it meanwhile.
//
// freePort remains only where the port must be known before anything binds it; a start that
// fails because the port was taken meanwhile is then retried on another (postgres.ts, sshd.ts,
// mcp-servers.ts and onFreePort do so):
// - servers that cannot bind 0 and report the port: PostgreSQL (postgres.ts keeps its own probe
//   and retry), sshd (sshd.ts), server-everything over HTTP (mcp-servers.ts), `ssh -L`'s local
//   port (ssh-channels), the benches' upstreams and proxies;
// - a gateway whose configuration must name its own port (onFreePort): the approvals CLI finds
//   the admin API through the config's gateway.admin.listen (approvals-cli, approvals-claims,
//   ssh-channels), and an MCP target's OAuth resource URL and the issuer's audience name the
//   target's port (mcp-clients, mcp-readme); the console's redirect URL is registered at the
//   OpenID provider before the gateway starts (console-approvals);
// - server-everything started by a test itself (mcp-runtime-features), as in mcp-servers.ts;
// - the demo (`serve --demo --port`) and the benches, which start what a user would.
import { createServer } from "node:net";
import { waitFor } from "./wait.ts";

/** A port that was free a moment ago. Racy by nature: prefer listening on port 0. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The error of a start that failed because its port was taken (the gateway's, Bun's, Node's wording). */
const PORT_TAKEN = /EADDRINUSE|address already in use|Is port \d+ in use\?|port \d+ is already in use/i;

/**
 * `start(port)` on a port that was free a moment ago; if it fails because the port was taken in
 * between, again on another (at most `attempts` times). For a server whose configuration must
 * name its own port before it binds: prefer port 0 wherever the port can be read afterwards.
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (e) {
      if (attempt >= attempts || !PORT_TAKEN.test(e instanceof Error ? e.message : String(e))) throw e;
    }
  }
}

/** Resolves once something accepts TCP connections on host:port; fails naming the address after `timeoutMs`. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 20_000): Promise<void> {
  await waitFor(
    `something to accept connections on ${host}:${port}`,
    async () => {
      const sock = await Bun.connect({ hostname: host, port, socket: { data() {} } });
      sock.end();
      return true;
    },
    { timeoutMs, intervalMs: 50 },
  );
}
