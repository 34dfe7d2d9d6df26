import { buildApp } from "./app.js";
import { ConfigError, parseConfig, type AppConfig } from "./config.js";
import { createDb } from "./db.js";
import { createLogger } from "./log.js";

// `npm start` and the image's CMD. Run it as `node dist/server.js`, not through npm,
// so SIGTERM from `docker stop` reaches this process directly.

let config: AppConfig;
try {
  config = parseConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger("info", process.env.APP_VERSION || "dev").fatal({ problems: err.problems }, `cannot start: ${err.message}`);
  process.stderr.write(`cannot start: ${err.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.logLevel, config.version);
if (config.secretKeyBase.length < 32) {
  logger.warn("SECRET_KEY_BASE is shorter than 32 characters; use a long random value");
}

const db = createDb(config.db, { timeoutMs: config.dbTimeoutMs });
const app = await buildApp({ config, db, logger });

let stopping = false;

/**
 * Drain: stop listening, close idle keep-alive connections, let in-flight requests
 * finish (their responses carry Connection: close), then close the pool and exit 0.
 * SHUTDOWN_TIMEOUT_MS is a hard deadline below Docker's stop grace period, so a
 * stuck request cannot turn a clean stop into a SIGKILL.
 */
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    logger.info({ signal }, "already shutting down");
    return;
  }
  stopping = true;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, "shutdown started: not accepting new connections");
  const deadline = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown deadline passed with requests still open; exiting");
    process.exit(1);
  }, config.shutdownTimeoutMs);
  deadline.unref();
  // server.close() reaps the connections idle at that moment only; one whose response
  // was already on the wire when the drain began goes idle later. Reap those too.
  setInterval(() => app.server.closeIdleConnections(), 200).unref();
  try {
    await app.close();
    await db.destroy();
    logger.info("shutdown complete");
    process.exit(0);
  } catch (err) {
    logger.error({ err }, "shutdown failed");
    process.exit(1);
  }
}

process.on("SIGTERM", (s) => void shutdown(s));
process.on("SIGINT", (s) => void shutdown(s));
process.on("uncaughtException", (err) => {
  logger.fatal({ err }, "uncaught exception");
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  logger.fatal({ err }, "unhandled rejection");
  process.exit(1);
});

try {
  await app.listen({ port: config.port, host: config.host });
  logger.info({ port: config.port, host: config.host, node: process.version }, "ready");
} catch (err) {
  logger.fatal({ err }, "cannot listen");
  process.exit(1);
}
