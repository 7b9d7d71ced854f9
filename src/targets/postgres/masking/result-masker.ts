// The rows of masked statements as backend-relay.ts streams them: the mask plan of each result
// (from the column origins in the catalog), the rewriting of each DataRow, and the pause of
// the upstream while a catalog lookup for origins runs, with the messages that arrive meanwhile.
import { GatewayError } from "../../../core/errors.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { planColumns, withResultFormats, type Arena, type ColumnOrigin, type MaskPlan, type MaskSpec } from "./mask-plan.ts";
import type { FieldDescription } from "../protocol/backend-message.ts";
import type { RelayCore } from "../relay/relay-core.ts";
import type { Expectation } from "../relay/response-tracker.ts";

export interface BackendRelayHooks {
  /** Stop reading from the upstream until resume(). */
  pauseUpstream(): void;
  resumeUpstream(): void;
  /** Write what is gathered for the client now. */
  flushClient(): void;
  /** The session cannot go on (the upstream broke the protocol as we track it, a mask failed). */
  fail(e: unknown): void;
}

/** Handles one whole server message (views of the chunk it came in). */
export type FrameHandler = (type: number, body: Uint8Array, raw: Uint8Array) => void;

interface Frame {
  readonly type: number;
  readonly body: Uint8Array;
  readonly raw: Uint8Array;
}

export class ResultMasker {
  private suspended = false;
  private pending: Frame[] = [];
  /**
   * Rewritten rows go here, many per buffer (see mask-plan.ts). Once the client's connection
   * has taken every byte written to it nothing refers to them any more, so the same buffer
   * takes the next rows (reuseArena): a large masked result allocates no buffer per row.
   */
  private readonly arena: Arena = { buf: new Uint8Array(0), pos: 0 };

  constructor(
    private readonly s: RelayCore,
    private readonly hooks: BackendRelayHooks,
    /** Where held messages go once the lookup is done. */
    private readonly handle: FrameHandler,
  ) {}

  get isSuspended(): boolean {
    return this.suspended;
  }

  /** The client's outbox holds no rewritten row any more: the arena's buffer is free from its start. */
  reuseArena(): void {
    this.arena.pos = 0;
  }

  /** Keeps a message that came while a lookup runs; returns whether it did. */
  hold(type: number, body: Uint8Array, raw: Uint8Array): boolean {
    if (!this.suspended) return false;
    this.pending.push({ type, body, raw });
    return true;
  }

  /** A row whose plan waits for the lookup just started: it is handled again, first, once it is done. */
  retry(type: number, body: Uint8Array, raw: Uint8Array): void {
    this.pending.unshift({ type, body, raw });
  }

  /** The plan of an Execute's portal, from its own description or its statement's plus Bind's formats; null while a lookup runs. */
  executePlan(e: Expectation & { kind: "execute" }): MaskPlan | null {
    const run = e.run;
    const p = e.portal;
    if (p.plan !== null) return (run.plan = p.plan);
    const fields = p.fields ?? (p.statement.fields !== null ? withResultFormats(p.statement.fields, p.resultFormats) : null);
    if (fields === null) throw new GatewayError("E_MASK", "rows arrived for a masked statement whose columns are unknown: cannot mask them");
    p.fields = fields;
    let plan: MaskPlan | null = null;
    this.preparePlan(run.spec!, fields, (made) => {
      p.plan = made;
      run.plan = made;
      plan = made;
    });
    return plan;
  }

  /** mask() of the row at buf[start..end), read in place. */
  maskRange(plan: MaskPlan, buf: Uint8Array, start: number, end: number): void {
    if (plan.passthrough) return this.s.toClient.pushRange(buf, start, end);
    if (plan.rewriteInto === null) return this.s.toClient.push(plan.rewrite(buf.subarray(start, end)));
    const at = plan.rewriteInto(buf, this.arena, start, end);
    this.s.toClient.pushRange(this.arena.buf, at, this.arena.pos);
  }

  mask(plan: MaskPlan, raw: Uint8Array): void {
    if (plan.passthrough) return this.s.toClient.push(raw);
    if (plan.rewriteInto === null) return this.s.toClient.push(plan.rewrite(raw));
    const start = plan.rewriteInto(raw, this.arena);
    this.s.toClient.pushRange(this.arena.buf, start, this.arena.pos);
  }

  /**
   * Makes the mask plan of a row description and hands it to `set`: at once when every origin
   * is cached, else after the catalog lookup, with the upstream paused meanwhile.
   */
  preparePlan(spec: MaskSpec, fields: readonly FieldDescription[], set: (p: MaskPlan) => void): void {
    const catalog = this.s.catalog;
    const missing: number[] = [];
    for (const f of fields) if (f.tableOid !== 0 && catalog.cached(f.tableOid) === undefined) missing.push(f.tableOid);
    if (missing.length === 0) {
      set(planColumns(spec, fields, origins(catalog, fields)));
      return;
    }
    this.suspend(
      catalog.loadOids(missing).then(
        () => set(planColumns(spec, fields, origins(catalog, fields))),
        // The catalog cannot be read: no origin is known, so every column counts as unknown.
        () => set(planColumns({ ...spec, unknownOriginMasked: true }, fields, fields.map(() => null))),
      ),
    );
  }

  private suspend(p: Promise<void>): void {
    this.suspended = true;
    this.hooks.pauseUpstream();
    this.hooks.flushClient();
    p.then(
      () => {
        this.suspended = false;
        this.drainPending();
      },
      (err) => this.hooks.fail(err),
    );
  }

  private drainPending(): void {
    try {
      while (!this.suspended && this.pending.length > 0) {
        const f = this.pending.shift()!;
        this.handle(f.type, f.body, f.raw);
      }
    } catch (err) {
      this.hooks.fail(err);
      return;
    }
    this.hooks.flushClient();
    if (!this.suspended) this.hooks.resumeUpstream();
  }
}

function origins(catalog: Catalog, fields: readonly FieldDescription[]): (ColumnOrigin | null)[] {
  return fields.map((f) => {
    if (f.tableOid === 0) return null;
    const t = catalog.cached(f.tableOid);
    if (t === undefined || t === null) return null;
    const column = t.columns.get(f.columnAttr);
    return column === undefined ? null : { schema: t.schema, table: t.table, column };
  });
}
