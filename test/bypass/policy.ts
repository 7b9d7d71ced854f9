// The policy the PostgreSQL bypass corpus runs against (test/bypass/postgres-bypass.e2e.test.ts),
// shared with the fast path's differential test (decide/known-decisions.test.ts), so both
// attack and compare under the same rules.
export const BYPASS_RULES = `
  - name: block-drop-database
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked on sales-db.
  - name: analysts-read-sales
    groups: [analysts]
    targets: [sales-db]
    postgres:
      classes: [read, set, show, transaction, explain, prepare, execute, deallocate, declare_cursor, fetch, move, close, discard]
      tables: ["sales.*"]
    effect: allow
    mask: { columns: [email, sales.customers.email] }
  - name: support-update-sales
    groups: [support]
    postgres: { classes: [read, update, transaction], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
  - name: exporters-copy-sales
    groups: [exporters]
    postgres: { classes: [read, copy.to], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [sales.customers.email] }
  - name: dbas
    groups: [dbas]
    targets: [sales-db]
    effect: allow
`;
