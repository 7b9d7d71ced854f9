// Upstream → client: every server message after login, matched against the response tracker.
// The client's answers pass as they came (one write per chunk, no copy), rows of masked
// statements are rewritten as they stream, answers to the gateway's own injected messages are
// swallowed, and the error of a denial's DO block is replaced by the gateway's own. When a
// masked result needs a catalog lookup, the stream pauses (upstream backpressure) until it is done.
// Errors, notices and settings reported while masked columns are read have their text withheld
// (withheld.ts), and a server that starts to read SQL otherwise than the gateway's parser
// (client_encoding, standard_conforming_strings) ends the session.
import { GatewayError } from "../../core/errors.ts";
import type { Catalog } from "./catalog.ts";
import { isDenyMarker } from "./deny.ts";
import type { RelayCore, StatementOutcome } from "./frontend-relay.ts";
import { planColumns, withResultFormats, type Arena, type ColumnOrigin, type MaskPlan, type MaskSpec } from "./masking.ts";
import type { FieldDescription } from "./protocol/backend-message.ts";
import { parseCommandComplete, parseNoticeFields, parseParameterStatus, parseReadyForQuery } from "./protocol/backend-decoder.ts";
import { BackendType as T } from "./protocol/messages.ts";
import { parseRowDescription } from "./protocol/row-description.ts";
import type { Expectation } from "./response-tracker.ts";
import { settlePortal, settleRun, type StatementRun } from "./session-state.ts";
import { readingSettingProblem } from "./upstream.ts";
import { maskedParameterStatus, readsMaskedData, withheldNotice } from "./withheld.ts";

interface Frame {
  readonly type: number;
  readonly body: Uint8Array;
  readonly raw: Uint8Array;
}

export interface BackendRelayHooks {
  /** Stop reading from the upstream until resume(). */
  pauseUpstream(): void;
  resumeUpstream(): void;
  /** Write what is gathered for the client now. */
  flushClient(): void;
  /** The session cannot go on (the upstream broke the protocol as we track it, a mask failed). */
  fail(e: unknown): void;
}

export class BackendRelay {
  private suspended = false;
  private pending: Frame[] = [];
  /** Rewritten rows go here, many per buffer (see masking.ts). */
  private readonly arena: Arena = { buf: new Uint8Array(0), pos: 0 };
  /**
   * A statement that reads masked columns was answered in the open transaction (or since the
   * last ReadyForQuery): errors, notices and settings the server reports now may quote its values.
   */
  private maskedData = false;
  /** Settings reported while masked data was read: whenever they come back (RESET, end of SET LOCAL), their value may be a masked one. */
  private readonly maskedSettings = new Set<string>();

  constructor(
    private readonly s: RelayCore,
    private readonly hooks: BackendRelayHooks,
  ) {
    s.tracker.onSkipped = (e) => this.skipped(e);
  }

  /** Handles one whole server message (views of the chunk it came in). */
  readonly onFrame = (type: number, body: Uint8Array, raw: Uint8Array): void => {
    if (this.suspended) {
      this.pending.push({ type, body, raw });
      return;
    }
    this.handle(type, body, raw);
  };

  get isSuspended(): boolean {
    return this.suspended;
  }

