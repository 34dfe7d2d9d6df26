// Processes and load for the nginx tests: a main nginx.conf that includes the rendered file inside
// http {} with every path under a temp dir, nginx in the foreground, stand-in app backends, and a pool
// of keep-alive clients that records every request.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { serializeNginxConfig, type NginxNode } from "../../../infra/deploy/nginx";
import { spawnNginx } from "./binary";

const REPO = path.resolve(__dirname, "../../..");

/** The official image's nginx.conf reduced to what a test needs, all paths under `dir`. */
export function mainConf(dir: string, include: string): string {
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind): NginxNode => ({
        name: `${kind}_temp_path`,
        args: [path.join(dir, kind)],
    }));
    return serializeNginxConfig([
        // As root, workers would otherwise run as nobody and could not enter the 0700 temp dir.
        ...(process.getuid?.() === 0 ? [{ name: "user", args: ["root"] }] : []),
        { name: "worker_processes", args: ["1"] },
        { name: "pid", args: [path.join(dir, "nginx.pid")] },
        { name: "error_log", args: [path.join(dir, "error.log"), "info"] },
        { name: "events", block: [{ name: "worker_connections", args: ["1024"] }] },
        { name: "http", block: [...temp, { name: "include", args: [include] }] },
    ]);
}

/**
 * Runs `nginx -p dir -c dir/nginx.conf -g "daemon off;"` with the test nginx (binary.ts: sid's, >= 1.27.3);
 * its stdout (the access log) goes to dir/access.log.
 */
export async function startNginx(dir: string): Promise<ChildProcess> {
    const out = fs.openSync(path.join(dir, "access.log"), "a");
    const args = ["-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"];
    try {
        return await spawnNginx(args, ["ignore", out, "pipe"]);
    } finally {
        fs.closeSync(out);
    }
}

/** Starts test/support/nginx/backend.ts and resolves with its port once it listens. */
export function startBackend(name: string, host: string, port: number, delayMs: number) {
    const script = path.join(__dirname, "backend.ts");
    const child = spawn(process.execPath, ["--import", "tsx", script, name, host, String(port), String(delayMs)], {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    const ready = new Promise<number>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`${name}: not listening after 20s ${err}`)), 20_000);
        child.stdout?.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /listening (\d+)/.exec(out);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        child.once("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`${name}: exited ${code} before listening: ${err}`));
        });
    });
    return { child, ready };
}

/** Sends `signal`, resolves with the exit code, escalating to SIGKILL after `graceMs`. */
export function stop(child: ChildProcess, signal: NodeJS.Signals, graceMs = 10_000): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        child.once("exit", (code) => {
            clearTimeout(timer);
            resolve(code);
        });
        child.kill(signal);
    });
}

export interface Sample {
    readonly started: number;
    readonly ended: number;
    readonly status: number | null;
    readonly backend: string | null;
    readonly error: string | null;
}

/** `concurrency` clients sharing one keep-alive agent, each sending GETs back to back until stop(). */
export class Load {
    readonly samples: Sample[] = [];
    private stopping = false;
    private readonly agent: http.Agent;
    private readonly loops: Promise<void>[];

    constructor(
        private readonly url: string,
        concurrency: number,
    ) {
        this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
        this.loops = Array.from({ length: concurrency }, () => this.loop());
    }

    /** Polls `done` until it holds; throws after `timeoutMs` naming `what`. */
    async until(what: string, done: () => boolean, timeoutMs = 30_000): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        while (!done()) {
            if (Date.now() > deadline) throw new Error(`load: timed out waiting for ${what}`);
            await new Promise((r) => setTimeout(r, 20));
        }
    }

    async stop(): Promise<Sample[]> {
        this.stopping = true;
        await Promise.all(this.loops);
        this.agent.destroy();
        return this.samples;
    }

    private async loop(): Promise<void> {
        while (!this.stopping) {
            const started = performance.now();
            try {
                const { status, body } = await get(this.url, this.agent);
                const backend = status === 200 ? (JSON.parse(body) as { name: string }).name : null;
                this.samples.push({ started, ended: performance.now(), status, backend, error: null });
            } catch (e) {
                const error = e instanceof Error ? e.message : String(e);
                this.samples.push({ started, ended: performance.now(), status: null, backend: null, error });
            }
        }
    }
}

/** One GET; resolves with the status and body, rejects on any client-side error or 10 s of silence. */
export function get(url: string, agent?: http.Agent, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent, headers, timeout: 10_000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}
