// Whether what the server says besides rows may quote values of masked columns: once a
// statement that reads them is answered, errors, notices and settings until the transaction
// ends have their text withheld (withheld.ts), and such a setting stays masked for the session.
import type { Expectation } from "../relay/response-tracker.ts";
import type { StatementRun } from "../relay/session-state.ts";
import { maskedParameterStatus, readsMaskedData, withheldNotice } from "./withheld.ts";

export class MaskedDataWatch {
  /**
   * A statement that reads masked columns was answered in the open transaction (or since the
   * last ReadyForQuery): errors, notices and settings the server reports now may quote its values.
   */
  private maskedData = false;
  /** Settings reported while masked data was read: whenever they come back (RESET, end of SET LOCAL), their value may be a masked one. */
  private readonly maskedSettings = new Set<string>();

  /** The server answers `run` now (checked per message, so the cheap tests come first). */
  markRun(run: StatementRun): void {
    if (run.spec !== null && !this.maskedData && readsMaskedData(run.spec, run.facts)) this.maskedData = true;
  }

  /** An ErrorResponse or NoticeResponse (type byte, body, whole message) answering `e`, as the client may see it. */
  notice(type: number, body: Uint8Array, raw: Uint8Array, e: Expectation | undefined): Uint8Array {
    const reason = this.markHead(e);
    return this.maskedData ? withheldNotice(type, body, reason) : raw;
  }

  /** A ParameterStatus reported while `e` is answered, as the client may see it. */
  parameterStatus(name: string, raw: Uint8Array, e: Expectation | undefined): Uint8Array {
    this.markHead(e);
    if (this.maskedData) this.maskedSettings.add(name);
    return this.maskedSettings.has(name) ? maskedParameterStatus(name) : raw;
  }

  /** A ReadyForQuery: outside a transaction, what the server says next belongs to statements still to come. */
  ready(txStatus: "I" | "T" | "E"): void {
    if (txStatus === "I") this.maskedData = false;
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
}
