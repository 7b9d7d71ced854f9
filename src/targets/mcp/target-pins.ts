// A target's pin file (pins: in its config) as the session asks it: the file is read again when
// it changes (a reviewed commit that updates the lock applies without a restart), and a file that
// cannot be read pins nothing, so every tool is hidden and denied (fail closed).
import { statSync } from "node:fs";
import { errorMessage } from "../../core/errors.ts";
import { type PinFile, pinStatus, readPinFile, toolDigest } from "./pins.ts";
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
  return {
    check(server: string, tool: unknown): PinCheck {
      load();
      const sha256 = toolDigest(tool);
      if (unreadable) return { status: "changed", sha256 };
      return { status: pinStatus(file, server, tool), sha256 };
    },
  };
}
