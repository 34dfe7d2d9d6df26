// A Docker engine for the e2e suite: the one DOCKER_HOST points at when it answers, otherwise a private
// dockerd (root only) kept in a stable directory so images built by one run serve the next.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, promises as fs } from "node:fs";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { alive, withLock } from "./lock";
import { run, RunOptions, RunResult, sleep, waitFor } from "./proc";

export interface EngineOptions {
    /** Home of the private daemon (data root, exec root, socket, pid file, log). Default: $BERTH_E2E_ENGINE_DIR or /var/tmp/berth-e2e-engine. */
    dir?: string;
    /** Extra dockerd arguments, e.g. a `--tlsverify ... -H tcp://127.0.0.1:PORT` listener. Implies the private daemon. */
    extraArgs?: string[];
    /** Upper bound for the private daemon to answer. Default 90 s. */
    startTimeoutMs?: number;
}

export interface Engine {
    /** DOCKER_HOST value that reaches the engine. */
    host: string;
    /** Environment for child processes (docker CLI, Pulumi) aimed at this engine. */
    env: NodeJS.ProcessEnv;
    /** "external": DOCKER_HOST's engine, never stopped by us; "private": the harness's dockerd. */
    kind: "external" | "private";
    docker(args: string[], opts?: Omit<RunOptions, "env">): Promise<RunResult>;
    /** Releases this process's use; stops the private daemon when no other live process still uses it. */
    stop(): Promise<void>;
}

export function defaultEngineDir(): string {
    return process.env.BERTH_E2E_ENGINE_DIR || "/var/tmp/berth-e2e-engine";
}

export async function acquireEngine(opts: EngineOptions = {}): Promise<Engine> {
    let externalWhy = "skipped: extraArgs need the private daemon";
    if (!opts.extraArgs?.length) {
        const probe = await run("docker", ["version", "--format", "{{.Server.Version}}"], { timeoutMs: 15_000 }).catch((e: Error) => ({
            code: 127,
            stdout: "",
            stderr: e.message,
            timedOut: false,
        }));
        if (probe.code === 0) return externalEngine();
        externalWhy = probe.stderr.trim().split("\n").pop() ?? `exit ${probe.code}`;
    }
    try {
        return await privateEngine(opts.dir ?? defaultEngineDir(), opts.extraArgs ?? [], opts.startTimeoutMs ?? 90_000);
    } catch (e) {
        throw new Error(
            `no Docker engine. DOCKER_HOST=${process.env.DOCKER_HOST ?? "(unset)"}: ${externalWhy}. ` +
                `Private dockerd: ${(e as Error).message}`,
            { cause: e },
        );
    }
}

/** For tests: the engine, or a skip with the reason. In CI (CI=true) a missing engine fails instead. */
export async function acquireEngineOrSkip(t: TestContext, opts?: EngineOptions): Promise<Engine | undefined> {
    try {
        return await acquireEngine(opts);
    } catch (e) {
        if (process.env.CI === "true") throw e;
        t.skip((e as Error).message);
        return undefined;
    }
}

async function externalEngine(): Promise<Engine> {
    let host = process.env.DOCKER_HOST;
    if (!host) {
        // Without DOCKER_HOST the CLI follows its current context; children get the same endpoint explicitly.
        const ctx = await run("docker", ["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], { timeoutMs: 15_000 });
        host = (ctx.code === 0 && ctx.stdout.trim()) || "unix:///var/run/docker.sock";
    }
    const env = { ...process.env, DOCKER_HOST: host };
    return { host, env, kind: "external", docker: (args, o) => run("docker", args, { ...o, env }), stop: async () => undefined };
}

async function privateEngine(dir: string, extraArgs: string[], startTimeoutMs: number): Promise<Engine> {
    if (process.getuid?.() !== 0) throw new Error("starting one needs root");
    dir = path.resolve(dir);
    await fs.mkdir(path.join(dir, "leases"), { recursive: true });
    const host = `unix://${path.join(dir, "docker.sock")}`;
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host };
    // Settings meant for another engine would redirect or break the CLI's connection to this socket.
    delete env.DOCKER_CONTEXT;
    delete env.DOCKER_TLS_VERIFY;
    delete env.DOCKER_CERT_PATH;
    const docker = (args: string[], o?: Omit<RunOptions, "env">) => run("docker", args, { ...o, env });
    const answers = async () => (await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 })).code === 0;
    const wanted = JSON.stringify(extraArgs);
    const argsFile = path.join(dir, "args.json");

    const lease = await withLock(path.join(dir, "lock"), startTimeoutMs + 90_000, async () => {
        const pid = await ourDaemonPid(dir);
        const current = await fs.readFile(argsFile, "utf8").catch(() => "");
        if (pid && current === wanted && (await answers())) return addLease(dir);
        if (pid) {
            const users = await liveLeases(dir);
            if (users.length) {
                const why = current === wanted ? "does not answer" : `runs with other arguments (${current})`;
                throw new Error(`the dockerd in ${dir} ${why} and is in use by pid ${users.join(", ")}; pass another dir`);
            }
            await terminate(pid);
        }
        await startDaemon(dir, host, extraArgs, startTimeoutMs, answers);
        await fs.writeFile(argsFile, wanted);
        return addLease(dir);
    });

    let stopped = false;
    const stop = async () => {
        if (stopped) return;
        stopped = true;
        await fs.rm(lease, { force: true });
        await withLock(path.join(dir, "lock"), 120_000, async () => {
            if ((await liveLeases(dir)).length) return;
            const pid = await ourDaemonPid(dir);
            if (pid) await terminate(pid);
        });
    };
    return { host, env, kind: "private", docker, stop };
}

