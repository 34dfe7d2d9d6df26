import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { buildApp } from "../../src/app.js";
import { parseConfig, type AppConfig } from "../../src/config.js";
import { createDb, type Db } from "../../src/db.js";
import { createDatabase, migrateToLatest } from "../../src/migrate.js";
import type { MariaDb } from "./mariadb.js";

export const SECRET = "test-secret-key-base-0123456789abcdef0123456789abcdef";

export interface RunningApp {
  url: string;
  config: AppConfig;
  db: Db;
  close(): Promise<void>;
}

/** Creates and migrates `database`, then serves the app in this process on a free loopback port. */
export async function startApp(maria: MariaDb, database: string, extraEnv: Record<string, string> = {}): Promise<RunningApp> {
  const config = parseConfig({ ...maria.env(database), SECRET_KEY_BASE: SECRET, APP_VERSION: "test-7", ...extraEnv });
  await createDatabase(config.db);
  const db = createDb(config.db);
  const { error } = await migrateToLatest(db);
  if (error) throw error;
  const app = await buildApp({ config, db, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    db,
    close: async () => {
      await app.close();
      await db.destroy();
    },
  };
}
