import { expect, test } from "bun:test";
import { createServer, type Socket, connect } from "node:net";
import { coalesceWrites } from "./coalesce-writes.ts";
import { within } from "../../../test/helpers/wait.ts";

/** Writes three pieces in one tick on a connected socket; returns how the stream handed them down and what the peer got. */
async function threeWrites(coalesce: boolean): Promise<{ calls: number[]; got: string }> {
  let got = "";
  let gotAll: () => void = () => {};
  const all = new Promise<void>((r) => (gotAll = r));
  const server = createServer((s) => {
    s.on("data", (d) => {
      got += d.toString();
      if (got.length >= 12) gotAll();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const sock: Socket = await new Promise((r) => {
    const s = connect(port, "127.0.0.1", () => r(s));
  });
  // How many buffers each call into the socket's implementation carried.
  const calls: number[] = [];
  const inner = sock as unknown as { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
  const w = inner._write.bind(sock);
  const wv = inner._writev.bind(sock);
  inner._write = (...a: unknown[]) => (calls.push(1), w(...a));
  inner._writev = (chunks: unknown, ...rest: unknown[]) => (calls.push((chunks as unknown[]).length), wv(chunks, ...rest));
  if (coalesce) coalesceWrites(sock);
  expect(sock.write(Buffer.from("abcd"))).toBe(true);
  sock.write(Buffer.from("efgh"));
  sock.write(Buffer.from("ijkl"));
  await within("the peer to get all 12 bytes", all);
  sock.destroy();
  server.close();
  return { calls, got };
}

test("writes made in one tick reach the socket as one writev, in order", async () => {
  const r = await threeWrites(true);
  expect(r.got).toBe("abcdefghijkl");
  expect(r.calls[0]).toBe(3);
});

test("without it, each write is its own call (what ssh2 did per packet)", async () => {
  const r = await threeWrites(false);
  expect(r.got).toBe("abcdefghijkl");
  expect(r.calls.length).toBe(3);
});
