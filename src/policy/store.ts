// The policy in force: one reference to an immutable (config, policy) pair, replaced whole on
// reload so that a request sees either the old policy or the new one, never a mix.
import type { Config } from "../config/schema.ts";
import type { Policy } from "./compile.ts";

export interface PolicySnapshot {
  readonly config: Config;
  readonly policy: Policy;
}

export interface PolicyStore {
  current(): PolicySnapshot;
  /** Installs `next` and returns the snapshot it replaced. */
  swap(next: PolicySnapshot): PolicySnapshot;
}

export function createPolicyStore(initial: PolicySnapshot): PolicyStore {
  let snapshot: PolicySnapshot = Object.freeze({ config: initial.config, policy: initial.policy });
  return Object.freeze({
    current: () => snapshot,
    swap(next: PolicySnapshot) {
      const previous = snapshot;
      snapshot = Object.freeze({ config: next.config, policy: next.policy });
      return previous;
    },
  });
}
