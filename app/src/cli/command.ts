import { setTimeout as sleep } from "node:timers/promises";
import { createConnection } from "mysql2/promise";
import type { Logger } from "pino";
import { ConfigError, parseDbConfig, type DbConfig } from "../config.js";
import { connectionOptions } from "../db.js";
import { createLogger } from "../log.js";

// Errors that mean "the server is not there yet", worth waiting for. ENOTFOUND is one:
// a container's name resolves only once it runs. A wrong password fails at once.
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
  "ER_SERVER_SHUTDOWN",
  "ER_CON_COUNT_ERROR",
]);

function errorCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

/** Waits until the server accepts a connection (without selecting a database), up to `waitMs`. */
async function waitForServer(cfg: DbConfig, waitMs: number, log: Logger): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const conn = await createConnection(connectionOptions(cfg, false));
      await conn.end();
      return;
    } catch (err) {
      const code = errorCode(err);
      if (!code || !TRANSIENT.has(code) || Date.now() >= deadline) throw err;
      log.info({ attempt, code }, "database not reachable yet, retrying");
      await sleep(1_000);
    }
  }
}

function describe(err: unknown): Record<string, unknown> {
  // Message and code only: a driver error can carry the SQL text, never credentials,
  // but there is no reason to print a stack for an operational failure.
  if (err instanceof Error) return { error: { message: err.message, code: errorCode(err) } };
  return { error: { message: String(err) } };
}

/**
 * Runs a one-shot database command: config from the environment, a bounded wait for
 * the server (DB_WAIT_TIMEOUT_MS, default 30 s), then `task`. Exits 0 on success,
 * 1 on failure, 2 on bad configuration, each with a JSON log line saying why.
 */
export async function runCommand(name: string, task: (cfg: DbConfig, log: Logger) => Promise<void>): Promise<never> {
  const log = createLogger("info", process.env.APP_VERSION || "dev").child({ command: name });
  let cfg: DbConfig;
  try {
    cfg = parseDbConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.fatal({ problems: err.problems }, `${name}: ${err.message}`);
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
  }
  const waitRaw = process.env.DB_WAIT_TIMEOUT_MS;
  const waitMs = waitRaw && /^[0-9]+$/.test(waitRaw) ? Number(waitRaw) : 30_000;
  try {
    await waitForServer(cfg, waitMs, log);
    await task(cfg, log);
    process.exit(0);
  } catch (err) {
    log.error(describe(err), `${name} failed`);
    process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