  private handle(type: number, body: Uint8Array, raw: Uint8Array): void {
    // Asynchronous messages can come at any time and belong to no request.
    if (type === T.ParameterStatus) return this.onParameterStatus(body, raw);
    if (type === T.NoticeResponse) {
      const reason = this.markHead(this.s.tracker.peek());
      this.s.toClient.push(this.maskedData ? withheldNotice(type, body, reason) : raw);
      return;
    }
    if (type === T.NotificationResponse) {
      this.s.toClient.push(raw);
      return;
    }
    if (type === T.CopyInResponse) {
      // The server ignores Sync until the client ends the copy.
      this.s.copyIn = !this.s.tracker.dropSyncsDuringCopy();
    }
    let e = this.s.tracker.peek();
    while (e !== undefined && e.kind === "copy-end") {
      // A client's copy end that needed no bookkeeping (the copy was over, or never began).
      this.s.tracker.pop();
      e = this.s.tracker.peek();
    }
    if (e === undefined) throw desync(type, "nothing was pending");
    if (type === T.CopyInResponse) {
      // The server now waits for the client's data, which may be queued behind a statement held
      // until this one settles (CatalogFence); any other message ends the COPY in error, unrun.
      const run = e.kind === "query" ? e.runs[e.index] : e.kind === "execute" ? e.run : undefined;
      if (run !== undefined) settleRun(run, true);
    }
    if (type === T.ErrorResponse) {
      const reason = this.markHead(e);
      // The error our denial's DO block raised is replaced whole, below.
      if (this.maskedData && !((e.kind === "deny-query" || e.kind === "deny-execute") && isDenyMarker(body))) {
        raw = withheldNotice(type, body, reason);
        body = raw.subarray(5);
      }
    }
    switch (e.kind) {
      case "query":
        return this.onQuery(e, type, body, raw);
      case "deny-query":
        return this.onDenyQuery(e, type, body, raw);
      case "function-call":
        if (type === T.ErrorResponse) this.failed(e.run, body);
        if (type === T.FunctionCallResponse) this.finish(e.run, "FUNCTION CALL");
        if (type === T.ReadyForQuery) {
          // The call is answered: later messages belong to what the client sends next.
          this.s.tracker.pop();
          this.ready(body);
        }
        this.s.toClient.push(raw);
        return;
      case "parse":
        if (type === T.ParseComplete) {
          this.s.tracker.pop();
          if (!e.injected) this.s.toClient.push(raw);
          return;
        }
        if (type === T.ErrorResponse) {
          // A named statement the server refused (already exists upstream): it is not what we analysed.
          this.unparse(e);
          return this.extendedError(raw);
        }
        throw desync(type, "a ParseComplete was expected");
      case "bind":
        if (type === T.BindComplete) {
          this.s.tracker.pop();
          if (e.portal !== null) settlePortal(e.portal, true);
          if (!e.injected) this.s.toClient.push(raw);
          return;
        }
        if (type === T.ErrorResponse) {
          // The portal was not made (e.g. a cursor of that name exists): the name is not what we decided.
          this.unbind(e);
          return this.extendedError(raw);
        }
        throw desync(type, "a BindComplete was expected");
      case "describe-statement":
        if (type === T.ParameterDescription && !e.gotParameters) {
          e.gotParameters = true;
          if (!e.injected) this.s.toClient.push(raw);
          return;
        }
        if (type === T.RowDescription || type === T.NoData) {
          this.s.tracker.pop();
          if (e.statement !== null && e.statement.spec !== null) e.statement.fields = type === T.NoData ? [] : parseRowDescription(body).fields;
          if (!e.injected) this.s.toClient.push(raw);
          return;
        }
        if (type === T.ErrorResponse) return this.extendedError(raw);
        throw desync(type, "a statement description was expected");
      case "describe-portal":
        if (type === T.RowDescription || type === T.NoData) {
          this.s.tracker.pop();
          const p = e.portal;
          if (p !== null && p.spec !== null) {
            p.fields = type === T.NoData ? [] : parseRowDescription(body).fields;
            this.preparePlan(p.spec, p.fields, (plan) => (p.plan = plan));
          }
          if (!e.injected) this.s.toClient.push(raw);
          return;
        }
        if (type === T.ErrorResponse) return this.extendedError(raw);
        throw desync(type, "a portal description was expected");
      case "execute":
        return this.onExecute(e, type, body, raw);
      case "deny-execute":
        if (type === T.ErrorResponse) {
          this.s.toClient.push(isDenyMarker(body) ? e.error : raw);
          e.sent = true;
          this.s.tracker.pop();
          this.skipToSync();
          return;
        }
        // The DO block cannot succeed; if it ever did, the client must still see the denial.
        if (!e.sent) this.s.toClient.push(e.error);
        e.sent = true;
        if (type === T.CommandComplete || type === T.EmptyQueryResponse) this.s.tracker.pop();
        return;
      case "close":
        if (type === T.CloseComplete) {
          this.s.tracker.pop();
          this.s.toClient.push(raw);
          return;
        }
        if (type === T.ErrorResponse) return this.extendedError(raw);
        throw desync(type, "a CloseComplete was expected");
      case "sync":
        if (type === T.ReadyForQuery) {
          this.s.tracker.pop();
          this.ready(body);
        } else if (type !== T.ErrorResponse) {
          // Only an error (a COMMIT at Sync that fails) may come before ReadyForQuery here.
          throw desync(type, "a ReadyForQuery was expected");
        }
        this.s.toClient.push(raw);
        return;
    }
  }

