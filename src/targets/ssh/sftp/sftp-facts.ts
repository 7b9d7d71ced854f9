// The bridge from an SFTP check to the policy's request facts, so the SSH target's wiring is one
// call: decide: (c) => gate.check(sftpRequestFacts(user, c)).
import type { SshRequestFacts } from "../../../core/types.ts";
import type { SftpCheck } from "./sftp-classify.ts";

export function sftpRequestFacts(user: string, check: SftpCheck): SshRequestFacts {
  return {
    kind: "ssh",
    action: "sftp",
    user,
    operation: check.operation,
    path: check.path,
    ...(check.toPath !== undefined ? { toPath: check.toPath } : {}),
  };
}
