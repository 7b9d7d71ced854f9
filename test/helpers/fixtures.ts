// The shared test data in fixtures/ (SQL schemas and seed rows, a TLS certificate), read by
// tests and benchmarks alike so that each lives in one place. See fixtures/README.md.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const FIXTURES_DIR = resolve(import.meta.dir, "../../fixtures");

/** The absolute path of fixtures/<parts…>. */
export function fixturePath(...parts: string[]): string {
  return join(FIXTURES_DIR, ...parts);
}

export function fixtureText(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), "utf8");
}

/**
 * fixtures/sql/<name> as a psql script with `vars` set first (the file reads them as :name or
 * :'name'), for PostgresInstance.psql and startPostgresWithTarget.
 */
export function fixtureSql(name: string, vars: Readonly<Record<string, string | number>> = {}): string {
  const sets = Object.entries(vars).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`fixtureSql(${name}): bad variable name "${k}"`);
    return `\\set ${k} '${String(v).replaceAll("'", "''")}'\n`;
  });
  return `${sets.join("")}${fixtureText("sql", name)}\n`;
}

/** The test certificate and key for localhost (fixtures/tls). */
export const TLS_CERT = fixturePath("tls", "localhost.crt");
export const TLS_KEY = fixturePath("tls", "localhost.key");
