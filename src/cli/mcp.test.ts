// gatehouse mcp pin: against @modelcontextprotocol/server-everything over stdio, through the
// whole command (config, secrets, pin file), and the comparison on stand-in tool lists.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../main.ts";
import type { McpTarget } from "../config/schema.ts";
import type { Io } from "./command.ts";
import { pinTarget } from "./mcp.ts";
import { pinStatus, readPinFile, toolDigest } from "../targets/mcp/pins.ts";
import { listTools } from "../targets/mcp/list-tools.ts";

setDefaultTimeout(60_000);

const EVERYTHING = join(import.meta.dir, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-mcp-pin-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capture(env: Record<string, string> = {}): Io & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env, signal: new AbortController().signal, out: () => out, err: () => err };
}

const config = (pins: string | null) => `
targets:
  - name: tools
    kind: mcp
    listen: "127.0.0.1:0"
${pins === null ? "" : `    pins: ${pins}\n`}    servers:
      - name: everything
        command: [node, ${JSON.stringify(EVERYTHING)}, stdio]
        env: { SECRET_FOR_SERVER: "\${env:PIN_TEST_SECRET}" }
rules: []
`;

describe("gatehouse mcp pin", () => {
  test("pins server-everything's tools; --check then finds the file up to date, and a changed digest", async () => {
    const cfg = join(dir, "gatehouse.yaml");
    await writeFile(cfg, config("pins/tools.json"));
    await Bun.write(join(dir, "pins", ".keep"), "");
    const io = capture({ PIN_TEST_SECRET: "s3cret" });
    expect(await main(["mcp", "pin", "tools", "--config", cfg], io)).toBe(0);
    expect(io.out()).toContain("wrote");
    const path = join(dir, "pins", "tools.json");
    const file = readPinFile(path)!;
    const listed = await listTools({ name: "everything", command: ["node", EVERYTHING, "stdio"] });
    expect(Object.keys(file.servers["everything"]!.tools).sort()).toEqual(listed.map((t) => (t as { name: string }).name).sort());
    for (const t of listed) expect(pinStatus(file, "everything", t)).toBe("pinned");

    const check = capture({ PIN_TEST_SECRET: "s3cret" });
    expect(await main(["mcp", "pin", "tools", "--config", cfg, "--check"], check)).toBe(0);
    expect(check.out()).toContain("up to date");

    const text = await readFile(path, "utf8");
    const echo = file.servers["everything"]!.tools["echo"]!;
    await writeFile(path, text.replace(echo, "0".repeat(64)));
    const changed = capture({ PIN_TEST_SECRET: "s3cret" });
    expect(await main(["mcp", "pin", "tools", "--config", cfg, "--check"], changed)).toBe(1);
    expect(changed.out()).toContain("~ echo");
    expect(readPinFile(path)!.servers["everything"]!.tools["echo"]).toBe("0".repeat(64));
  });

  test("bad usage and targets without pins are refused with a reason", async () => {
    const cfg = join(dir, "gatehouse.yaml");
    await writeFile(cfg, config(null));
    const io = capture({ PIN_TEST_SECRET: "x" });
    expect(await main(["mcp", "pin", "tools", "--config", cfg], io)).toBe(2);
    expect(io.err()).toContain("has no pins: file");
    const other = capture({ PIN_TEST_SECRET: "x" });
    expect(await main(["mcp", "pin", "nope", "--config", cfg], other)).toBe(2);
    expect(other.err()).toContain('no target "nope"');
    const sub = capture();
    expect(await main(["mcp", "unpin", "tools"], sub)).toBe(2);
  });

  test("a secret reference that cannot be resolved stops it before anything is spawned or written", async () => {
    const cfg = join(dir, "gatehouse.yaml");
    await writeFile(cfg, config("tools.json"));
    const io = capture({});
    expect(await main(["mcp", "pin", "tools", "--config", cfg], io)).toBe(1);
    expect(io.err()).toContain("PIN_TEST_SECRET");
    expect(readPinFile(join(dir, "tools.json"))).toBeNull();
  });
});

describe("pinTarget", () => {
  const target = (servers: string[]): McpTarget => ({ name: "t", kind: "mcp", listen: "127.0.0.1:0", pins: "p.json", servers: servers.map((name) => ({ name, url: "http://127.0.0.1:1/mcp" })) });
  const tool = (name: string, description = "d") => ({ name, description, inputSchema: { type: "object" } });

  test("new, changed and gone tools; other servers keep their pins; a failing server writes nothing", async () => {
    const path = join(dir, "p.json");
    let lists: Record<string, unknown[]> = { a: [tool("read"), tool("write")], b: [tool("x")] };
    const deps = { list: async (s: { name: string }) => lists[s.name]! };
    const io = capture();
    expect(await pinTarget(target(["a", "b"]), path, { check: false }, io, deps)).toBe(0);
    expect(readPinFile(path)!.servers["a"]!.tools["read"]).toBe(toolDigest(tool("read")));

    lists = { a: [tool("read", "now with instructions"), tool("delete")], b: [] };
    const again = capture();
    expect(await pinTarget(target(["a", "b"]), path, { servers: ["a"], check: false }, again, deps)).toBe(0);
    expect(again.out()).toContain("+ delete");
    expect(again.out()).toContain("~ read");
    expect(again.out()).toContain("- write");
    const file = readPinFile(path)!;
    expect(Object.keys(file.servers["a"]!.tools).sort()).toEqual(["delete", "read"]);
    expect(file.servers["b"]!.tools["x"]).toBe(toolDigest(tool("x")));

    const failing = { list: async (s: { name: string }) => (s.name === "b" ? Promise.reject(new Error("down")) : lists[s.name]!) };
    const before = await readFile(path, "utf8");
    await expect(pinTarget(target(["a", "b"]), path, { check: false }, capture(), failing)).rejects.toThrow("down");
    expect(await readFile(path, "utf8")).toBe(before);
  });

  test("warns of names a reviewer should look at twice, and refuses a tool listed twice", async () => {
    const path = join(dir, "q.json");
    const io = capture();
    await pinTarget(target(["a"]), path, { check: false }, io, { list: async () => [tool("delete_file"), tool("Delete_File"), tool("dеlete")] });
    expect(io.err()).toContain('"delete_file" and "Delete_File" differ only in case');
    expect(io.err()).toContain('"dеlete" has characters other than printable ASCII');
    await expect(pinTarget(target(["a"]), path, { check: false }, capture(), { list: async () => [tool("x"), tool("x", "other")] })).rejects.toThrow(/twice/);
  });
});
