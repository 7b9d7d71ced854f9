// The SQL classifier the MCP runtime calls for a server's SQL tool: the PostgreSQL parser (loaded
// once), and for a server whose sql: names a catalog connection, the database's catalog behind it
// (sql-catalog.ts), read on the gateway's own connection with the credential as it is now.
import { GatewayError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { McpSqlFacts } from "../../core/types.ts";
import type { McpTarget } from "../../config/schema.ts";
import { Catalog } from "../postgres/catalog/catalog.ts";
import { loadSqlParser } from "../postgres/sql/sql-parser.ts";
import { classifySqlArgument } from "./sql-argument.ts";
import { createCatalogSqlClassifier } from "./sql-catalog.ts";

export interface McpSqlClassifier {
  /** The facts of a call's SQL on this server, or E_PROTOCOL saying why it is refused. */
  classify(text: string, server: string): Promise<McpSqlFacts>;
  /** Closes the catalog connections. */
  close(): void;
}

/** `current`: the target as configured now (a rotated catalog password is used by the next connection). */
export async function loadMcpSqlClassifier(current: () => McpTarget, log: Logger, opts: { readonly freshForMs?: number } = {}): Promise<McpSqlClassifier> {
  const parser = await loadSqlParser();
  const catalogs: Catalog[] = [];
  const byServer = new Map<string, (text: unknown) => Promise<ReturnType<typeof classifySqlArgument>>>();
  for (const s of current().servers) {
    if (s.sql?.catalog === undefined) continue;
    const name = s.name;
    const catalog = new Catalog(() => {
      const c = current().servers.find((x) => x.name === name)?.sql?.catalog;
      if (c === undefined) throw new GatewayError("E_UPSTREAM", `server ${name} no longer names a catalog connection`);
      return c;
    }, log);
    catalogs.push(catalog);
    byServer.set(name, createCatalogSqlClassifier(parser, catalog, opts.freshForMs !== undefined ? { freshForMs: opts.freshForMs } : {}));
  }
  return {
    async classify(text, server) {
      const withCatalog = byServer.get(server);
      const r = withCatalog !== undefined ? await withCatalog(text) : classifySqlArgument(parser, text);
      if (!r.ok) throw new GatewayError("E_PROTOCOL", r.reason);
      return r.sql;
    },
    close() {
      for (const c of catalogs) c.close();
    },
  };
}
