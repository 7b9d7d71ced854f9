// What the SQL analysis tells the gate about a query: one StatementInfo per statement, with
// the classes, relations and functions the policy matches on. A parse error is a value, not a throw.

export interface AnalysisContext {
  /** The session's search_path, schema names exactly as stored (unquoted), e.g. ["$user", "public"]. */
  readonly searchPath: readonly string[];
  /** The upstream session's current user, so that "$user" in searchPath resolves; skipped when absent. */
  readonly user?: string;
}

/** A change of a run-time setting the statement makes (SET, RESET, set_config, DISCARD ALL). */
export interface SettingChange {
  /** Setting name, lower-cased; "all" for RESET ALL and DISCARD ALL. */
  readonly name: string;
  /** New value as PostgreSQL would print it; null = back to the default (RESET, SET … TO DEFAULT). */
  readonly value: string | null;
  /** SET LOCAL / set_config(…, true): only until the end of the transaction. */
  readonly local: boolean;
  /** The new value cannot be known from the text (SET … FROM CURRENT, SET TRANSACTION …). */
  readonly opaque?: true;
}

export interface CopyFacts {
  readonly direction: "to" | "from";
  /** COPY … PROGRAM: runs a shell command on the database server. */
  readonly program: boolean;
  /** COPY … STDIN/STDOUT: the data goes through the client connection (and the gateway). */
  readonly stdio: boolean;
}

export interface StatementInfo {
  readonly classes: readonly string[];
  readonly relations: readonly string[];
  /** Schema-qualified functions, pseudo functions (set_config(<setting>), do(<language>)), and the gateway's own markers (markers.ts). */
  readonly functions: readonly string[];
  /** The statement's own slice of the source text, as the parser delimits it. */
  readonly text: string;
  /**
   * Those of `functions` that the statement only names as the object of DDL (DROP FUNCTION f,
   * ALTER/COMMENT ON/GRANT … ON FUNCTION f, CREATE FUNCTION f's own name, a trigger's function)
   * and does not call. Absent when there are none; a consumer that loses it only checks more.
   */
  readonly functionObjects?: readonly string[];
  /**
   * What the statement creates, or renames or moves something to: functions (CREATE
   * FUNCTION/PROCEDURE) and relations (CREATE VIEW/RULE, CREATE TABLE/MATERIALIZED VIEW AS),
   * as the candidate names where they may land. A statement sent behind it (one query, a
   * pipeline) is checked before it ran, when the catalog does not show them yet. Also code the
   * statement attaches where later statements run it without naming it: operators (CREATE
   * OPERATOR) and types converted to (CREATE CAST's target, CREATE/ALTER DOMAIN, CREATE TYPE),
   * relations whose writes run it (`writeHooks`: CREATE TRIGGER, ALTER TABLE … DEFAULT,
   * constraints, ENABLE TRIGGER), and parents that gain children (INHERIT, ATTACH PARTITION,
   * CREATE TABLE … PARTITION OF / INHERITS), which count among `relations`.
   */
  readonly defines?: {
    readonly functions: readonly string[];
    readonly relations: readonly string[];
    readonly operators?: readonly string[];
    readonly types?: readonly string[];
    readonly writeHooks?: readonly string[];
  };
  /**
   * Those of `relations` the statement names only with ONLY (SELECT … FROM ONLY t): its
   * inheritance children and partitions are not reached through them. Absent when none; a
   * consumer that loses it counts the children too, which only checks more.
   */
  readonly only?: readonly string[];
  /** Top parser node name, e.g. "SelectStmt". */
  readonly node: string;
  readonly sets?: readonly SettingChange[];
  /** PREPARE name AS …: what EXECUTE name will run, for the session to remember. */
  readonly prepares?: { readonly name: string; readonly inner: StatementInfo };
  /** EXECUTE name (also under EXPLAIN): count it as what was prepared under that name. */
  readonly executes?: string;
  /**
   * FETCH / MOVE … name: the cursor (or protocol portal) it reads. The session decides it as the
   * query that cursor runs, under the policy in force at the FETCH (statement-checker.ts).
   */
  readonly fetches?: string;
  /** CLOSE name (null: CLOSE ALL): the session forgets the cursor once the server closed it. */
  readonly closes?: string | null;
  /**
   * DEALLOCATE name (null: DEALLOCATE ALL): the name is free upstream once it succeeded, so a
   * later protocol Parse of that name defines a new statement that must be checked. (DISCARD
   * ALL frees every name too; it is reported as a setting change named "all".)
   */
  readonly deallocates?: string | null;
  readonly listen?: string;
  readonly notify?: string;
  readonly copy?: CopyFacts;
}

export type Analysis =
  | { readonly ok: true; readonly statements: readonly StatementInfo[] }
  | {
      readonly ok: false;
      /** The parser's message and where it stopped, for the client's ErrorResponse. */
      readonly error: string;
      /** 1-based character position in the query, as in PostgreSQL's ErrorResponse "P" field. */
      readonly position?: number;
    };
