// Images for the e2e suite: the real image when the engine has it or can pull it, otherwise a local
// stand-in built from test/e2e/standins/<kind>/ on a debootstrapped Debian base (no registry needed):
// bookworm for mysql and node, sid with its nginx (1.30) for nginx, sid with its pebble and lego for those.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildBaseImage } from "./debian";
import { BOOKWORM, SID_NGINX, type DebianRecipe } from "./debian-root";
import type { Engine } from "./engine";
import { withLock } from "./lock";
import { describeFailure, run } from "./proc";

export type StandinKind = "mysql" | "nginx" | "node" | "pebble" | "lego";

/**
 * Debian sid with Let's Encrypt's ACME test server (`pebble` 2.10, which also ships `pebble-challtestsrv`)
 * and the ACME client `lego` (4.35, as the product's goacme/lego:v4 image), both installed by debootstrap
 * so the image builds need no mirror. Both stand-ins share this one tree. Declared here rather than in
 * debian-root.ts: that file's text is part of every tree's key, so editing it would rebuild all trees.
 */
export const SID_ACME: DebianRecipe = Object.freeze({
    name: "sid-acme",
    suite: "sid",
    include: Object.freeze(["pebble", "lego", "ca-certificates"]),
});

/** Each stand-in's Debian base. nginx needs >= 1.27.3 (upstream `server NAME resolve`), which only sid has. */
export const STANDIN_BASES: Readonly<Record<StandinKind, DebianRecipe>> = Object.freeze({
    mysql: BOOKWORM,
    nginx: SID_NGINX,
    node: BOOKWORM,
    pebble: SID_ACME,
    lego: SID_ACME,
});

export const STANDINS_DIR = path.resolve(__dirname, "../standins");
const HASH_LABEL = "berth.standin.hash";

/** Host files copied into the node stand-in: this machine's Node 20 and its npm. */
const NODE_BINARY = "/usr/bin/node";
const NPM_DIR = "/usr/lib/node_modules/npm";
/**
 * Certificate authorities this machine added to its trust store (Debian's place for them). A build's
 * `npm ci` goes out through the same network as the host's npm, so it must trust the same CAs.
 */
const LOCAL_CA_DIR = "/usr/local/share/ca-certificates";

export interface EnsureImageOptions {
    /** Bound for `docker pull`. Default: $BERTH_E2E_PULL_TIMEOUT_MS or 60 s. */
    pullTimeoutMs?: number;
}

/**
 * The image to run for `realName`: realName itself if present or pullable, else the stand-in of `kind`
 * (built once, reused while its build files are unchanged). BERTH_E2E_STANDINS=always skips the real image.
 */
export async function ensureImage(engine: Engine, realName: string, kind: StandinKind, opts: EnsureImageOptions = {}): Promise<string> {
    if (process.env.BERTH_E2E_STANDINS !== "always") {
        if (await hasImage(engine, realName)) return realName;
        if (await pullOnce(engine, realName, opts.pullTimeoutMs ?? (Number(process.env.BERTH_E2E_PULL_TIMEOUT_MS) || 60_000))) {
            return realName;
        }
    }
    return standinImage(engine, kind);
}

/**
 * The stand-in of `kind` only, for images that are test fixtures and never the product's (pebble): the
 * harness then depends on one known layout.
 */
export function standinImage(engine: Engine, kind: StandinKind): Promise<string> {
    // Across processes too (test files run in parallel): one builds, the others then find its tag.
    const lock = path.join(os.tmpdir(), `berth-standin-${createHash("sha256").update(engine.host).digest("hex").slice(0, 12)}.lock`);
    return memo(builds, `${engine.host} ${kind}`, () => withLock(lock, 45 * 60_000, () => buildStandin(engine, kind)));
}

const pulls = new Map<string, Promise<boolean>>();
const builds = new Map<string, Promise<string>>();