  private onQuery(e: Expectation & { kind: "query" }, type: number, body: Uint8Array, raw: Uint8Array): void {
    const run = e.runs[e.index];
    if (run !== undefined && run.spec !== null && !this.maskedData) this.mark(run);
    switch (type) {
      case T.DataRow:
        if (run !== undefined) {
          run.rows++;
          if (run.plan !== null) return this.mask(run.plan, raw);
          if (run.spec !== null) throw new GatewayError("E_MASK", "a row arrived before its RowDescription: cannot mask it");
        }
        break;
      case T.RowDescription:
        if (run === undefined) throw desync(type, "more results than statements in the query");
        if (run.spec !== null) this.preparePlan(run.spec, parseRowDescription(body).fields, (plan) => (run.plan = plan));
        break;
      case T.CommandComplete:
        if (run === undefined) throw desync(type, "more results than statements in the query");
        this.finish(run, parseCommandComplete(body).tag);
        e.index++;
        break;
      case T.EmptyQueryResponse:
        if (run !== undefined) this.ended(run, { kind: "empty" });
        e.index++;
        break;
      case T.ErrorResponse:
        if (run !== undefined) this.failed(run, body);
        for (let i = e.index + 1; i < e.runs.length; i++) this.notRun(e.runs[i]!, "an earlier statement of the query failed");
        e.index = e.runs.length;
        break;
      case T.ReadyForQuery:
        this.s.tracker.pop();
        for (let i = e.index; i < e.runs.length; i++) this.notRun(e.runs[i]!, "the query ended before it");
        this.ready(body);
        break;
      case T.CopyOutResponse:
        if (run !== undefined && run.spec !== null) throw new GatewayError("E_MASK", "COPY TO data cannot be masked");
        break;
      default:
        // CopyInResponse, CopyData, CopyDone and the like belong to the running statement.
        break;
    }
    this.s.toClient.push(raw);
  }

  private onDenyQuery(e: Expectation & { kind: "deny-query" }, type: number, body: Uint8Array, raw: Uint8Array): void {
    if (type === T.ErrorResponse) {
      // Ours, or an error the server gave first (e.g. 25P02 in a failed transaction): either way the client gets one error.
      if (!e.sent) this.s.toClient.push(isDenyMarker(body) ? e.error : raw);
      e.sent = true;
      return;
    }
    if (type === T.ReadyForQuery) {
      if (!e.sent) this.s.toClient.push(e.error);
      e.sent = true;
      this.s.tracker.pop();
      this.ready(body);
      this.s.toClient.push(raw);
    }
    // Anything else answers the injected block itself and is not the client's business.
  }

  private onExecute(e: Expectation & { kind: "execute" }, type: number, body: Uint8Array, raw: Uint8Array): void {
    const run = e.run;
    if (run.spec !== null && !this.maskedData) this.mark(run);
    switch (type) {
      case T.DataRow: {
        if (run.spec === null) {
          run.rows++;
          break;
        }
        const plan = run.plan ?? this.executePlan(e);
        // A catalog lookup runs: this row is handled again, first, once it is done.
        if (plan === null) return void this.pending.unshift({ type, body, raw });
        run.rows++;
        return this.mask(plan, raw);
      }
      case T.CommandComplete:
        this.s.tracker.pop();
        this.finish(run, parseCommandComplete(body).tag);
        break;
      case T.EmptyQueryResponse:
        this.s.tracker.pop();
        this.ended(run, { kind: "empty" });
        break;
      case T.PortalSuspended:
        this.s.tracker.pop();
        this.ended(run, { kind: "suspended" });
        break;
      case T.ErrorResponse:
        this.failed(run, body);
        return this.extendedError(raw);
      case T.CopyOutResponse:
        if (run.spec !== null) throw new GatewayError("E_MASK", "COPY TO data cannot be masked");
        break;
      case T.RowDescription:
      case T.NoData:
      case T.ParameterDescription:
      case T.ParseComplete:
      case T.BindComplete:
      case T.CloseComplete:
      case T.ReadyForQuery:
        throw desync(type, "Execute results were expected");
      default:
        // COPY sub-protocol messages.
        break;
    }
    this.s.toClient.push(raw);
  }

