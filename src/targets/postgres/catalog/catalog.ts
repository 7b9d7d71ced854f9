// Column origins for masking: table OID + attribute number → schema.table.column, the columns
// of a named relation, and what views, inheritance, operators, casts, triggers and user-defined
// functions hide (objectsOf, see catalog-objects.ts), read from
// the upstream catalog on a connection the gateway owns (one per target, never a client's
// session), cached, and dropped whenever DDL passes through or after MAX_AGE_MS.
import type { Connection } from "../../../gate/connection.ts";
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import type { Logger } from "../../../core/logger.ts";
import type { MessageReader } from "../session/message-reader.ts";
import { qualifiedName } from "../sql/name-resolution.ts";
import {
  FIRST_USER_OID,
  NOTHING,
  combine,
  needsFunctionLookup,
  onlyKey,
  relationObjectsQuery,
  skipRelation,
  userFunctionsQuery,
  userOperatorsQuery,
  typeOidKey,
  userTypeOidsQuery,
  userTypesQuery,
  type ObjectsExtra,
  type RelationObjects,
  splitQualified,
  type StatementObjects,
} from "./catalog-objects.ts";
import { DANGEROUS_FUNCTIONS } from "../sql/dangerous-functions.ts";
import { SENSITIVE_SETTINGS, settingFunction } from "../sql/setting-changes.ts";
import { connectUpstream, simpleQuery, sqlLiteral, type UpstreamConfig } from "../session/upstream.ts";

