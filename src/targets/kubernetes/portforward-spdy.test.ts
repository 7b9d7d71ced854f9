import { expect, test } from "bun:test";
import zlib from "node:zlib";
import { SpdyFrameSplitter, StoredZlibWriter, controlFrame, parseHeaderBlock, rstStream } from "./portforward-spdy.ts";
import { SPDY3_DICTIONARY } from "./spdy-dictionary.ts";
import { queryFlag, queryPorts } from "./upgrade.ts";

function block(h: [string, string][]): Uint8Array {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, h.length])];
  for (const [k, v] of h) for (const s of [k, v]) parts.push(Buffer.from([0, 0, 0, Buffer.byteLength(s)]), Buffer.from(s));
  return Buffer.concat(parts);
}

test("header blocks written as stored deflate blocks are read by zlib's inflater (with the SPDY dictionary), one after another", async () => {
  const w = new StoredZlibWriter();
  const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const read = (b: Uint8Array) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const on = (d: Buffer) => out.push(d);
      inflate.on("data", on);
      inflate.write(b);
      inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        inflate.off("data", on);
        resolve(Buffer.concat(out));
      });
    });
  const a = block([["port", "8080"], ["streamtype", "data"]]);
  const big = block([["x", "y".repeat(70_000)]]);
  expect(Buffer.compare(await read(w.block(a)), Buffer.from(a))).toBe(0);
  expect(Buffer.compare(await read(w.block(big)), Buffer.from(big))).toBe(0);
  expect(parseHeaderBlock(await read(w.block(a))).get("port")).toBe("8080");
  inflate.close();
});

test("a header block naming a header twice, or cut short, is refused", () => {
  expect(() => parseHeaderBlock(block([["port", "80"], ["Port", "22"]]))).toThrow("appears twice");
  expect(() => parseHeaderBlock(block([["port", "80"]]).subarray(0, 10))).toThrow("cut short");
});

test("the frame splitter returns whole frames whatever the message boundaries", () => {
  const frames = [controlFrame(4, 0, new Uint8Array(12)), rstStream(5, 3), Buffer.concat([Buffer.from([0, 0, 0, 5, 0, 0, 0, 3]), Buffer.from("abc")])];
  const all = Buffer.concat(frames);
  const s = new SpdyFrameSplitter();
  const got: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += 3) got.push(...s.push(all.subarray(i, i + 3)));
  expect(got.map((f) => Buffer.from(f).toString("hex"))).toEqual(frames.map((f) => Buffer.from(f).toString("hex")));
  expect(() => new SpdyFrameSplitter().push(Buffer.from([0, 0, 0, 1, 0, 0x7f, 0xff, 0xff]))).toThrow("SPDY frame of");
});

test("ports= and boolean query parameters as the API server reads them", () => {
  expect(queryPorts("/api/v1/namespaces/a/pods/b/portforward?ports=80&ports=8080,9090")).toEqual([80, 8080, 9090]);
  expect(queryPorts("/api/v1/namespaces/a/pods/b/portforward")).toEqual([]);
  expect(queryFlag("/x?tty=True", "tty")).toBe(true);
  expect(queryFlag("/x?tty=1", "tty")).toBe(true);
  expect(queryFlag("/x?tty=false&tty=true", "tty")).toBe(false);
  expect(queryFlag("/x?tty=yes", "tty")).toBe(false);
});

test("the SPDY/3 header dictionary is unchanged: 1423 bytes, the sha-256 recorded beside it", () => {
  expect(SPDY3_DICTIONARY.length).toBe(1423);
  expect(new Bun.CryptoHasher("sha256").update(SPDY3_DICTIONARY).digest("hex")).toBe("51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02");
});