async function startDaemon(dir: string, host: string, extraArgs: string[], timeoutMs: number, answers: () => Promise<boolean>) {
    // A pid file left by a killed run would make dockerd refuse to start if its pid now belongs to
    // another process; ourDaemonPid already said it is not our dockerd. The stale socket dockerd replaces itself.
    await fs.rm(path.join(dir, "pid"), { force: true });
    const args = [
        "--data-root",
        path.join(dir, "data"),
        "--exec-root",
        path.join(dir, "exec"),
        "--pidfile",
        path.join(dir, "pid"),
        "-H",
        host,
        ...bridgeArgs(),
        ...extraArgs,
    ];
    const logPath = path.join(dir, "dockerd.log");
    const log = openSync(logPath, "w");
    let exited: string | undefined;
    // Detached: its own process group, so a Ctrl-C of the test runner does not kill it mid-write;
    // the next run finds it through the pid file and reuses or stops it.
    const child = spawn("dockerd", args, { detached: true, stdio: ["ignore", log, log] });
    closeSync(log);
    child.on("error", (e) => (exited = e.message));
    child.on("exit", (code, signal) => (exited = `exited ${code ?? signal}`));
    child.unref();
    try {
        const ok = await waitFor(`dockerd in ${dir} to answer`, timeoutMs, async () => (exited ? false : (await answers()) || undefined));
        if (!ok) throw new Error(`dockerd ${exited}`);
    } catch (e) {
        if (!exited && child.pid) await terminate(child.pid);
        const tail = (await fs.readFile(logPath, "utf8").catch(() => "")).trim().split("\n").slice(-15).join("\n");
        throw new Error(`${(e as Error).message}; ${logPath}:\n${tail}`, { cause: e });
    }
}

/**
 * No default docker0 bridge when no other daemon has one: the suite only uses user-defined networks
 * (they work without it), and two daemons sharing docker0 hand out the same addresses on it. But
 * dockerd --bridge=none deletes an existing docker0, so beside a daemon that owns one we share it.
 */
function bridgeArgs(): string[] {
    return existsSync("/sys/class/net/docker0") ? [] : ["--bridge=none"];
}

/** The pid in DIR/pid, if that process is a dockerd started with that very pid file: only those are ours to stop. */
async function ourDaemonPid(dir: string): Promise<number | undefined> {
    const pidfile = path.join(dir, "pid");
    const pid = Number((await fs.readFile(pidfile, "utf8").catch(() => "")).trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return (await isOurDockerd(pid, pidfile)) ? pid : undefined;
}

async function isOurDockerd(pid: number, pidfile: string): Promise<boolean> {
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (path.basename(argv[0] ?? "") !== "dockerd") return false;
    return argv.some((a, i) => a === `--pidfile=${pidfile}` || (a === "--pidfile" && argv[i + 1] === pidfile));
}

async function terminate(pid: number): Promise<void> {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const gone = async () => (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")) !== cmdline || !cmdline;
    signal(pid, "SIGTERM");
    // dockerd stops its containers first (10 s grace each by default, in parallel), then itself.
    for (let i = 0; i < 600 && !(await gone()); i++) await sleep(100);
    if (!(await gone())) {
        signal(pid, "SIGKILL");
        for (let i = 0; i < 100 && !(await gone()); i++) await sleep(100);
    }
}

function signal(pid: number, sig: NodeJS.Signals) {
    try {
        process.kill(pid, sig);
    } catch {
        // already gone
    }
}

let leaseCount = 0;
async function addLease(dir: string): Promise<string> {
    const file = path.join(dir, "leases", `${process.pid}.${++leaseCount}`);
    await fs.writeFile(file, "");
    return file;
}

/** Pids of live processes holding a lease; leases of dead processes (a killed run) are removed. */
async function liveLeases(dir: string): Promise<number[]> {
    const pids: number[] = [];
    for (const name of await fs.readdir(path.join(dir, "leases")).catch(() => [] as string[])) {
        const pid = Number(name.split(".")[0]);
        if (alive(pid)) pids.push(pid);
        else await fs.rm(path.join(dir, "leases", name), { force: true });
    }
    return pids;
}
