// The SQL cursors of one session, by name, so that a FETCH or MOVE is decided as the query of
// the cursor it reads, under the policy in force when it runs (a cursor declared before the
// policy changed is read under the new one), and its rows are masked as that query's would be.
//
// The gateway learns a DECLARE's outcome only when the server answers, while statements
// pipelined behind it are decided before that: so a DECLARE counts from when it is forwarded,
// beside what the name meant before, and the name means only the new cursor once the server
// confirmed it (or only the old one again if it failed). Until then a FETCH of the name is
// decided as every query it may read. A name the gateway cannot read as the server folds it
// (see cursor-name.ts; any name with characters outside ASCII) may be any name: its query
// counts for every FETCH. Cursors a transaction's end closes stay known; the name is only
// ever taken again by a DECLARE or a protocol Bind, which the gateway sees.
import { declaredCursorName } from "./cursor-name.ts";
import type { StatementInfo } from "../sql/analysis.ts";

export interface DeclaredCursor {
  /** The DECLARE as decided: its query's classes, relations and functions. */
  readonly info: StatementInfo;
  /** null: the gateway cannot read the name, so it may be any name. */
  readonly name: string | null;
  /** Order of forwarding: a later CLOSE or DECLARE of the name supersedes earlier ones only. */
  readonly seq: number;
}

/** What a FETCH of a name may read: queries of DECLAREs, or a protocol portal's statement. */
export type CursorLookup = { readonly known: true; readonly queries: readonly StatementInfo[] } | { readonly known: false };

export class Cursors {
  private readonly named = new Map<string, DeclaredCursor[]>();
  private unreadable: DeclaredCursor[] = [];
  private seq = 0;

  /** A DECLARE is forwarded (its run is made): it counts until the server refuses it. */
  declared(info: StatementInfo): DeclaredCursor {
    const name = plainName(declaredCursorName(info.text));
    const c: DeclaredCursor = { info, name, seq: ++this.seq };
    if (name === null) this.unreadable.push(c);
    else this.named.set(name, [...(this.named.get(name) ?? []), c]);
    return c;
  }

  /** The server ran the DECLARE: the name now means this cursor, not any declared before it. */
  succeeded(c: DeclaredCursor): void {
    if (c.name === null) return;
    const list = this.named.get(c.name);
    if (list !== undefined) this.named.set(c.name, list.filter((x) => x.seq >= c.seq));
  }

  /** The server refused the DECLARE (or never ran it): it never existed. */
  failed(c: DeclaredCursor): void {
    if (c.name === null) {
      this.unreadable = this.unreadable.filter((x) => x !== c);
      return;
    }
    const list = this.named.get(c.name)?.filter((x) => x !== c);
    if (list === undefined || list.length === 0) this.named.delete(c.name);
    else this.named.set(c.name, list);
  }

  /** A mark for a CLOSE being forwarded now: cursors declared before it are the ones it closes. */
  mark(): number {
    return ++this.seq;
  }

  /** CLOSE name succeeded (null: CLOSE ALL, DISCARD ALL): the cursors declared before `mark` are gone. */
  closed(name: string | null, mark: number): void {
    if (name === null) {
      for (const [k, list] of [...this.named]) this.keepAfter(k, list, mark);
      this.unreadable = this.unreadable.filter((x) => x.seq > mark);
      return;
    }
    const key = plainName(name);
    const list = key === null ? undefined : this.named.get(key);
    if (key !== null && list !== undefined) this.keepAfter(key, list, mark);
  }

  /** A protocol Bind takes the name for a portal (if it fails, the name is unknown: fail closed). */
  portalBound(name: string): void {
    // A name outside ASCII is taken as sent (Bind does not fold it), so it is no DECLARE's plain name.
    const key = plainName(name);
    if (key !== null) this.named.delete(key);
  }

  /**
   * What FETCH/MOVE `name` may read: the DECLAREs of that name still in effect, or else the
   * protocol portal of that name (`portal`, null when none is known); and every DECLARE whose
   * name could not be read. Unknown when none, and for a name outside ASCII, which a server with
   * a single-byte encoding may fold to another name.
   */
  lookup(name: string, portal: (name: string) => StatementInfo | null): CursorLookup {
    const key = plainName(name);
    if (key === null) return { known: false };
    const queries = (this.named.get(key) ?? []).map((c) => c.info);
    if (queries.length === 0) {
      const p = portal(key);
      if (p !== null) queries.push(p);
    }
    if (queries.length === 0) return { known: false };
    for (const c of this.unreadable) queries.push(c.info);
    return { known: true, queries };
  }

  private keepAfter(key: string, list: DeclaredCursor[], mark: number): void {
    const rest = list.filter((x) => x.seq > mark);
    if (rest.length === 0) this.named.delete(key);
    else this.named.set(key, rest);
  }
}

/** The name when it is plain ASCII (folded alike by the gateway and any server encoding); else null. */
function plainName(name: string | null): string | null {
  if (name === null || name.length === 0) return null;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0x7e || name.charCodeAt(i) < 0x20) return null;
  return name;
}
