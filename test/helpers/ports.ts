// Ports for servers that tests start. Prefer binding port 0 and asking the server which port it
// got (startGatewayProcess reads the gateway's "serving" line; Bun.serve and net servers report
// their own): a port probed here is released before the server binds it, and another process
// may take it meanwhile. freePort stays for code that cannot bind 0 itself.
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