  /** The plan of an Execute's portal, from its own description or its statement's plus Bind's formats; null while a lookup runs. */
  private executePlan(e: Expectation & { kind: "execute" }): MaskPlan | null {
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

  private mask(plan: MaskPlan, raw: Uint8Array): void {
    if (plan.passthrough) return this.s.toClient.push(raw);
    if (plan.rewriteInto === null) return this.s.toClient.push(plan.rewrite(raw));
    const start = plan.rewriteInto(raw, this.arena);
    this.s.toClient.pushRange(this.arena.buf, start, this.arena.pos);
  }

  /**
   * Makes the mask plan of a row description and hands it to `set`: at once when every origin
   * is cached, else after the catalog lookup, with the upstream paused meanwhile.
   */
  private preparePlan(spec: MaskSpec, fields: readonly FieldDescription[], set: (p: MaskPlan) => void): void {
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

  private extendedError(raw: Uint8Array): void {
    this.s.tracker.pop();
    this.s.toClient.push(raw);
    this.skipToSync();
  }

  /** The server skips to Sync after an error: so do the entries, and their statements never ran. */
  private skipToSync(): void {
    for (const d of this.s.tracker.skipToSync()) this.skipped(d);
  }

  /** An entry whose message the server skipped: undo what the client's message was assumed to do. */
  private skipped(d: Expectation): void {
    const reason = "an earlier message of the batch failed";
    if (d.kind === "execute" || d.kind === "function-call") this.notRun(d.run, reason);
    else if (d.kind === "query") for (const r of d.runs) this.notRun(r, reason);
    else if (d.kind === "parse") this.unparse(d);
    else if (d.kind === "bind") this.unbind(d);
  }

  /** A Parse that did not happen upstream: the name means what it meant before. */
  private unparse(d: Expectation & { kind: "parse" }): void {
    if (d.statement !== null && this.s.prepared.get(d.statement.name) === d.statement) {
      if (d.previous === undefined) this.s.prepared.delete(d.statement.name);
      else this.s.prepared.set(d.statement.name, d.previous);
    }
  }

  /** A Bind that did not happen upstream: its portal name means what it meant before. */
  private unbind(d: Expectation & { kind: "bind" }): void {
    const p = d.portal;
    if (p === null) return;
    if (this.s.portals.get(p.name) === p) {
      if (d.previous === undefined) this.s.portals.delete(p.name);
      else this.s.portals.set(p.name, d.previous);
    }
    settlePortal(p, false);
  }

  private ready(body: Uint8Array): void {
    this.s.txStatus = parseReadyForQuery(body).status;
    this.s.tracker.onReady?.();
    // Outside a transaction, what the server says next belongs to statements still to come.
    if (this.s.txStatus === "I") this.maskedData = false;
  }

  /**
   * A setting the server reports. One that changes how the server reads SQL ends the session
   * (fail closed: whatever changed it, later statements would not be read as they were checked);
   * one reported while masked data was read may carry a masked value (set_config with a
   * column), so the client gets it masked, then and every time it is reported again.
   */
  private onParameterStatus(body: Uint8Array, raw: Uint8Array): void {
    const p = parseParameterStatus(body);
    const problem = readingSettingProblem(p.name, p.value);
    if (problem !== null) throw new GatewayError("E_UPSTREAM", `${problem}; the session is ended`, { details: { sqlstate: "42501" } });
    this.markHead(this.s.tracker.peek());
    if (this.maskedData) this.maskedSettings.add(p.name);
    this.s.toClient.push(this.maskedSettings.has(p.name) ? maskedParameterStatus(p.name) : raw);
  }

  private mark(run: StatementRun): void {
    if (readsMaskedData(run.spec, run.facts)) this.maskedData = true;
  }

  /**
   * Notes whether the statement the server is answering reads masked columns; returns whether
   * it does ("statement"), or else only an earlier one of the transaction may have ("transaction").
   */
  private markHead(e: Expectation | undefined): "statement" | "transaction" {
    let reads = false;
    if (e !== undefined) {
      switch (e.kind) {
        case "query": {
          const run = e.runs[e.index];
          reads = run !== undefined && readsMaskedData(run.spec, run.facts);
          break;
        }
        case "execute":
        case "function-call":
          reads = readsMaskedData(e.run.spec, e.run.facts);
          break;
        case "bind":
          // The server plans the statement at Bind.
          reads = e.portal !== null && readsMaskedData(e.portal.spec, e.portal.info);
          break;
        default:
          break;
      }
    }
    if (reads) this.maskedData = true;
    return reads ? "statement" : "transaction";
  }

  private finish(run: StatementRun, tag: string): void {
    if (run.done) return;
    run.onSuccess?.(tag);
    this.ended(run, { kind: "complete", tag });
  }

  /** The server is done with the run: its audit record, and what waits for it (CatalogFence). */
  private ended(run: StatementRun, outcome: StatementOutcome): void {
    if (run.done) return;
    run.done = true;
    this.s.finish(run, outcome);
    settleRun(run);
  }

  private failed(run: StatementRun, body: Uint8Array): void {
    if (run.done) return;
    let code = "";
    let message = "";
    try {
      const f = parseNoticeFields(body);
      code = f.code ?? "";
      message = f.message ?? "";
    } catch {
      message = "(unreadable error)";
    }
    this.ended(run, { kind: "error", code, message });
  }

  private notRun(run: StatementRun, reason: string): void {
    this.ended(run, { kind: "not_run", reason });
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

function desync(type: number, what: string): GatewayError {
  return new GatewayError("E_PROTOCOL", `upstream sent message '${String.fromCharCode(type)}' where ${what}: the session cannot be tracked any more`);
}
