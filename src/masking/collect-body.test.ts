import { describe, expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import { collectBody } from "./collect-body.ts";

/** A stream of the given chunks that records whether it was cancelled and how far it was read. */
function source(chunks: readonly Uint8Array[], opts: { failAt?: number } = {}) {
  const state = { pulled: 0, cancelled: false, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (opts.failAt === state.pulled) {
          controller.error(new Error("connection reset"));
          return;
        }
        const chunk = chunks[state.pulled++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
      cancel(reason) {
        state.cancelled = true;
        state.reason = reason;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

const bytes = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

describe("collectBody", () => {
  test("joins the chunks in order", async () => {
    const { stream } = source([new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5, 6])]);
    expect(await collectBody(stream, 100)).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6]));
  });

  test("a body of exactly the cap passes", async () => {
    const { stream, state } = source([bytes(6), bytes(4)]);
    expect((await collectBody(stream, 10)).byteLength).toBe(10);
    expect(state.cancelled).toBe(false);
  });

  test("an empty body", async () => {
    const { stream } = source([]);
    expect((await collectBody(stream, 10)).byteLength).toBe(0);
  });

  test("one byte over the cap is refused and the stream cancelled, the rest never read", async () => {
    const { stream, state } = source([bytes(6), bytes(5), bytes(100), bytes(100)]);
    let caught: unknown;
    try {
      await collectBody(stream, 10);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe("E_MASK");
    expect((caught as GatewayError).message).toBe("response of more than 10 bytes cannot be masked: refused");
    expect(state.cancelled).toBe(true);
    expect(state.reason).toBe(caught);
    expect(state.pulled).toBe(2);
  });

  test("a cap of 0 refuses any byte", async () => {
    const { stream } = source([bytes(1)]);
    await expect(collectBody(stream, 0)).rejects.toThrow("response of more than 0 bytes cannot be masked: refused");
  });

  test("an upstream read error is an E_UPSTREAM error, never a short body", async () => {
    const { stream } = source([bytes(3)], { failAt: 1 });
    let caught: unknown;
    try {
      await collectBody(stream, 100);
    } catch (e) {
      caught = e;
    }
    expect((caught as GatewayError).code).toBe("E_UPSTREAM");
    expect((caught as GatewayError).message).toContain("connection reset");
  });

  test("works on a real fetch Response body", async () => {
    const body = new Response("x".repeat(5000)).body!;
    expect((await collectBody(body, 5000)).byteLength).toBe(5000);
    await expect(collectBody(new Response("x".repeat(5001)).body!, 5000)).rejects.toThrow("more than 5000 bytes");
  });
});
