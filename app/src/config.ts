/** Everything the app reads from its environment, parsed once, validated, frozen. */

export interface DbConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface AppConfig {
  readonly port: number;
  readonly host: string;
  readonly db: DbConfig;
  readonly secretKeyBase: string;
  readonly version: string;
  readonly shutdownTimeoutMs: number;
  readonly healthTimeoutMs: number;
  readonly logLevel: string;
  /** Largest request body in bytes: the same value as nginx's client_max_body_size. */
  readonly maxBodySize: number;
  /** Deadline of every query, and of every write transaction as a whole. */
  readonly dbTimeoutMs: number;
  /** Node's requestTimeout: the whole request (headers and body) must arrive within it. */
  readonly requestTimeoutMs: number;
  /** Idle time after which a keep-alive connection is closed. */
  readonly keepAliveTimeoutMs: number;
  /** Socket inactivity after which a connection is destroyed. */
  readonly connectionTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("; "));
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

// MYSQL_PASSWORD may be empty (a passwordless development server) but must be set,
// so that forgetting it fails here rather than as an access-denied error later.
const DB_REQUIRED = ["MYSQL_HOST", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"] as const;

const LOG_LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function missing(env: Env, names: readonly string[]): string[] {
  return names.filter((n) => {
    const v = env[n];
    return v === undefined || (n !== "MYSQL_PASSWORD" && v.trim() === "");
  });
}

function intVar(env: Env, name: string, def: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return def;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return def;
  }
  return Number(raw);
}

/** 1 GiB: a larger body would be held in memory whole. */
export const MAX_BODY_SIZE_LIMIT = 1_073_741_824;

function bytesVar(env: Env, name: string, def: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return def;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    problems.push(
      `${name} must be a whole number of bytes from 1 to ${max} (digits only, no unit such as "1m"), got ${JSON.stringify(raw)}`,
    );
    return def;
  }
  return Number(raw);
}

function missingMessage(names: readonly string[]): string {
  return `missing required environment variable${names.length > 1 ? "s" : ""}: ${names.join(", ")}`;
}

function dbFrom(env: Env, problems: string[]): DbConfig {
  const port = intVar(env, "MYSQL_PORT", 3306, 1, 65535, problems);
  return Object.freeze({
    host: env.MYSQL_HOST ?? "",
    port,
    user: env.MYSQL_USER ?? "",
    password: env.MYSQL_PASSWORD ?? "",
    database: env.MYSQL_DATABASE ?? "",
  });
}

/** The database settings alone: what db:create and db:migrate need. */
export function parseDbConfig(env: Env): DbConfig {
  const problems: string[] = [];
  const absent = missing(env, DB_REQUIRED);
  if (absent.length > 0) problems.push(missingMessage(absent));
  const db = dbFrom(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return db;
}

/** The whole server configuration. Every problem is reported at once, each naming its variable. */
export function parseConfig(env: Env): AppConfig {
  const problems: string[] = [];
  const absent = missing(env, [...DB_REQUIRED, "SECRET_KEY_BASE"]);
  if (absent.length > 0) problems.push(missingMessage(absent));
  const port = intVar(env, "PORT", 3000, 1, 65535, problems);
  const db = dbFrom(env, problems);
  const shutdownTimeoutMs = intVar(env, "SHUTDOWN_TIMEOUT_MS", 25_000, 100, 3_600_000, problems);
  const healthTimeoutMs = intVar(env, "HEALTH_TIMEOUT_MS", 2_000, 50, 60_000, problems);
  const logLevel = nonEmpty(env.LOG_LEVEL) ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(logLevel)}`);
  // nginx's default client_max_body_size is 1m (https://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size);
  // the deploy passes the value it gives nginx, in bytes, so both refuse the same bodies.
  const maxBodySize = bytesVar(env, "MAX_BODY_SIZE", 1_048_576, MAX_BODY_SIZE_LIMIT, problems);
  // Below nginx's proxy_read_timeout (60 s, https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_read_timeout):
  // a write the proxy gave up on has then already been rolled back and answered here.
  const dbTimeoutMs = intVar(env, "DB_TIMEOUT_MS", 10_000, 100, 55_000, problems);
  const requestTimeoutMs = intVar(env, "REQUEST_TIMEOUT_MS", 30_000, 100, 600_000, problems);
  // Above nginx's 60 s upstream keepalive_timeout (https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive_timeout),
  // so the proxy closes idle connections first and never sends a request into one this side is closing.
  const keepAliveTimeoutMs = intVar(env, "KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 600_000, problems);
  const connectionTimeoutMs = intVar(env, "CONNECTION_TIMEOUT_MS", 70_000, 100, 600_000, problems);
  if (connectionTimeoutMs <= keepAliveTimeoutMs) {
    problems.push(
      `CONNECTION_TIMEOUT_MS must be greater than KEEP_ALIVE_TIMEOUT_MS (${keepAliveTimeoutMs}), got ${connectionTimeoutMs}: an idle keep-alive connection would be cut before its timeout`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    port,
    host: nonEmpty(env.HOST) ?? "0.0.0.0",
    db,
    secretKeyBase: env.SECRET_KEY_BASE ?? "",
    version: nonEmpty(env.APP_VERSION) ?? "dev",
    shutdownTimeoutMs,
    healthTimeoutMs,
    logLevel,
    maxBodySize,
    dbTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs,
    connectionTimeoutMs,
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v;
}
