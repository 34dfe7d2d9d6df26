import type { Migration, MigrationProvider } from "kysely";
import * as m0001 from "./0001_create_users.js";

/**
 * Migrations are listed here rather than read from a folder at run time, so the
 * compiled image needs no file-system lookup and the order is explicit.
 * Rule for zero-downtime deploys: a migration must keep the previous version
 * working (it serves while this runs) — add columns nullable or with defaults,
 * drop things only one release after the code stopped using them.
 */
export const migrations: Record<string, Migration> = {
  "0001_create_users": m0001,
};

export const provider: MigrationProvider = {
  getMigrations: async () => migrations,
};