export { NO_OBJECTS, splitQualified, type ObjectsExtra, type StatementObjects } from "./catalog-objects.ts";

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
  private conn: { socket: Connection; reader: MessageReader } | null = null;
  private connecting: Promise<{ socket: Connection; reader: MessageReader }> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly byOid = new Map<number, TableColumns | null>();
  private readonly byName = new Map<string, TableColumns | null>();
  /** Relation name → what its rules reach (NOTHING for a table without rules or no such relation). */
  private readonly relObjects = new Map<string, RelationObjects>();
  /** Function name → whether some function of that schema and name is user-defined. */
  private readonly userFunction = new Map<string, boolean>();
  /** Operator ("schema.op") and type ("schema.type") names → the user functions they may run ([] for none). */
  private readonly userOperator = new Map<string, readonly string[]>();
  private readonly userType = new Map<string, readonly string[]>();
  private closed = false;
  /**
   * Bumped by invalidate(). A lookup that started before an invalidation may have read the old
   * catalog: its answers are not cached, and loadObjects asks again.
   */
  private generation = 0;
  /** Bumped whenever cached answers are dropped (invalidate, expiry, trim): see epoch. */
  private dropped = 0;
  private filledAt = performance.now();

  /** A function when the credential can rotate: each new connection asks for the current one. */
  constructor(
    private readonly upstream: UpstreamConfig | (() => UpstreamConfig),
    private readonly log: Logger,
  ) {}

  /**
   * undefined: not looked up yet; null: no table columns to name as an origin: no such
   * relation, or a view or materialized view (their columns are whatever their query made of
   * other tables' columns, so their origin counts as unknown and unknown-origin masks apply).
   */
  cached(oid: number): TableColumns | null | undefined {
    this.expire();
    return this.byOid.get(oid);
  }

  /** Loads every OID not yet cached. Throws E_UPSTREAM when the catalog cannot be read. */
  async loadOids(oids: Iterable<number>): Promise<void> {
    const missing = [...new Set(oids)].filter((o) => o !== 0 && !this.byOid.has(o));
    if (missing.length === 0) return;
    const gen = this.generation;
    const rows = await this.query(
      `SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
        `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
        `LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
        `WHERE c.oid IN (${missing.map((o) => String(o >>> 0)).join(",")}) AND c.relkind NOT IN ('v', 'm')`,
    );
    const found = collect(rows, 0);
    // Read before a catalog change: keep nothing; the columns then count as of unknown origin.
    if (gen !== this.generation) return;
    this.trim();
    for (const o of missing) this.byOid.set(o, found.get(String(o)) ?? null);
  }

  /**
   * The columns of each schema-qualified relation name (as the SQL analysis reports them);
   * null for a name that does not exist.
   */
  async columnsOf(relations: readonly string[]): Promise<Map<string, TableColumns | null>> {
    this.expire();
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
      const gen = this.generation;
      const rows = await this.query(
        `SELECT n.nspname || '.' || c.relname, n.nspname, c.relname, a.attnum, a.attname FROM pg_catalog.pg_class c ` +
          `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
          `LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
          `WHERE (n.nspname, c.relname) IN (${missing.map(([, s, t]) => `(${sqlLiteral(s)}, ${sqlLiteral(t)})`).join(", ")})`,
      );
      const found = new Map<string, TableColumns>();
      for (const t of collect(rows, -1).values()) found.set(`${t.schema}\u0000${t.table}`, t);
      // Read before a catalog change: answer this caller, but do not keep it for others.
      const keep = gen === this.generation;
      if (keep) this.trim();
      for (const [name, s, t] of missing) {
        const hit = found.get(`${s}\u0000${t}`) ?? null;
        if (keep) this.byName.set(name, hit);
        out.set(name, hit);
      }
    }
    return out;
  }

  /**
   * What the statement's relation names and called function names hide (see StatementObjects).
   * Synchronous when every name is cached (the hot path: no round trip); otherwise one query
   * for all of them. Throws E_UPSTREAM when the catalog cannot be read.
   */
  objectsOf(relations: readonly string[], calls: readonly string[], extra: ObjectsExtra = {}): StatementObjects | Promise<StatementObjects> {
    this.expire();
    const only = extra.only ?? [];
    const key = (r: string) => (only.includes(r) ? onlyKey(r) : r);
    let missing = false;
    for (const r of relations) if (!skipRelation(r) && !this.relObjects.has(key(r))) missing = true;
    for (const f of calls) if (!this.userFunction.has(f) && needsFunctionLookup(f)) missing = true;
    for (const o of extra.operators ?? []) if (!this.userOperator.has(o) && needsFunctionLookup(o)) missing = true;
    for (const t of extra.types ?? []) if (!this.userType.has(t) && needsFunctionLookup(t)) missing = true;
    for (const o of extra.typeOids ?? []) if (!this.userType.has(typeOidKey(o))) missing = true;
    if (!missing) {
      return combine(relations, calls, (r) => this.relObjects.get(r), (f) => this.userFunction.get(f), extra, (kind, n) =>
        (kind === "op" ? this.userOperator : this.userType).get(n),
      );
    }
    // Everything is looked up again, not only the misses, so that a concurrent invalidate()
    // cannot leave a name of this statement unresolved.
    return this.loadObjects(relations, calls, extra).then(({ rels, fns, ops, types }) =>
      combine(relations, calls, (r) => rels.get(r), (f) => fns.get(f), extra, (kind, n) => (kind === "op" ? ops : types).get(n)),
    );
  }

  private async loadObjects(
    relations: readonly string[],
    calls: readonly string[],
    extra: ObjectsExtra,
  ): Promise<{ rels: Map<string, RelationObjects>; fns: Map<string, boolean>; ops: Map<string, readonly string[]>; types: Map<string, readonly string[]> }> {
    const only = extra.only ?? [];
    const relKeys = [...new Set(relations)].filter((r) => !skipRelation(r)).map((r) => ({ name: r, key: only.includes(r) ? onlyKey(r) : r, inh: !only.includes(r) }));
    const fnNames = [...new Set(calls)].filter(needsFunctionLookup);
    const opNames = [...new Set(extra.operators ?? [])].filter(needsFunctionLookup);
    const typeNames = [...new Set(extra.types ?? [])].filter(needsFunctionLookup);
    const typeOids = [...new Set(extra.typeOids ?? [])];
    const sql: string[] = [];
    // Relations are named by position in the query: a key may hold a NUL (onlyKey), which a query cannot.
    if (relKeys.length > 0) sql.push(relationObjectsQuery(relKeys.map((r, i) => [String(i), ...split(r.name), r.inh] as const)));
    if (fnNames.length > 0) sql.push(userFunctionsQuery(fnNames.map((f) => [f, ...split(f)])));
    if (opNames.length > 0) sql.push(userOperatorsQuery(opNames.map((f) => [f, ...split(f)])));
    if (typeNames.length > 0) sql.push(userTypesQuery(typeNames.map((f) => [f, ...split(f)])));
    if (typeOids.length > 0) sql.push(userTypeOidsQuery(typeOids));
    // A lookup that read the catalog before an invalidation (DDL just went through) may describe
    // objects as they were: ask again, a few times, then refuse (the caller denies).
    let rows: (string | null)[][] = [];
    for (let attempt = 0; ; attempt++) {
      const gen = this.generation;
      rows = await this.query(sql.join(";\n"));
      if (gen === this.generation) break;
      if (attempt >= 3) throw new GatewayError("E_UPSTREAM", "the catalog kept changing while it was read");
    }
    const reached = new Map<string, { bases: Set<string>; inherited: Set<string>; viaRules: boolean; functions: Set<string>; user: Set<string>; write: Set<string> }>();
    const fns = new Map<string, boolean>();
    const ops = new Map<string, string[]>();
    const types = new Map<string, string[]>();
    for (const r of rows) {
      const [tag, name, schema, object, self, oid, via] = r;
      if (name === null || name === undefined) continue;
      if (tag === "u") {
        fns.set(name, schema === "t");
        continue;
      }
      if (schema === null || schema === undefined || object === null || object === undefined) continue;
      const q = qualifiedName(schema, object);
      if (tag === "o" || tag === "t") {
        const m = tag === "o" ? ops : types;
        m.set(name, [...(m.get(name) ?? []), q]);
        continue;
      }
      if (self === "t") continue;
      const key = relKeys[Number(name)]?.key;
      if (key === undefined) continue;
      let o = reached.get(key);
      if (o === undefined) {
        o = { bases: new Set(), inherited: new Set(), viaRules: false, functions: new Set(), user: new Set(), write: new Set() };
        reached.set(key, o);
      }
      if (tag === "r") {
        o.bases.add(q);
        if (via === "i") o.inherited.add(q);
        else o.viaRules = true;
      } else if (tag === "f") {
        o.functions.add(q);
        if (Number(oid) >= FIRST_USER_OID) o.user.add(q);
      } else if (tag === "w") {
        if (Number(oid) >= FIRST_USER_OID) o.write.add(q);
      } else if (tag === "x") {
        if (Number(oid) >= FIRST_USER_OID) o.user.add(q);
      } else if (tag === "g" && guardedBuiltin(q)) {
        o.functions.add(q);
        // set_config behind a view may change any setting, the sensitive ones included.
        if (q === "pg_catalog.set_config") for (const n of SENSITIVE_SETTINGS) o.functions.add(settingFunction(n));
      }
    }
    const rels = new Map<string, RelationObjects>();
    for (const { key } of relKeys) {
      const o = reached.get(key);
      rels.set(
        key,
        o === undefined
          ? NOTHING
          : {
              bases: [...o.bases].sort(),
              functions: [...o.functions].sort(),
              userFunctions: [...o.user].sort(),
              ...(o.inherited.size > 0 ? { inherited: [...o.inherited].sort() } : {}),
              ...(o.viaRules ? { viaRules: true as const } : {}),
              ...(o.write.size > 0 ? { writeFunctions: [...o.write].sort() } : {}),
            },
      );
    }
    for (const f of fnNames) if (!fns.has(f)) fns.set(f, false);
    const opsOut = new Map<string, readonly string[]>();
    for (const o of opNames) opsOut.set(o, [...new Set(ops.get(o) ?? [])].sort());
    const typesOut = new Map<string, readonly string[]>();
    for (const t of [...typeNames, ...typeOids.map(typeOidKey)]) typesOut.set(t, [...new Set(types.get(t) ?? [])].sort());
    this.trim();
    for (const [k, v] of rels) this.relObjects.set(k, v);
    for (const [k, v] of fns) this.userFunction.set(k, v);
    for (const [k, v] of opsOut) this.userOperator.set(k, v);
    for (const [k, v] of typesOut) this.userType.set(k, v);
    return { rels, fns, ops: opsOut, types: typesOut };
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

  /**
   * Changes whenever the cache forgets something, so that an answer read again could differ
   * (DDL, the age limit, the size limit). A decision made from the cache's answers may be reused
   * only while the epoch it was made in lasts; answers are only ever added in between.
   */
  get epoch(): number {
    this.expire();
    return this.dropped;
  }

  /** DDL went through: names, columns and OIDs may all have changed. */
  invalidate(): void {
    this.generation++;
    this.dropped++;
    this.byOid.clear();
    this.byName.clear();
    this.relObjects.clear();
    this.userFunction.clear();
    this.userOperator.clear();
    this.userType.clear();
    this.filledAt = performance.now();
  }

  private expire(): void {
    if (performance.now() - this.filledAt > MAX_AGE_MS) this.invalidate();
  }

  close(): void {
    this.closed = true;
    this.conn?.socket.destroy();
    this.conn = null;
  }

  private trim(): void {
    for (const m of [this.byOid, this.byName, this.relObjects, this.userFunction, this.userOperator, this.userType]) {
      if (m.size > MAX_ENTRIES) {
        m.clear();
        this.dropped++;
      }
    }
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

  private async connection(): Promise<{ socket: Connection; reader: MessageReader }> {
    if (this.conn !== null && !this.conn.socket.closed) return this.conn;
    this.conn = null;
    this.connecting ??= (async () => {
      try {
        const c = await connectUpstream(typeof this.upstream === "function" ? this.upstream() : this.upstream, new Map([["application_name", "gatehouse catalog"]]));
        // A connection that closes is noticed at the next query (its reader fails, or `closed`).
        const conn = { socket: c.socket, reader: c.reader };
        this.conn = conn;
        return conn;
      } finally {
        this.connecting = null;
      }
    })();
    return await this.connecting;
  }
}

function split(name: string): [string, string] {
  const parts = splitQualified(name);
  if (parts === null) throw new GatewayError("E_INTERNAL", `cannot split object name "${name}"`);
  return parts;
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

const DANGEROUS_RES = DANGEROUS_FUNCTIONS.map((d) => new RegExp(`^${d.pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`));

/** A built-in that rules must see even behind a view: a dangerous one, or set_config. */
function guardedBuiltin(name: string): boolean {
  return name === "pg_catalog.set_config" || DANGEROUS_RES.some((re) => re.test(name));
}
