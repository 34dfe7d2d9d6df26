import { createDatabase } from "../migrate.js";
import { runCommand } from "./command.js";

// `npm run db:create`: the counterpart of `rake db:create`, safe to run again.
await runCommand("db:create", async (cfg, log) => {
  const existed = await createDatabase(cfg);
  log.info({ database: cfg.database, existed }, existed ? "database already exists" : "database created");
});
