// The nginx the unit tests run. The design uses upstream `server NAME resolve` (nginx >= 1.27.3), which
// the host's bookworm nginx (1.22) does not have, so the tests run Debian sid's nginx (1.30) out of the
// debootstrapped tree the e2e nginx stand-in is imported from (test/e2e/harness/debian-root.ts
// SID_NGINX): one debootstrap, built once under a lock, shared by both suites and kept across runs.
//
// It runs on the host through sid's own dynamic loader and libraries:
//   TREE/usr/lib/<multiarch>/ld-linux-*.so.N --library-path TREE/usr/lib/<multiarch> TREE/usr/sbin/nginx ARGS
// That is the same binary and the same libraries as in the stand-in image, in the host's filesystem and
// network namespace: every path a test passes (-p, -c, -e, temp paths, includes) is a host path as
// before, loopback addresses and the tests' DNS server are reached directly, signals reach nginx itself
// (the loader runs it in its own process), and nothing needs root once the tree exists. A chroot would
// need root on every run and every path moved into the tree; the engine would make the unit suite start
// and wait for a dockerd. The compiled-in defaults (/etc/nginx, /var/lib/nginx) still point at the host,
// so a test's config must name its own paths: mainConf() in harness.ts does.
//
// BERTH_TEST_NGINX=/path/to/nginx runs another binary instead (a developer's own nginx), under the same
// version floor.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { debianRoot, SID_NGINX } from "../../e2e/harness/debian-root";
import { run } from "../../e2e/harness/proc";

/** Upstream `server NAME resolve` with a shared-memory zone (ngx_http_upstream_module, "resolve" since 1.27.3). */
export const MIN_NGINX_VERSION = "1.27.3";

export interface NginxBinary {
    /** What to execute: the loader, or BERTH_TEST_NGINX itself. */
    readonly file: string;
    /** Arguments before nginx's own. */
    readonly prefixArgs: readonly string[];
    /** As `nginx -v` prints it, e.g. "1.30.6". */
    readonly version: string;
    /** For messages: where the binary comes from. */
    readonly origin: string;
    /** The environment to run it with (no LD_PRELOAD/LD_LIBRARY_PATH of the host's). */
    readonly env: NodeJS.ProcessEnv;
}

/** -1, 0 or 1 as dotted numeric version `a` is below, equal to or above `b`. */
export function compareVersions(a: string, b: string): number {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return Math.sign(d);
    }
    return 0;
}

let memo: Promise<NginxBinary> | undefined;

/**
 * The test nginx, checked to be >= MIN_NGINX_VERSION (a fall back to the host's 1.22 fails here, loudly).
 * The first call may debootstrap the sid tree (about 30 s, as root).
 */
export function nginxBinary(): Promise<NginxBinary> {
    if (!memo) {
        memo = locate();
        memo.catch(() => (memo = undefined));
    }
    return memo;
}

async function locate(): Promise<NginxBinary> {
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.LD_LIBRARY_PATH;
    let bin: Omit<NginxBinary, "version">;
    if (process.env.BERTH_TEST_NGINX) {
        bin = { file: process.env.BERTH_TEST_NGINX, prefixArgs: [], origin: `BERTH_TEST_NGINX=${process.env.BERTH_TEST_NGINX}`, env };
    } else {
        const { root } = await debianRoot(SID_NGINX);
        const libDirs = await multiarchLibDirs(root);
        const loader = await findLoader(libDirs);
        if (!loader) throw new Error(`no ld-linux loader in ${libDirs.join(", ") || `${root}'s ld.so.conf.d`}`);
        const nginx = path.join(root, "usr/sbin/nginx");
        bin = { file: loader, prefixArgs: ["--library-path", libDirs.join(":"), nginx], origin: `${nginx} (Debian sid tree)`, env };
    }
    const r = await run(bin.file, [...bin.prefixArgs, "-v"], { env: bin.env, timeoutMs: 30_000 });
    const version = /nginx version: nginx\/(\d+(?:\.\d+)+)/.exec(r.stderr)?.[1];
    if (r.code !== 0 || !version) throw new Error(`${bin.origin} -v exited ${r.code}: ${r.stderr.trim()}`);
    if (compareVersions(version, MIN_NGINX_VERSION) < 0) {
        throw new Error(`${bin.origin} is nginx ${version}; the tests need nginx >= ${MIN_NGINX_VERSION} (upstream server ... resolve)`);
    }
    return { ...bin, version };
}

/** The tree's library directories, as its ld.so.conf.d lists them (e.g. /usr/lib/x86_64-linux-gnu), under `root`. */
async function multiarchLibDirs(root: string): Promise<string[]> {
    const confDir = path.join(root, "etc/ld.so.conf.d");
    const dirs: string[] = [];
    for (const f of (await fs.readdir(confDir)).filter((n) => n.endsWith(".conf")).sort()) {
        for (const line of (await fs.readFile(path.join(confDir, f), "utf8")).split("\n")) {
            const d = line.trim();
            // Only directories inside the tree: a symlink out of it would bring the host's libraries back.
            if (d.startsWith("/") && (await fs.lstat(path.join(root, d)).catch(() => undefined))?.isDirectory())
                dirs.push(path.join(root, d));
        }
    }
    return dirs;
}

/** The tree's dynamic loader: a regular file named ld-linux*.so.N in one of its library directories. */
async function findLoader(libDirs: readonly string[]): Promise<string | undefined> {
    for (const dir of libDirs) {
        for (const name of (await fs.readdir(dir)).sort()) {
            if (/^ld-linux[\w.-]*\.so\.\d+$/.test(name) && (await fs.lstat(path.join(dir, name))).isFile()) return path.join(dir, name);
        }
    }
    return undefined;
}

/** Spawns the test nginx with `args`. */
export async function spawnNginx(args: readonly string[], stdio: StdioOptions): Promise<ChildProcess> {
    const bin = await nginxBinary();
    return spawn(bin.file, [...bin.prefixArgs, ...args], { env: bin.env, stdio });
}

/**
 * Runs the test nginx to completion (e.g. `-t`): exit status and stderr. stdout goes to /dev/null: a
 * config's `access_log /dev/stdout` cannot be opened when stdout is a socket, as Node's pipes are.
 */
export async function runNginx(args: readonly string[], timeoutMs = 30_000): Promise<{ status: number | null; stderr: string }> {
    const child = await spawnNginx(args, ["ignore", "ignore", "pipe"]);
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    return new Promise((resolve, reject) => {
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (status, signal) => {
            clearTimeout(timer);
            resolve({ status: signal ? null : status, stderr });
        });
    });
}
