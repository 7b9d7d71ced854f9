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

/** The policy the HTTP bypass corpus runs against (test/bypass/http-bypass.e2e.test.ts), shared with the decision cache's differential test. */
export const HTTP_BYPASS_RULES = `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
  - name: customers-masked
    groups: [developers]
    http: { methods: [GET], paths: ["/api/customers"] }
    effect: allow
    mask: { json: ["$.customers[*].name"], detectors: [email, card] }
  - name: no-admin
    http: { paths: ["/api/admin", "/api/admin/**"] }
    effect: deny
    message: The admin API is not reachable through the gateway.
  - name: no-deletes
    http: { methods: [DELETE] }
    effect: deny
    message: Deletes go through the change process.
  - name: order-writes
    http: { methods: [POST], paths: ["/api/orders/**"] }
    effect: review
    approvers: [approvers]
    grant_max: 1h
    timeout: 1s
`;
