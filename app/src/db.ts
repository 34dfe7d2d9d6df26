import { Kysely, MysqlDialect, sql, type Generated, type MysqlPool, type MysqlPoolConnection, type Transaction } from "kysely";
import { createPool, type ConnectionOptions, type Pool, type PoolConnection } from "mysql2";
import { AsyncLocalStorage } from "node:async_hooks";
import type { DbConfig } from "./config.js";
import { DbUnavailableError } from "./errors.js";

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

/** A query that was cut short: its deadline passed or the request it served was abandoned. */
export class QueryAbortedError extends Error {
  readonly code = "QUERY_ABORTED";
  constructor(cause: unknown) {
    super("query aborted", { cause });
    this.name = "QueryAbortedError";
  }
}

// The signal of the operation a query belongs to (a write transaction, a health check):
// set by `withSignal`, read by the pool below for every connection it hands out and every query.
const scope = new AsyncLocalStorage<AbortSignal>();

export function withSignal<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  return scope.run(signal, fn);
}

interface Deadline {
  /** Set once `onAbort` has run (or `cancel` was called). */
  readonly settled: boolean;
  cancel(): void;
}

/**
 * Calls `onAbort` once when `timeoutMs` passes or the scope's signal aborts, whichever is first
 * (at once when the signal already has); `cancel` stops both.
 */
function deadline(timeoutMs: number | undefined, onAbort: (reason: unknown) => void): Deadline {
  const signal = scope.getStore();
  let timer: NodeJS.Timeout | undefined;
  const state = {
    settled: false,
    cancel() {
      state.settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onSignal);
    },
  };
  const fire = (reason: unknown) => {
    if (state.settled) return;
    state.cancel();
    onAbort(reason);
  };
  const onSignal = () => fire(signal?.reason);
  if (signal?.aborted) {
    fire(signal.reason);
    return state;
  }
  signal?.addEventListener("abort", onSignal, { once: true });
  if (timeoutMs !== undefined) timer = setTimeout(() => fire(new Error(`no answer within DB_TIMEOUT_MS (${timeoutMs} ms)`)), timeoutMs);
  return state;
}

/**
 * mysql2's own query `timeout` only fails the callback and leaves the command queued on the
 * connection (node_modules/mysql2/lib/commands/query.js, `_handleTimeoutError`), so the
 * connection would go back to the pool still waiting. Here a query past its deadline destroys
 * its connection instead: the server then rolls back whatever transaction that connection had
 * open (https://mariadb.com/kb/en/start-transaction/: a disconnect rolls back), and the pool
 * opens a fresh one for the next query.
 */
function guardedPool(pool: Pool, timeoutMs: number | undefined): MysqlPool {
  const wrapped = new WeakMap<PoolConnection, MysqlPoolConnection>();
  function wrap(raw: PoolConnection): MysqlPoolConnection {
    let conn = wrapped.get(raw);
    if (conn) return conn;
    const query = (sqlText: string, params: unknown[], cb?: (err: unknown, result: never) => void) => {
      // Kysely streams only for `.stream()`, which the app does not use.
      if (cb === undefined) return raw.query(sqlText, params);
      const d = deadline(timeoutMs, (reason) => {
        raw.destroy();
        cb(new QueryAbortedError(reason), undefined as never);
      });
      // Not sent at all when already given up on (a COMMIT after the deadline must not go out).
      if (d.settled) return undefined;
      raw.query(sqlText, params, (err: unknown, result: unknown) => {
        if (d.settled) return;
        d.cancel();
        cb(err, result as never);
      });
      return undefined;
    };
    conn = { query: query as MysqlPoolConnection["query"], release: () => raw.release() };
    wrapped.set(raw, conn);
    return conn;
  }
  return {
    getConnection(cb) {
      const d = deadline(timeoutMs, (reason) => cb(new QueryAbortedError(reason), undefined as never));
      if (d.settled) return;
      pool.getConnection((err, raw) => {
        if (d.settled) {
          // Given up on while waiting for a free or new connection: back to the pool.
          if (!err) raw.release();
          return;
        }
        d.cancel();
        if (err) cb(err, undefined as never);
        else cb(null, wrap(raw));
      });
    },
    end: (cb) => pool.end(cb),
  };
}

/**
 * The app's pool. With `timeoutMs`, every query (and the wait for a connection) has that
 * deadline; without it (migrations, which may run long) none.
 */
export function createDb(cfg: DbConfig, opts: { timeoutMs?: number } = {}): Db {
  const pool = createPool({
    ...connectionOptions(cfg, true),
    connectionLimit: 10,
    maxIdle: 10,
    idleTimeout: 60_000,
  });
  return new Kysely<Database>({ dialect: new MysqlDialect({ pool: guardedPool(pool, opts.timeoutMs) }) });
}

export interface WriteContext {
  /** Aborts when the client that asked for the write goes away. */
  signal: AbortSignal;
  /** Deadline of the whole transaction: BEGIN, statements, COMMIT. */
  timeoutMs: number;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * Runs `fn` in a transaction that is abandoned when `ctx.timeoutMs` passes or the client goes
 * away. Abandoned before COMMIT was sent, the connection is destroyed and the server rolls the
 * transaction back, so a client told "failed" (by this app, or by a proxy that gave up) finds
 * no change. Abandoned while COMMIT was on its way, nobody can know whether it applied: the
 * answer says so. Either way the outcome is logged with the request's id (ctx.log).
 */
export async function inTransaction<T>(db: Db, ctx: WriteContext, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.timeoutMs)]);
  const progress = { committing: false };
  try {
    return await withSignal(signal, () =>
      db.transaction().execute(async (trx) => {
        const result = await fn(trx);
        progress.committing = true;
        return result;
      }),
    );
  } catch (err) {
    if (!signal.aborted) throw err;
    const reason = ctx.signal.aborted ? "client gone" : "timeout";
    if (progress.committing) {
      ctx.log.error({ reason, outcome: "unknown", timeoutMs: ctx.timeoutMs }, "write abandoned while committing: outcome unknown");
      throw new DbUnavailableError("The database did not answer in time; the change may or may not have been saved.", { cause: err });
    }
    ctx.log.warn({ reason, outcome: "rolled back", timeoutMs: ctx.timeoutMs }, "write abandoned before commit: rolled back");
    throw new DbUnavailableError("The database did not answer in time; nothing was saved. Try again.", { cause: err });
  }
}

/** True when the database answers `SELECT 1` within `timeoutMs`. Never throws. */
export async function ping(db: Db, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  // The signal makes the pool destroy the connection of a check that got no answer.
  const query = withSignal(AbortSignal.timeout(timeoutMs), () => sql`SELECT 1`.execute(db)).then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
