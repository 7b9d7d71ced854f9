// Where a write's values may come from, for the gate's check that masked columns are not copied
// into columns (or tables) that can then be read unmasked: the last names of the column
// references the statement makes, and whether it takes whole rows (a star, a row reference, a
// column alias list that renames, CREATE TABLE … AS EXECUTE). Reported as \0copy markers
// (markers.ts) only when the statement writes rows.
import { list, str, wrappedNode, type Fields } from "./ast.ts";
import { marker } from "./markers.ts";

export class CopySources {
  /** Lower-cased last names of column references. */
  private readonly columns = new Set<string>();
  /** Names of range items (tables, aliases, CTEs, subqueries): a reference to one is a whole row. */
  private readonly ranges = new Set<string>();
  private star = false;
  /**
   * References where values are only read (a DML's WHERE and RETURNING): they count too when
   * `carried` is set, for then they may still reach stored rows.
   */
  private readonly readColumns = new Set<string>();
  private readStar = false;
  /** The statement writes rows (INSERT, UPDATE, MERGE, CREATE TABLE AS, SELECT INTO, setval) that run now. */
  writes = false;
  /**
   * Values read in WHERE and RETURNING may be stored after all: a data-modifying CTE's RETURNING
   * feeds the outer statement, and a setval there keeps a value that later reads return.
   */
  carried = false;

  /** A ColumnRef's fields; `readOnly`: in a part whose values are not written (see `carried`). */
  reference(f: Fields, readOnly = false): void {
    const fields = list(f, "fields");
    const last = wrappedNode(fields[fields.length - 1]);
    if (last === null) return;
    if (last.name === "A_Star") {
      if (readOnly) this.readStar = true;
      else this.star = true;
    } else if (last.name === "String") (readOnly ? this.readColumns : this.columns).add((str(last.fields, "sval") ?? "").toLowerCase());
  }

  range(name: string): void {
    this.ranges.add(name);
  }

  /** A table's or join's alias; a column list (sales.customers AS t(a, b, x)) renames columns where no reference shows it. */
  alias(a: Fields | undefined): void {
    if (a === undefined) return;
    const name = str(a, "aliasname");
    if (name !== undefined) this.ranges.add(name);
    if (list(a, "colnames").length > 0) this.star = true;
  }

  /** Values come from rows the statement does not show (CREATE TABLE … AS EXECUTE). */
  wholeRows(): void {
    this.star = true;
  }

  absorb(other: CopySources): void {
    for (const c of other.columns) this.columns.add(c);
    for (const r of other.ranges) this.ranges.add(r);
    this.star ||= other.star;
    for (const c of other.readColumns) this.readColumns.add(c);
    this.readStar ||= other.readStar;
    this.writes ||= other.writes;
    this.carried ||= other.carried;
  }

  /** The \0copy markers: one per column name, and "*" for whole rows; none unless the statement writes. */
  markers(): string[] {
    if (!this.writes) return [];
    const out: string[] = [];
    let star = this.star || (this.carried && this.readStar);
    const columns = this.carried ? new Set([...this.columns, ...this.readColumns]) : this.columns;
    for (const c of columns) {
      out.push(marker("copy", c));
      if (this.ranges.has(c)) star = true;
    }
    if (star) out.push(marker("copy", "*"));
    return out;
  }
}
