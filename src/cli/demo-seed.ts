// The demo database's tables and rows: customers with e-mail addresses (masked through the
// gateway) and their orders. Run at every start; rows go in only into empty tables.
export const DEMO_SEED_SQL = `
CREATE SCHEMA IF NOT EXISTS sales;
CREATE TABLE IF NOT EXISTS sales.customers (
  id integer PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  country text NOT NULL
);
CREATE TABLE IF NOT EXISTS sales.orders (
  id integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES sales.customers (id),
  total numeric(10, 2) NOT NULL,
  status text NOT NULL,
  ordered_at date NOT NULL
);
INSERT INTO sales.customers (id, name, email, country)
SELECT * FROM (VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'GB'),
  (2, 'Grace Hopper', 'grace@example.org', 'US'),
  (3, 'Edsger Dijkstra', 'edsger@example.nl', 'NL'),
  (4, 'Barbara Liskov', 'barbara@example.com', 'US')
) AS v(id, name, email, country)
WHERE NOT EXISTS (SELECT 1 FROM sales.customers);
INSERT INTO sales.orders (id, customer_id, total, status, ordered_at)
SELECT * FROM (VALUES
  (1, 1, 120.50, 'shipped', DATE '2026-01-12'),
  (2, 2, 42.00, 'open', DATE '2026-02-03'),
  (3, 1, 9.99, 'open', DATE '2026-02-14'),
  (4, 3, 310.00, 'shipped', DATE '2026-03-01'),
  (5, 4, 75.25, 'cancelled', DATE '2026-03-09')
) AS v(id, customer_id, total, status, ordered_at)
WHERE NOT EXISTS (SELECT 1 FROM sales.orders);
`;
