/**
 * A throwaway MariaDB server from Debian's package, for tests and the benchmark:
 * its own datadir, socket and loopback port in a temp dir, stopped and removed
 * afterwards. Stop/start keep the data and the port, to drill a database restart.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createConnection } from "mysql2/promise";

export interface MariaDb {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Environment for the app's database variables, aimed at `database`. */
  env(database: string): Record<string, string>;
  /** Runs SQL as root over the unix socket (works whatever the app user may do). */
  rootQuery(sql: string, params?: unknown[]): Promise<unknown[]>;
  /**
   * Runs `fn` with the server frozen (SIGSTOP), as a stalled database host; SIGCONT follows
   * whatever `fn` does, and on process exit too.
   */
  frozen<T>(fn: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

function findBinary(name: string): string {
  for (const dir of ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found: install Debian's mariadb-server (apt-get install mariadb-server)`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const isRoot = process.getuid?.() === 0;

export async function startMariaDb(): Promise<MariaDb> {
  const dir = await mkdtemp(join(tmpdir(), "berth-mariadb-"));
  const datadir = join(dir, "data");
  const socket = join(dir, "mysqld.sock");
  const install = spawnSync(
    findBinary("mariadb-install-db"),
    [
      "--no-defaults",
      `--datadir=${datadir}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      ...(isRoot ? ["--user=root"] : []),
    ],
    { encoding: "utf8" },
  );
  if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}${install.stdout}`);
  const port = await freePort();
  const password = "berth-test-password";
  let child: ChildProcess | undefined;
  // If the test process dies, do not leave a server behind.
  const killOnExit = () => child?.kill("SIGKILL");
  process.on("exit", killOnExit);

  const rootConn = () => createConnection({ socketPath: socket, user: "root", password: "" });

  async function start(): Promise<void> {
    const proc = spawn(
      findBinary("mariadbd"),
      [
        "--no-defaults",
        `--datadir=${datadir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--pid-file=${join(dir, "mysqld.pid")}`,
        `--log-error=${join(dir, "error.log")}`,
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=64M",
        "--max-connections=200",
        ...(isRoot ? ["--user=root"] : []),
      ],
      { stdio: "ignore" },
    );
    child = proc;
    let exited = false;
    proc.once("exit", () => (exited = true));
    for (let i = 0; i < 300; i++) {
      if (exited) break;
      try {
        const c = await rootConn();
        await c.end();
        return;
      } catch {
        await sleep(100);
      }
    }
    const log = await readFile(join(dir, "error.log"), "utf8").catch(() => "");
    throw new Error(`mariadbd did not become ready:\n${log.slice(-2000)}`);
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    await done;
    clearTimeout(killer);
    child = undefined;
  }

  await start();
  const c = await rootConn();
  // The app connects over TCP as an ordinary user with a password, as it does in production.
  await c.query("CREATE USER IF NOT EXISTS 'berth'@'%' IDENTIFIED BY ?", [password]);
  await c.query("GRANT ALL PRIVILEGES ON *.* TO 'berth'@'%'");
  await c.end();

  return {
    host: "127.0.0.1",
    port,
    user: "berth",
    password,
    env: (database) => ({
      MYSQL_HOST: "127.0.0.1",
      MYSQL_PORT: String(port),
      MYSQL_USER: "berth",
      MYSQL_PASSWORD: password,
      MYSQL_DATABASE: database,
    }),
    rootQuery: async (sql, params = []) => {
      const conn = await rootConn();
      try {
        const [rows] = await conn.query(sql, params);
        return Array.isArray(rows) ? rows : [rows];
      } finally {
        await conn.end();
      }
    },
    frozen: async (fn) => {
      const proc = child;
      if (proc?.pid === undefined) throw new Error("mariadbd is not running");
      const pid = proc.pid;
      const thaw = () => {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // already gone
        }
      };
      process.on("exit", thaw);
      try {
        process.kill(pid, "SIGSTOP");
        return await fn();
      } finally {
        thaw();
        process.off("exit", thaw);
      }
    },
    stop,
    start,
    destroy: async () => {
      await stop();
      process.off("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
