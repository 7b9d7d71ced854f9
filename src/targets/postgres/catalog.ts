// Column origins for masking: table OID + attribute number → schema.table.column, and the
// columns of a named relation, read from the upstream catalog on a connection the gateway owns
// (one per target, never a client's session), cached, and dropped whenever DDL passes through.
import type { Duplex } from "node:stream";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { MessageReader } from "./message-reader.ts";
import { qualifiedName } from "./sql/name-resolution.ts";
import { connectUpstream, simpleQuery, sqlLiteral, type UpstreamConfig } from "./upstream.ts";

export interface TableColumns {
  readonly schema: string;
  readonly table: string;
  /** attnum → column name. */
  readonly columns: ReadonlyMap<number, string>;
}

const MAX_ENTRIES = 20_000;
/** DDL that does not pass through the gateway (another client, a migration) shows after at most this long. */
const MAX_AGE_MS = 60_000;

export class Catalog {
  private conn: { socket: Duplex; reader: MessageReader } | null = null;
  private connecting: Promise<{ socket: Duplex; reader: MessageReader }> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly byOid = new Map<number, TableColumns | null>();
  private readonly byName = new Map<string, TableColumns | null>();
  private closed = false;
  private filledAt = performance.now();

  constructor(
    private readonly upstream: UpstreamConfig,
    private readonly log: Logger,
  ) {}

  /** undefined: not looked up yet; null: no such table. */
  cached(oid: number): TableColumns | null | undefined {
    if (performance.now() - this.filledAt > MAX_AGE_MS) this.invalidate();
    return this.byOid.get(oid);
  }

  /** Loads every OID not yet cached. Throws E_UPSTREAM when the catalog cannot be read. */
  async loadOids(oids: Iterable<number>): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => o !== 0 && !this.byOid.has(o));
    if (missing.length === 0) return;
    const rows = await this.query(
      `SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
        `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
        `LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
        `WHERE c.oid IN (${missing.map((o) => String(o >>> 0)).join(",")})`,
    );
    const found = collect(rows, 0);
    this.trim();
    for (const o of missing) this.byOid.set(o, found.get(String(o)) ?? null);
  }

  /**
   * The columns of each schema-qualified relation name (as the SQL analysis reports them);
   * null for a name that does not exist.
   */
  async columnsOf(relations: readonly string[]): Promise<Map<string, TableColumns | null>> {
    if (performance.now() - this.filledAt > MAX_AGE_MS) this.invalidate();
    const out = new Map<string, TableColumns | null>();
    const missing: [string, string, string][] = [];
    for (const r of new Set(relations)) {
      const hit = this.byName.get(r);
      if (hit !== undefined) {
        out.set(r, hit);
        continue;
      }
      const parts = splitQualified(r);
      if (parts === null) throw new GatewayError("E_INTERNAL", `cannot split relation name "${r}"`);
      missing.push([r, parts[0], parts[1]]);
    }
    if (missing.length > 0) {
      const rows = await this.query(
        `SELECT n.nspname || '.' || c.relname, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
          `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
          `LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
          `WHERE (n.nspname, c.relname) IN (${missing.map(([, s, t]) => `(${sqlLiteral(s)}, ${sqlLiteral(t)})`).join(", ")})`,
      );
      const found = new Map<string, TableColumns>();
      for (const t of collect(rows, -1).values()) found.set(`${t.schema}\u0000${t.table}`, t);
      this.trim();
      for (const [name, s, t] of missing) {
        const hit = found.get(`${s}\u0000${t}`) ?? null;
        this.byName.set(name, hit);
        out.set(name, hit);
      }
    }
    return out;
  }

  /** "schema.name" of a function by OID (for FunctionCall), or null when there is none. */
  async functionName(oid: number): Promise<string | null> {
    const rows = await this.query(
      `SELECT n.nspname, p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ${oid >>> 0}`,
    );
    const r = rows[0];
    if (r === undefined || r[0] === null || r[1] === null) return null;
    return qualifiedName(r[0]!, r[1]!);
  }

  /** DDL went through: names, columns and OIDs may all have changed. */
  invalidate(): void {
    this.byOid.clear();
    this.byName.clear();
    this.filledAt = performance.now();
  }

  close(): void {
    this.closed = true;
    this.conn?.socket.destroy();
    this.conn = null;
  }

  private trim(): void {
    if (this.byOid.size > MAX_ENTRIES) this.byOid.clear();
    if (this.byName.size > MAX_ENTRIES) this.byName.clear();
  }

  /** One query at a time on the gateway's connection; a failed connection is dropped and reopened next time. */
  private query(sql: string): Promise<(string | null)[][]> {
    const run = async () => {
      if (this.closed) throw new GatewayError("E_UPSTREAM", "catalog connection is closed");
      const conn = await this.connection();
      try {
        return (await simpleQuery(conn.socket, conn.reader, sql)).rows;
      } catch (e) {
        this.log.warn("catalog query failed", { error: errorMessage(e) });
        if (this.conn === conn) {
          conn.socket.destroy();
          this.conn = null;
        }
        throw e;
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async connection(): Promise<{ socket: Duplex; reader: MessageReader }> {
    if (this.conn !== null) return this.conn;
    this.connecting ??= (async () => {
      try {
        const c = await connectUpstream(this.upstream, new Map([["application_name", "gatehouse catalog"]]));
        const conn = { socket: c.socket, reader: c.reader };
        c.socket.on("error", () => {});
        c.socket.on("close", () => {
          if (this.conn === conn) this.conn = null;
        });
        this.conn = conn;
        return conn;
      } finally {
        this.connecting = null;
      }
    })();
    return await this.connecting;
  }
}

/** Rows of (key, nspname, relname, attnum, attname) → one TableColumns per key (key column -1: schema.table). */
function collect(rows: readonly (string | null)[][], keyColumn: number): Map<string, TableColumns> {
  const out = new Map<string, { schema: string; table: string; columns: Map<number, string> }>();
  for (const r of rows) {
    const schema = r[1] ?? "";
    const table = r[2] ?? "";
    const key = keyColumn >= 0 ? (r[keyColumn] ?? "") : `${schema}\u0000${table}`;
    let t = out.get(key);
    if (t === undefined) {
      t = { schema, table, columns: new Map() };
      out.set(key, t);
    }
    if (r[3] !== null && r[3] !== undefined && r[4] !== null && r[4] !== undefined) t.columns.set(Number(r[3]), r[4]);
  }
  return out;
}

/**
 * Splits "schema.name" as the SQL analysis writes it: a part holding a dot or a quote is
 * double-quoted with "" for a quote; others are bare. null when it is not two parts.
 */
export function splitQualified(q: string): [string, string] | null {
  const parts: string[] = [];
  let i = 0;
  while (i <= q.length) {
    if (q[i] === '"') {
      let s = "";
      i++;
      for (;;) {
        if (i >= q.length) return null;
        if (q[i] === '"') {
          if (q[i + 1] === '"') {
            s += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += q[i];
        i++;
      }
      parts.push(s);
    } else {
      const dot = q.indexOf(".", i);
      const end = dot < 0 ? q.length : dot;
      parts.push(q.slice(i, end));
      i = end;
    }
    if (i >= q.length) break;
    if (q[i] !== ".") return null;
    i++;
  }
  return parts.length === 2 ? [parts[0]!, parts[1]!] : null;
}
