// Verified credentials, remembered briefly so that a client sending the same token on every
// request pays for one signature check, not one per request. Entries never outlive the
// credential's own expiry, and at most `maxAgeMs`, so a removed machine key stops working soon;
// a policy reload clears the cache.
import type { Clock, Identity } from "../core/types.ts";

export interface CachedAuthenticate {
  (credential: string): Promise<Identity>;
  /** The identity remembered for this credential, if it is still valid; never verifies anything. */
  peek(credential: string): Identity | undefined;
  clear(): void;
}

export function createCachedAuthenticate(
  authenticate: (credential: string) => Promise<Identity>,
  clock: Clock,
  opts: { maxEntries?: number; maxAgeMs?: number } = {},
): CachedAuthenticate {
  const maxEntries = opts.maxEntries ?? 10_000;
  const maxAgeMs = opts.maxAgeMs ?? 30_000;
  const cache = new Map<string, { identity: Identity; until: number }>();
  // A check that began before a clear() (a reload) must not put the old answer back.
  let generation = 0;
  const fn = (async (credential: string) => {
    const now = clock.now();
    const hit = cache.get(credential);
    if (hit) {
      if (hit.until > now) return hit.identity;
      cache.delete(credential);
    }
    const began = generation;
    const identity = await authenticate(credential);
    if (began !== generation) return identity;
    const until = Math.min(now + maxAgeMs, identity.expiresAt ?? Number.POSITIVE_INFINITY);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(credential, { identity, until });
    return identity;
  }) as CachedAuthenticate;
  // The hot path's synchronous hit: the same rule as above (an entry past its time is not used).
  fn.peek = (credential: string) => {
    const hit = cache.get(credential);
    return hit !== undefined && hit.until > clock.now() ? hit.identity : undefined;
  };
  fn.clear = () => {
    generation++;
    cache.clear();
  };
  return fn;
}
