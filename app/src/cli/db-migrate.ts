import { createDb } from "../db.js";
import { migrateToLatest } from "../migrate.js";
import { runCommand } from "./command.js";

// `npm run db:migrate`: applies pending migrations; a no-op when there are none.
await runCommand("db:migrate", async (cfg, log) => {
  const db = createDb(cfg);
  try {
    const { error, results = [] } = await migrateToLatest(db);
    for (const r of results) log.info({ migration: r.migrationName, status: r.status }, "migration");
    if (error) throw error;
    log.info({ applied: results.filter((r) => r.status === "Success").length }, "migrations up to date");
  } finally {
    await db.destroy();
  }
});
