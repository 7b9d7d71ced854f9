// A target's pin file (pins: in its config) as the session asks it, at each listing and each
// call: the file is read again when it changes (a reviewed commit that updates the lock applies without a restart), and a file that
// cannot be read pins nothing, so every tool is hidden and denied (fail closed).
import { statSync } from "node:fs";
import { errorMessage } from "../../core/errors.ts";
import { type PinFile, readPinFile, toolDigest } from "./pins.ts";
import type { PinCheck, ToolPins } from "./session.ts";

export function createToolPins(path: string, log: { error(m: string, f?: Record<string, unknown>): void; warn(m: string, f?: Record<string, unknown>): void }): ToolPins {
  let stamp = "";
  let file: PinFile | null = null;
  let unreadable = false;
  function load(): void {
    let now: string;
    try {
      const st = statSync(path);
      now = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      now = "absent";
    }
    if (now === stamp) return;
    stamp = now;
    try {
      file = readPinFile(path);
      unreadable = false;
      if (file === null) log.warn(`mcp pin file ${path} does not exist: every tool is new, hidden and denied until it is written (gatehouse mcp pin)`);
    } catch (e) {
      file = null;
      unreadable = true;
      log.error(`mcp pin file ${path} cannot be read: every tool is hidden and denied until it is fixed`, { error: errorMessage(e) });
    }
  }
  // A tool definition's digest, once per definition object (a session keeps the one it listed).
  const digests = new WeakMap<object, string>();
  return {
    check(server: string, tool: unknown): PinCheck {
      load();
      let sha256 = typeof tool === "object" && tool !== null ? digests.get(tool) : undefined;
      if (sha256 === undefined) {
        try {
          sha256 = toolDigest(tool);
        } catch {
          return { status: "new", sha256: "" };
        }
        if (typeof tool === "object" && tool !== null) digests.set(tool, sha256);
      }
      if (unreadable) return { status: "changed", sha256 };
      const name = (tool as { name: string }).name;
      const pinned = file !== null && Object.hasOwn(file.servers, server) ? file.servers[server] : undefined;
      // As pinStatus (pins.ts) says it, from the digest already made.
      const status = pinned === undefined || !Object.hasOwn(pinned.tools, name) ? "new" : pinned.tools[name] === sha256 ? "pinned" : "changed";
      return { status, sha256 };
    },
  };
}
