import { pino, type Logger } from "pino";

/**
 * One JSON line per event on stdout. Redaction is a second fence: nothing logs
 * credentials on purpose, but a logged request's cookie or authorization header
 * (or a config object) must never leak them.
 */
export function createLogger(level: string, version: string): Logger {
  return pino(
    {
      level,
      base: { app: "berth-sample-app", version },
      timestamp: pino.stdTimeFunctions.isoTime,
      // "level":"info" rather than 30: readable in `docker logs` without a pino pretty-printer.
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          "password",
          "*.password",
          "secretKeyBase",
          "*.secretKeyBase",
          "req.headers.cookie",
          "req.headers.authorization",
          'res.headers["set-cookie"]',
        ],
        censor: "[redacted]",
      },
    },
    // Synchronous writes: lines stay in order and none is lost when the process exits right
    // after logging (pino's asynchronous default let "shutdown complete" overtake "started").
    pino.destination({ dest: 1, sync: true }),
  );
}
