// Upstream → client: every server message after login, matched against the response tracker.
// The client's answers pass as they came (one write per chunk, no copy), rows of masked
// statements are rewritten as they stream, answers to the gateway's own injected messages are
// swallowed, and the error of a denial's DO block is replaced by the gateway's own. When a
// masked result needs a catalog lookup, the stream pauses (upstream backpressure) until it is
// done (result-masker.ts). Errors, notices and settings reported while masked columns are read
// have their text withheld (masked-data-watch.ts), each statement's outcome is recorded
// (run-outcome.ts), and a server that starts to read SQL otherwise than the gateway's parser
// (client_encoding, standard_conforming_strings) ends the session.
import { GatewayError } from "../../../core/errors.ts";
import { isDenyMarker } from "./deny.ts";
import type { RelayCore } from "./frontend-relay.ts";
import { MaskedDataWatch } from "../masking/masked-data-watch.ts";
import { parseCommandComplete, parseParameterStatus, parseReadyForQuery } from "../protocol/backend-decoder.ts";
import { BackendType as T } from "../protocol/messages.ts";
import { parseRowDescription } from "../protocol/row-description.ts";
import type { Expectation } from "./response-tracker.ts";
import { ResultMasker, type BackendRelayHooks } from "../masking/result-masker.ts";
import { endRun, failRun, finishRun, notRun, undoSkipped, unbind, unparse } from "./run-outcome.ts";
import { settlePortal, settleRun } from "./session-state.ts";
import { readingSettingProblem } from "../session/upstream.ts";

// The relay's hooks are the masker's: only a catalog lookup for column origins pauses the upstream.
export type { BackendRelayHooks } from "../masking/result-masker.ts";

export class BackendRelay {
  private readonly masker: ResultMasker;
  private readonly watch = new MaskedDataWatch();

  constructor(
    private readonly s: RelayCore,
    hooks: BackendRelayHooks,
  ) {
    this.masker = new ResultMasker(s, hooks, (type, body, raw) => this.handle(type, body, raw));
    s.tracker.onSkipped = (e) => undoSkipped(s, e);
  }

  /** Handles one whole server message (views of the chunk it came in). */
  readonly onFrame = (type: number, body: Uint8Array, raw: Uint8Array): void => {
    if (!this.masker.hold(type, body, raw)) this.handle(type, body, raw);
  };

  /**
   * The hot lane (see RangeHandler): a DataRow of a statement whose rows pass or are masked
   * with a plan already made, handled in place with no view made of it. Anything else (and
   * any doubt) returns false and takes onFrame, which does the same for it more slowly.
   */
  readonly onRange = (type: number, buf: Uint8Array, start: number, end: number): boolean => {
    if (type !== T.DataRow || this.masker.isSuspended) return false;
    const e = this.s.tracker.peek();
    if (e === undefined) return false;
    if (e.kind === "query") {
      const run = e.runs[e.index];
      if (run === undefined || (run.spec !== null && run.plan === null)) return false;
      this.watch.markRun(run);
      run.rows++;
      if (run.plan !== null) this.masker.maskRange(run.plan, buf, start, end);
      else this.s.toClient.pushRange(buf, start, end);
      return true;
    }
    if (e.kind === "execute") {
      const run = e.run;
      if (run.spec !== null && run.plan === null) return false;
      this.watch.markRun(run);
      run.rows++;
      if (run.plan !== null) this.masker.maskRange(run.plan, buf, start, end);
      else this.s.toClient.pushRange(buf, start, end);
      return true;
    }
    return false;
  };

  get isSuspended(): boolean {
    return this.masker.isSuspended;
  }

  /** Everything pushed to the client's outbox was written (or copied by the connection). */
  reuseBuffers(): void {
    this.masker.reuseArena();
  }

