// A target's pin file (pins: in its config) as the session asks it: the file is read again when
// it changes (a reviewed commit that updates the lock applies without a restart), and a file that
// cannot be read pins nothing, so every tool is hidden and denied (fail closed).
import { statSync } from "node:fs";
import { errorMessage } from "../../core/errors.ts";
import type { PinCheck, ToolPins } from "./session.ts";

/** The interface of pins.ts (h-mcp-b), as MCP-DESIGN.md gives it. */
export interface PinsModule {
  toolDigest(tool: unknown): string;
  readPinFile(path: string): unknown;
  pinStatus(pins: never, server: string, tool: unknown): "pinned" | "new" | "changed";
}

export function createToolPins(path: string, pins: PinsModule, log: { error(m: string, f?: Record<string, unknown>): void; warn(m: string, f?: Record<string, unknown>): void }): ToolPins {
  let stamp = "";
  let file: unknown = null;
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
      file = pins.readPinFile(path);
      unreadable = false;
      if (file === null) log.warn(`mcp pin file ${path} does not exist: every tool is new, hidden and denied until it is written (gatehouse mcp pin)`);
    } catch (e) {
      file = null;
      unreadable = true;
      log.error(`mcp pin file ${path} cannot be read: every tool is hidden and denied until it is fixed`, { error: errorMessage(e) });
    }
  }
  return {
    check(server: string, tool: unknown): PinCheck {
      load();
      const sha256 = pins.toolDigest(tool);
      if (unreadable) return { status: "changed", sha256 };
      return { status: pins.pinStatus(file as never, server, tool), sha256 };
    },
  };
}
