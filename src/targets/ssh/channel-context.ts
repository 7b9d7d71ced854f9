// What a caller's channels need from their connection: the upstream connection, the account,
// the gate (through decide, which fills in who and when), and where their records go.
import type { Client, PseudoTtyInfo } from "ssh2";
import type { Logger } from "../../core/logger.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import type { CheckContext, Verdict } from "../../gate/gate.ts";
import type { ChannelRecorder } from "./channel-recorder.ts";

export interface ChannelContext {
  readonly targetName: string;
  readonly session: string;
  /** The upstream account the caller's SSH user name maps to. */
  readonly account: string;
  readonly upstream: Client;
  readonly envAllowed: (name: string) => boolean;
  /** Some rule has `lines`: shell lines typed with Enter are decided one by one (shell-lines.ts). */
  readonly shellLines: () => boolean;
  /** The target's exec_pty: an exec may have a terminal. */
  readonly execPty: boolean;
  readonly log: Logger;
  /** Counts bytes relayed (the target's GC pacing). */
  readonly relayed: (bytes: number) => void;
  /** Aborted when the caller's connection closes: its channels stop waiting for their streams. */
  readonly gone: AbortSignal;
  /** Refusals of the connection (ssh -R) not told yet: printed on the next session channel's stderr. */
  takeNotices(): string[];
  /** Decides and audits one action of this connection (as the caller's identity, now). */
  decide(facts: SshRequestFacts, opts: Pick<CheckContext, "details" | "onHold" | "signal">): Promise<Verdict>;
  /** The record of a started channel once it is over (exit status, bytes, duration). */
  ended(facts: SshRequestFacts, details: Record<string, unknown>): void;
  /** Another completion record of this connection (an SFTP operation: type "sftp"). */
  record(type: string, facts: SshRequestFacts, details: Record<string, unknown>): void;
  /** The recorder of a session channel about to start (see channel-recorder.ts); rejects when it cannot record. */
  recorder(facts: SshRequestFacts, pty: PseudoTtyInfo | null): Promise<ChannelRecorder | null>;
}
