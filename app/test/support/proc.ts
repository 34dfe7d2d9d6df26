import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A clean environment: only what a child needs, so the caller's MYSQL_* never leak in. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env };
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run <script>` in app/ as the deploy would, e.g. `npm run db:migrate`. */
export function runScript(script: string, env: Record<string, string>): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawn("npm", ["run", "--silent", script], { cwd: APP_DIR, env: childEnv(env) });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    proc.once("error", reject);
    proc.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the first JSON log line whose msg starts with `msg`. */
  waitForLog(msg: string): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the compiled server (`node dist/server.js`, the image's CMD) as a child process. */
export function spawnServer(env: Record<string, string>): ServerProcess {
  const proc = spawn(process.execPath, ["dist/server.js"], { cwd: APP_DIR, env: childEnv(env) });
  let out = "";
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  const lines: Record<string, unknown>[] = [];
  let partial = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        continue;
      }
      const line = lines[lines.length - 1] as Record<string, unknown>;
      for (const w of [...waiters]) {
        if (String(line.msg).startsWith(w.msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    output: () => out,
    exited,
    waitForLog: (msg) => {
      const found = lines.find((l) => String(l.msg).startsWith(msg));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ msg, resolve });
        void exited.then(() => reject(new Error(`server exited before logging "${msg}":\n${out}`)));
      });
    },
  };
}
