// Keeps a usable parser instance at hand. A statement deep enough to overflow the WASM stack
// traps in the middle of the parser: that query is denied, and the instance is dropped,
// because a trap leaves its per-call memory allocated (repeat it and memory runs out) and its
// internal state unproven. A spare takes over at once and a new spare is loaded in the
// background; a query that arrives while no instance is ready is denied, never parsed by a
// suspect one.
import type { PgParseResult, PgQueryModule } from "./pg-query-module.ts";

export interface PgQueryPool {
  /** Never throws: a trap or a missing instance comes back as a parse error. */
  parse(sql: string): PgParseResult;
}

export async function createPgQueryPool(load: () => Promise<PgQueryModule>): Promise<PgQueryPool> {
  let active: PgQueryModule | null = await load();
  let spare: PgQueryModule | null = await load();
  let loading = false;

  const refill = (): void => {
    if (loading || (active !== null && spare !== null)) return;
    loading = true;
    load().then(
      (m) => {
        loading = false;
        if (active === null) active = m;
        else spare = m;
        refill();
      },
      () => {
        // Try again on the next query rather than in a tight loop.
        loading = false;
      },
    );
  };

  return {
    parse(sql) {
      const m = active;
      if (m === null) {
        refill();
        return { ok: false, error: { message: "SQL parser is restarting after an internal failure; try again", position: null } };
      }
      try {
        return m.parse(sql);
      } catch (e) {
        active = spare;
        spare = null;
        refill();
        const why = e instanceof Error ? e.message : String(e);
        return { ok: false, error: { message: `SQL parser failed on this statement: ${why}`, position: null } };
      }
    },
  };
}
