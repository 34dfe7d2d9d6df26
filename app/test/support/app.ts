import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
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

/** A pino destination that keeps every line, parsed, in `lines`. */
export function logCollector(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
}

/**
 * Creates and migrates `database`, then serves the app in this process on a free loopback port.
 * With `logs`, the app logs at info into it.
 */
export async function startApp(
  maria: MariaDb,
  database: string,
  extraEnv: Record<string, string> = {},
  opts: { logs?: Record<string, unknown>[] } = {},
): Promise<RunningApp> {
  const config = parseConfig({ ...maria.env(database), SECRET_KEY_BASE: SECRET, APP_VERSION: "test-7", ...extraEnv });
  await createDatabase(config.db);
  const db = createDb(config.db, { timeoutMs: config.dbTimeoutMs });
  const { error } = await migrateToLatest(db);
  if (error) throw error;
  const logger = opts.logs ? pino({ level: "info" }, logCollector(opts.logs)) : pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const app = await buildApp({ config, db, logger });
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
