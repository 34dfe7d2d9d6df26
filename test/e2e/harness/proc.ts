// Child processes for the e2e harness: bounded in time, output captured, optional stdin.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

export interface RunResult {
    stdout: string;
    stderr: string;
    /** Exit code; 124 (as timeout(1) does) when the time limit ended the process. */
    code: number;
    timedOut: boolean;
}

export interface RunOptions {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Written to the child's stdin (a stream is piped); stdin is closed otherwise. */
    input?: string | Buffer | Readable;
    /** Hard limit; the child is killed with SIGKILL past it. Default 120 s. */
    timeoutMs?: number;
    /** Reject when the exit code is not 0, with the command and the end of its stderr. */
    check?: boolean;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: "pipe" });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        // A child that exits before reading all of its input must not crash the harness with EPIPE.
        child.stdin.on("error", () => undefined);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new Error(`${cmd}: ${e.message}`));
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const result: RunResult = {
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: Buffer.concat(err).toString("utf8"),
                code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
                timedOut,
            };
            if (opts.check && result.code !== 0) {
                reject(new Error(describeFailure(cmd, args, result, timeoutMs)));
            } else {
                resolve(result);
            }
        });
        const input = opts.input;
        if (input === undefined) child.stdin.end();
        else if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
        else input.pipe(child.stdin);
    });
}

export function describeFailure(cmd: string, args: readonly string[], r: RunResult, timeoutMs?: number): string {
    const what = r.timedOut ? `timed out after ${timeoutMs ?? "?"} ms` : `exited ${r.code}`;
    const tail = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(-25).join("\n");
    return `${cmd} ${args.join(" ")} ${what}${tail ? `:\n${tail}` : ""}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 500): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await probe();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            const why = last instanceof Error ? `: ${last.message}` : "";
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
        }
        await sleep(everyMs);
    }
}
