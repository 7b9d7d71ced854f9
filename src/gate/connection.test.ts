// Connections over Bun sockets: what write() keeps under backpressure goes out in order on
// drain, nothing that arrives while detached is lost, and a paused reader is not fed.
import { expect, test } from "bun:test";
import { waitFor } from "../../test/helpers/wait.ts";
import { connectTcp, listenConnections, type Connection } from "./connection.ts";

test("bytes the kernel did not take are written on drain, in order, and the peer gets every one", async () => {
  let server: Connection | null = null;
  const listener = listenConnections("127.0.0.1", 0, (c) => (server = c));
  try {
    const client = await connectTcp("127.0.0.1", listener.port, 5_000);
    const s = await waitFor("the accepted connection", () => server);
    // The receiver does not read at first: the sender's writes must back up.
    s.pause();
    const received: Uint8Array[] = [];
    let receivedBytes = 0;
    let closed = false;
    s.attach({ data: (c) => (received.push(c), (receivedBytes += c.length)), drain: () => {}, close: () => (closed = true) });
    let drains = 0;
    client.attach({ data: () => {}, drain: () => drains++, close: () => {} });
    client.resume();
    const block = (i: number) => new Uint8Array(1 << 20).fill(i);
    const answers: boolean[] = [];
    for (let i = 1; i <= 32; i++) answers.push(client.write(block(i)));
    expect(answers).toContain(false);
    s.resume();
    await waitFor("all 32 MiB at the receiver", () => receivedBytes === 32 << 20);
    await waitFor("the sender's drain", () => drains > 0);
    const all = new Uint8Array(32 << 20);
    let at = 0;
    for (const r of received) (all.set(r, at), (at += r.length));
    for (let i = 1; i <= 32; i++) expect(all[(i - 1) << 20]).toBe(i), expect(all[(i << 20) - 1]).toBe(i);
    client.end(new Uint8Array([7]));
    await waitFor("the receiver to see the close", () => closed);
  } finally {
    listener.stop();
  }
});

test("what arrives before anyone attaches is held and handed on, close included, once attached and not paused", async () => {
  let server: Connection | null = null;
  const listener = listenConnections("127.0.0.1", 0, (c) => (server = c));
  try {
    const client = await connectTcp("127.0.0.1", listener.port, 5_000);
    const s = await waitFor("the accepted connection", () => server);
    // Nobody attached yet (as between a login reader and the relay): the socket still reads, and holds.
    client.write(new Uint8Array([1, 2, 3]));
    client.end(new Uint8Array([4]));
    await waitFor("the close to reach the server side", () => s.closed);
    const got: number[] = [];
    let closedWith: Error | null | undefined;
    s.pause();
    s.attach({ data: (c) => got.push(...c), drain: () => {}, close: (e) => (closedWith = e) });
    expect(got).toEqual([]);
    s.resume();
    expect(got).toEqual([1, 2, 3, 4]);
    expect(closedWith).toBeNull();
  } finally {
    listener.stop();
  }
});

test("a refused connection rejects", async () => {
  const listener = listenConnections("127.0.0.1", 0, () => {});
  const port = listener.port;
  listener.stop();
  await expect(connectTcp("127.0.0.1", port, 5_000)).rejects.toThrow();
});