  private handle(type: number, body: Uint8Array, raw: Uint8Array): void {
    // Asynchronous messages can come at any time and belong to no request.
    if (type === T.ParameterStatus) return this.onParameterStatus(body, raw);
    if (type === T.NoticeResponse) {
      this.s.toClient.push(this.watch.notice(type, body, raw, this.s.tracker.peek()));
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
    // The error our denial's DO block raised is replaced whole, below.
    if (type === T.ErrorResponse && !((e.kind === "deny-query" || e.kind === "deny-execute") && isDenyMarker(body))) {
      const shown = this.watch.notice(type, body, raw, e);
      if (shown !== raw) {
        raw = shown;
        body = raw.subarray(5);
      }
    }
    switch (e.kind) {
      case "query":
        return this.onQuery(e, type, body, raw);
      case "deny-query":
        return this.onDenyQuery(e, type, body, raw);
      case "function-call":
        if (type === T.ErrorResponse) failRun(this.s, e.run, body);
        if (type === T.FunctionCallResponse) finishRun(this.s, e.run, "FUNCTION CALL");
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
          unparse(this.s, e);
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
          unbind(this.s, e);
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
            this.masker.preparePlan(p.spec, p.fields, (plan) => (p.plan = plan));
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
    if (run !== undefined) this.watch.markRun(run);
    switch (type) {
      case T.DataRow:
        if (run !== undefined) {
          run.rows++;
          if (run.plan !== null) return this.masker.mask(run.plan, raw);
          if (run.spec !== null) throw new GatewayError("E_MASK", "a row arrived before its RowDescription: cannot mask it");
        }
        break;
      case T.RowDescription:
        if (run === undefined) throw desync(type, "more results than statements in the query");
        if (run.spec !== null) this.masker.preparePlan(run.spec, parseRowDescription(body).fields, (plan) => (run.plan = plan));
        break;
      case T.CommandComplete:
        if (run === undefined) throw desync(type, "more results than statements in the query");
        finishRun(this.s, run, parseCommandComplete(body).tag);
        e.index++;
        break;
      case T.EmptyQueryResponse:
        if (run !== undefined) endRun(this.s, run, { kind: "empty" });
        e.index++;
        break;
      case T.ErrorResponse:
        if (run !== undefined) failRun(this.s, run, body);
        for (let i = e.index + 1; i < e.runs.length; i++) notRun(this.s, e.runs[i]!, "an earlier statement of the query failed");
        e.index = e.runs.length;
        break;
      case T.ReadyForQuery:
        this.s.tracker.pop();
        for (let i = e.index; i < e.runs.length; i++) notRun(this.s, e.runs[i]!, "the query ended before it");
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
    this.watch.markRun(run);
    switch (type) {
      case T.DataRow: {
        if (run.spec === null) {
          run.rows++;
          break;
        }
        const plan = run.plan ?? this.masker.executePlan(e);
        // A catalog lookup runs: this row is handled again, first, once it is done.
        if (plan === null) return this.masker.retry(type, body, raw);
        run.rows++;
        return this.masker.mask(plan, raw);
      }
      case T.CommandComplete:
        this.s.tracker.pop();
        finishRun(this.s, run, parseCommandComplete(body).tag);
        break;
      case T.EmptyQueryResponse:
        this.s.tracker.pop();
        endRun(this.s, run, { kind: "empty" });
        break;
      case T.PortalSuspended:
        this.s.tracker.pop();
        endRun(this.s, run, { kind: "suspended" });
        break;
      case T.ErrorResponse:
        failRun(this.s, run, body);
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

  private extendedError(raw: Uint8Array): void {
    this.s.tracker.pop();
    this.s.toClient.push(raw);
    this.skipToSync();
  }

  /** The server skips to Sync after an error: so do the entries, and their statements never ran. */
  private skipToSync(): void {
    for (const d of this.s.tracker.skipToSync()) undoSkipped(this.s, d);
  }

  private ready(body: Uint8Array): void {
    this.s.txStatus = parseReadyForQuery(body).status;
    this.s.tracker.onReady?.();
    this.watch.ready(this.s.txStatus);
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
    this.s.toClient.push(this.watch.parameterStatus(p.name, raw, this.s.tracker.peek()));
  }

}

function desync(type: number, what: string): GatewayError {
  return new GatewayError("E_PROTOCOL", `upstream sent message '${String.fromCharCode(type)}' where ${what}: the session cannot be tracked any more`);
}
