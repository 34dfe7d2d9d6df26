/**
 * A private dockerd for one test: its own data root, exec root, unix socket and pid file under a temp
 * directory; no default bridge and no iptables rules, so it cannot clash with another daemon on the
 * machine. Started and stopped by its own pid only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { run as runProcess, type RunResult } from "../../e2e/harness/proc";
import * as fs from "node:fs";
import * as path from "node:path";

export type { RunResult } from "../../e2e/harness/proc";
export { freePort } from "../../e2e/harness/tls";

/** The harness's runner with a hard time limit (SIGKILL past it); never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunResult> {
    return runProcess(cmd, args, { env, timeoutMs });
}

export function onPath(cmd: string): boolean {
    return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/**
 * Environment for a docker CLI that sees nothing of this machine's Docker settings: no DOCKER_HOST,
 * context, TLS variables or ~/.docker config.
 */
export function isolatedClientEnv(configDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    fs.mkdirSync(configDir, { recursive: true });
    return { PATH: process.env.PATH, HOME: configDir, DOCKER_CONFIG: configDir, ...extra };
}

export interface PrivateDockerd {
    pid: number;
    /** unix://… socket of this daemon (no TLS: the test's own control channel). */
    unixHost: string;
    logPath: string;
    log(): string;
    /** SIGTERM, wait for exit, SIGKILL past the bound; then the containerd it started, if still alive. */
    stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

function cmdline(pid: number): string {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
        return "";
    }
}

async function exited(child: ChildProcess, ms: number): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        child.once("exit", () => {
            clearTimeout(timer);
            resolve(true);
        });
    });
}

/**
 * Starts `dockerd <flags> -H <tcp> -H unix://DIR/docker.sock` with everything else under `dir`, and
 * waits (bounded) until the unix socket answers. On failure the daemon is stopped and the error
 * carries the end of its log.
 */
export async function startDockerd(
    dir: string,
    flags: readonly string[],
    tcpHost: string,
    startTimeoutMs = 90_000,
): Promise<PrivateDockerd> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const sock = path.join(dir, "docker.sock");
    const unixHost = `unix://${sock}`;
    const logPath = path.join(dir, "dockerd.log");
    const args = [
        ...flags,
        "-H",
        tcpHost,
        "-H",
        unixHost,
        "--data-root",
        path.join(dir, "data"),
        "--exec-root",
        path.join(dir, "exec"),
        "--pidfile",
        path.join(dir, "dockerd.pid"),
        // Nothing shared with another daemon on this machine: no docker0, no iptables chains.
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
    ];
    const logFd = fs.openSync(logPath, "w");
    // Only PATH (to find containerd and runc): a DOCKER_TLS_VERIFY in this environment would turn on
    // client verification by itself and hide a drop-in that forgot --tlsverify.
    const child = spawn("dockerd", args, { env: { PATH: process.env.PATH }, stdio: ["ignore", logFd, logFd] });
    fs.closeSync(logFd);
    let spawnError: Error | undefined;
    child.on("error", (e) => (spawnError = e));
    const log = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : "");
    const containerdPidFile = path.join(dir, "exec", "containerd", "containerd.pid");

    const stop = async () => {
        let containerdPid: number | undefined;
        try {
            containerdPid = Number(fs.readFileSync(containerdPidFile, "utf8").trim()) || undefined;
        } catch {
            containerdPid = undefined;
        }
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            if (!(await exited(child, 30_000))) {
                child.kill("SIGKILL");
                await exited(child, 10_000);
            }
        }
        // dockerd stops the containerd it started; only if that did not happen, stop that one pid,
        // after checking it is still the containerd of this directory.
        if (containerdPid && alive(containerdPid) && cmdline(containerdPid).includes(dir)) {
            process.kill(containerdPid, "SIGTERM");
            for (let i = 0; i < 100 && alive(containerdPid); i++) await sleep(100);
            if (alive(containerdPid)) process.kill(containerdPid, "SIGKILL");
        }
    };

    const env = isolatedClientEnv(path.join(dir, "control-client"));
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
        if (spawnError || child.exitCode !== null || child.signalCode !== null) {
            const why = spawnError?.message ?? `exited ${child.exitCode ?? child.signalCode}`;
            await stop();
            throw new Error(`dockerd ${why} before answering; ${logPath}:\n${tail(log())}`);
        }
        if (fs.existsSync(sock)) {
            const r = await run("docker", ["-H", unixHost, "version", "--format", "{{.Server.Version}}"], env, 10_000);
            if (r.code === 0) break;
        }
        if (Date.now() > deadline) {
            await stop();
            throw new Error(`dockerd did not answer on ${unixHost} within ${startTimeoutMs} ms; ${logPath}:\n${tail(log())}`);
        }
        await sleep(250);
    }
    return { pid: child.pid!, unixHost, logPath, log, stop };
}

function tail(text: string, lines = 20): string {
    return text.trim().split("\n").slice(-lines).join("\n");
}