function memo<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
    let p = cache.get(key);
    if (!p) {
        p = make();
        // A failure is not cached: the next caller tries again.
        p.catch(() => cache.delete(key));
        cache.set(key, p);
    }
    return p;
}

async function hasImage(engine: Engine, name: string): Promise<boolean> {
    return (await engine.docker(["image", "inspect", "--format", "{{.Id}}", name], { timeoutMs: 30_000 })).code === 0;
}

/** One pull attempt per image and engine per process: without a registry it fails the same way each time. */
function pullOnce(engine: Engine, name: string, timeoutMs: number): Promise<boolean> {
    return memo(pulls, `${engine.host} ${name}`, async () => (await engine.docker(["pull", name], { timeoutMs })).code === 0);
}

async function buildStandin(engine: Engine, kind: StandinKind): Promise<string> {
    const base = await buildBaseImage(engine, STANDIN_BASES[kind]);
    const kindDir = path.join(STANDINS_DIR, kind);
    const hash = createHash("sha256");
    hash.update(`base ${base.id}\n`);
    for (const file of (await fs.readdir(kindDir)).sort()) {
        hash.update(`file ${file}\n`)
            .update(await fs.readFile(path.join(kindDir, file)))
            .update("\n");
    }
    if (kind === "node") {
        hash.update(`payload ${await nodePayloadVersion()}\n`);
        for (const ca of await localCaFiles()) hash.update(`ca ${ca}\n`).update(await fs.readFile(path.join(LOCAL_CA_DIR, ca)));
    }
    const key = hash.digest("hex").slice(0, 12);
    const tag = `berth-standin/${kind}:${key}`;
    if (await hasImage(engine, tag)) return tag;

    const ctx = await fs.mkdtemp(path.join(os.tmpdir(), `berth-standin-${kind}-`));
    try {
        await fs.cp(kindDir, ctx, { recursive: true });
        if (kind === "node") {
            await fs.copyFile(NODE_BINARY, path.join(ctx, "node"));
            await fs.cp(NPM_DIR, path.join(ctx, "npm"), { recursive: true, verbatimSymlinks: true });
            await fs.mkdir(path.join(ctx, "local-ca"));
            for (const ca of await localCaFiles()) await fs.copyFile(path.join(LOCAL_CA_DIR, ca), path.join(ctx, "local-ca", ca));
        }
        // --network host: the build's apt-get reaches the Debian mirror the way the host does.
        const args = ["build", "--network", "host", "--build-arg", `BASE=${base.tag}`, "--label", `${HASH_LABEL}=${key}`, "-t", tag, ctx];
        const r = await engine.docker(args, { timeoutMs: 15 * 60_000 });
        if (r.code !== 0) throw new Error(`building the ${kind} stand-in: ${describeFailure("docker", args, r)}`);
    } finally {
        await fs.rm(ctx, { recursive: true, force: true });
    }
    await removeOlderTags(engine, kind, tag);
    return tag;
}

async function nodePayloadVersion(): Promise<string> {
    const node = (await run(NODE_BINARY, ["--version"], { check: true })).stdout.trim();
    const npm = JSON.parse(await fs.readFile(path.join(NPM_DIR, "package.json"), "utf8")) as { version: string };
    return `node ${node} npm ${npm.version}`;
}

/** update-ca-certificates only reads *.crt files. */
async function localCaFiles(): Promise<string[]> {
    return (await fs.readdir(LOCAL_CA_DIR).catch(() => [] as string[])).filter((f) => f.endsWith(".crt")).sort();
}

/** Stand-ins superseded by a change of their build files only take disk space. */
async function removeOlderTags(engine: Engine, kind: StandinKind, keep: string): Promise<void> {
    const ls = await engine.docker(["image", "ls", `berth-standin/${kind}`, "--format", "{{.Repository}}:{{.Tag}}"]);
    const old = ls.stdout.split("\n").filter((t) => t && t !== keep);
    // A tag still used by a container is kept by the engine; that is fine.
    if (old.length) await engine.docker(["image", "rm", ...old]);
}
