import { Kysely, MysqlDialect, sql, type Generated } from "kysely";
import { createPool, type ConnectionOptions } from "mysql2";
import type { DbConfig } from "./config.js";

export interface UsersTable {
  id: Generated<number>;
  email: string;
  created_at: Date;
  updated_at: Date;
}

export interface Database {
  users: UsersTable;
}

export type Db = Kysely<Database>;

/** mysql2 connection settings shared by the server pool and the one-shot commands. */
export function connectionOptions(cfg: DbConfig, withDatabase: boolean): ConnectionOptions {
  return {
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    ...(withDatabase ? { database: cfg.database } : {}),
    charset: "utf8mb4_unicode_ci",
    // Dates are written and read as UTC whatever the server's time zone is.
    timezone: "Z",
    dateStrings: false,
    // A down database must fail a request (and /up) quickly, not hang it for the 10 s default.
    connectTimeout: 3_000,
    // mysql2 drops a connection from the pool when it errors or the server closes it, so
    // after a database restart the next query opens a fresh one. Keep-alive makes a
    // silently dead peer (host gone, NAT timeout) show up as an error too.
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
  };
}

export function createDb(cfg: DbConfig): Db {
  const pool = createPool({
    ...connectionOptions(cfg, true),
    connectionLimit: 10,
    maxIdle: 10,
    idleTimeout: 60_000,
  });
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
}

/** True when the database answers `SELECT 1` within `timeoutMs`. Never throws. */
export async function ping(db: Db, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const query = sql`SELECT 1`.execute(db).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
