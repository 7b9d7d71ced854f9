// The parts of the npm `pg` and `pg-cursor` drivers that the e2e tests use (the packages ship no
// types, and @types/pg is not a dependency).
declare module "pg" {
  interface ClientConfig {
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
  }
  interface QueryResult {
    rows: Record<string, unknown>[];
  }
  class Client {
    constructor(config: ClientConfig);
    connect(): Promise<void>;
    query(text: string): Promise<QueryResult>;
    /** A submittable such as a pg-cursor Cursor is returned as it is. */
    query<T extends { read(rows: number): Promise<unknown> }>(submittable: T): T;
    end(): Promise<void>;
  }
  const pg: { Client: typeof Client };
  export default pg;
}

declare module "pg-cursor" {
  export default class Cursor {
    constructor(text: string, values?: unknown[]);
    read(rows: number): Promise<Record<string, unknown>[]>;
    close(): Promise<void>;
  }
}
