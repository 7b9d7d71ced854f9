// Matches SSH requests: login, channel type and, for exec, the command.
import { GatewayError } from "../../core/errors.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlobs } from "../glob.ts";

export type SshSection = NonNullable<RuleConfig["ssh"]>;
export type SshMatcher = (facts: SshRequestFacts, command: string) => boolean;

export const SSH_CHANNELS = ["exec", "shell", "sftp", "forward"] as const;

/** The text command globs match (interim: the command line as sent). */
export function sshCommandText(f: SshRequestFacts): string {
  return f.command ?? "";
}

export function compileSshMatcher(section: SshSection, restricting: boolean): SshMatcher {
  const logins = section.logins ? compileGlobs(section.logins, { ignoreCase: restricting }) : null;
  let channels: Set<string> | null = null;
  if (section.channels) {
    channels = new Set();
    for (const c of section.channels) {
      const k = c.toLowerCase();
      // A misspelt channel in a deny rule would silently never match.
      if (!(SSH_CHANNELS as readonly string[]).includes(k)) {
        throw new GatewayError("E_POLICY_INVALID", `unknown ssh channel "${c}" (expected one of ${SSH_CHANNELS.join(", ")})`);
      }
      channels.add(k);
    }
  }
  // `*` stays within one argument, `**` spans arguments: "systemctl restart *" is exactly
  // three words, "journalctl **" is journalctl with any arguments.
  const commands = section.commands ? compileGlobs(section.commands, { separator: " ", ignoreCase: restricting }) : null;
  return (f, command) => {
    if (logins !== null && !logins(f.user)) return false;
    if (channels !== null && !channels.has(f.action)) return false;
    if (commands === null) return true;
    // What runs inside an interactive shell is invisible to us, so a deny or review rule about
    // commands also covers shells; an allow rule about commands never allows one.
    if (f.action === "shell") return restricting;
    return f.action === "exec" && command.length > 0 && commands(command);
  };
}
