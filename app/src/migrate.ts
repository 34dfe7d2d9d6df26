import { Migrator, type MigrationResult } from "kysely";
import { createConnection } from "mysql2/promise";
import { inspect } from "node:util";
import type { DbConfig } from "./config.js";
import { connectionOptions, type Db } from "./db.js";
import { provider } from "./migrations/index.js";

/**
 * Applies pending migrations. Kysely's MySQL adapter takes `GET_LOCK` on the one
 * connection it migrates with, so two concurrent runs (two deploys, a retry) run
 * one after the other and the second finds nothing to do; the lock dies with the
 * session if a run is killed.
 */
export async function migrateToLatest(db: Db): Promise<{ error?: Error; results?: MigrationResult[] }> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  // Kysely passes on whatever a migration threw, which need not be an Error.
  if (error === undefined || error instanceof Error) return { error, results };
  return { error: new Error(`migration failed: ${inspect(error)}`), results };
}

/** Creates the database when it does not exist; a no-op when it does. Returns whether it existed. */
export async function createDatabase(cfg: DbConfig): Promise<boolean> {
  // No database in the connection settings: it may not exist yet.
  const conn = await createConnection(connectionOptions(cfg, false));
  try {
    const [rows] = await conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [cfg.database]);
    const existed = Array.isArray(rows) && rows.length > 0;
    // `??` makes mysql2 quote the name as an identifier.
    await conn.query("CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci", [cfg.database]);
    return existed;
  } finally {
    await conn.end();
  }
}
