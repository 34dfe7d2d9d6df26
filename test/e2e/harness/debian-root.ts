// Debootstrapped Debian trees, built once per recipe and kept on disk: the e2e stand-in base images are
// imported from them (debian.ts), and the unit tests run sid's nginx straight out of one
// (test/support/nginx/binary.ts), so the suites share a single debootstrap. A tree is rebuilt only when
// this file (the recipe) or the mirror changes; building takes a cross-process lock and finishes with an
// atomic rename, so a tree that exists is complete.
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { withLock } from "./lock";
import { run } from "./proc";

export interface DebianRecipe {
    /** Names the tree on disk and the base image (berth-standin/debian:NAME). */
    readonly name: string;
    readonly suite: string;
    /** Packages debootstrap installs beside minbase (`--include`). */
    readonly include: readonly string[];
}

/** The mysql and node stand-ins' base: the host's own release. */
export const BOOKWORM: DebianRecipe = Object.freeze({ name: "bookworm", suite: "bookworm", include: Object.freeze([]) });

/**
 * Debian sid with its nginx (1.30; bookworm has 1.22, trixie 1.26): the nginx design uses upstream
 * `server NAME resolve` (nginx >= 1.27.3). nginx is installed by debootstrap itself, so neither the
 * stand-in's image build nor the unit tests run apt against a moving sid index later.
 */
export const SID_NGINX: DebianRecipe = Object.freeze({
    name: "sid-nginx",
    suite: "sid",
    // curl: the official nginx images ship it, and Berth's cutover probes through nginx with it.
    include: Object.freeze(["nginx", "ca-certificates", "curl"]),
});

/** Signatures of every suite (sid included) are checked against Debian's archive keys, never skipped. */
export const DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const FALLBACK_MIRROR = "http://deb.debian.org/debian";

export function rootsDir(): string {
    return process.env.BERTH_DEBIAN_ROOTS_DIR || "/var/tmp/berth-debian-roots";
}

/**
 * The first mirror serving `suite` in a deb822 sources file (Debian 12's debian.sources) or, failing
 * that, in a one-line-style sources.list.
 */
export function mirrorFromSources(deb822: string, oneLine: string, suite = "bookworm"): string | undefined {
    for (const stanza of deb822.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        for (const line of stanza.split("\n")) {
            const [, name, value] = /^([A-Za-z-]+):\s*(.*)$/.exec(line) ?? [];
            if (name !== undefined && value !== undefined) fields.set(name.toLowerCase(), value.trim());
        }
        const words = (k: string) => (fields.get(k) ?? "").split(/\s+/);
        if (words("types").includes("deb") && words("suites").includes(suite) && fields.get("enabled") !== "no") {
            const uri = words("uris")[0];
            if (uri) return uri;
        }
    }
    for (const line of oneLine.split("\n")) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === suite) return m[1];
    }
    return undefined;
}

/**
 * The host's mirror for `suite`, else the one serving the host's own release (a Debian mirror carries
 * every suite: a bookworm host lists no sid, and its mirror serves sid all the same), else deb.debian.org.
 */
export async function hostMirror(suite: string): Promise<string> {
    if (process.env.BERTH_E2E_DEBIAN_MIRROR) return process.env.BERTH_E2E_DEBIAN_MIRROR;
    const dir = "/etc/apt/sources.list.d";
    const files = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".sources")).sort();
    const deb822 = (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), "utf8")))).join("\n\n");
    const oneLine = await fs.readFile("/etc/apt/sources.list", "utf8").catch(() => "");
    const osRelease = await fs.readFile("/etc/os-release", "utf8").catch(() => "");
    const hostSuite = /^VERSION_CODENAME=["']?([a-z]+)/m.exec(osRelease)?.[1];
    return (
        mirrorFromSources(deb822, oneLine, suite) ??
        (hostSuite ? mirrorFromSources(deb822, oneLine, hostSuite) : undefined) ??
        FALLBACK_MIRROR
    );
}

export interface DebianRoot {
    /** The tree's directory. Treat it as read-only: other processes use it too. */
    readonly root: string;
    /** Hash of the recipe and the mirror; a new key is a new tree. */
    readonly key: string;
}

const roots = new Map<string, Promise<DebianRoot>>();

/** The tree of `recipe`, debootstrapped on first use (as root), then reused by every process and run. */
export function debianRoot(recipe: DebianRecipe): Promise<DebianRoot> {
    let p = roots.get(recipe.name);
    if (!p) {
        p = ensureRoot(recipe);
        p.catch(() => roots.delete(recipe.name));
        roots.set(recipe.name, p);
    }
    return p;
}

async function ensureRoot(recipe: DebianRecipe): Promise<DebianRoot> {
    const mirror = await hostMirror(recipe.suite);
    // This file is the recipe: editing it (or moving to another mirror) yields a new tree.
    const key = createHash("sha256")
        .update(await fs.readFile(__filename))
        .update(JSON.stringify([recipe.name, recipe.suite, recipe.include, mirror]))
        .digest("hex")
        .slice(0, 12);
    const dir = rootsDir();
    const root = path.join(dir, `${recipe.name}-${key}`);
    if (await exists(root)) return { root, key };

    if (process.getuid?.() !== 0) throw new Error(`the Debian tree ${root} does not exist, and building it needs root (debootstrap)`);
    if (!(await exists(DEBIAN_KEYRING))) throw new Error(`${DEBIAN_KEYRING} is missing: apt-get install debian-archive-keyring`);
    await fs.mkdir(dir, { recursive: true });
    await withLock(path.join(dir, `${recipe.name}.lock`), 30 * 60_000, async () => {
        if (await exists(root)) return; // another process built it while we waited
        // Our own: a debootstrap orphaned by a killed run may still be writing into its builder's.
        const partial = `${root}.partial-${process.pid}`;
        await removeTree(partial);
        const include = recipe.include.length ? [`--include=${recipe.include.join(",")}`] : [];
        const args = ["--variant=minbase", `--keyring=${DEBIAN_KEYRING}`, ...include, recipe.suite, partial, mirror];
        await run("debootstrap", args, { timeoutMs: 20 * 60_000, check: true }).catch(async (e: unknown) => {
            await removeTree(partial);
            throw e;
        });
        // As Debian's official images do: package scripts in an image build must not start services.
        await fs.writeFile(path.join(partial, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
        // Downloaded packages and indexes only take space; an image build that needs apt runs apt-get update.
        await emptyDir(path.join(partial, "var/cache/apt/archives"));
        await emptyDir(path.join(partial, "var/lib/apt/lists"));
        await fs.rename(partial, root);
        // Trees of this recipe's earlier versions, and what killed builds left (we hold the lock).
        const mine = new RegExp(`^${recipe.name.replace(/[^a-z0-9]/g, "\\$&")}-[0-9a-f]{12}(\\.partial-\\d+)?$`);
        for (const entry of await fs.readdir(dir)) {
            if (mine.test(entry) && path.join(dir, entry) !== root) await removeTree(path.join(dir, entry));
        }
    });
    return { root, key };
}

async function exists(p: string): Promise<boolean> {
    return fs.stat(p).then(
        () => true,
        () => false,
    );
}

async function emptyDir(dir: string): Promise<void> {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        if (entry.isFile()) await fs.rm(path.join(dir, entry.name));
    }
}

/**
 * rm -rf of a tree, after lazily unmounting what a killed debootstrap may have left mounted inside it
 * (/proc, /sys, bind-mounted device nodes in a container): never delete through a mount.
 */
async function removeTree(tree: string): Promise<void> {
    const mounts = (await fs.readFile("/proc/self/mounts", "utf8").catch(() => ""))
        .split("\n")
        .map((line) => (line.split(" ")[1] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
        .filter((m) => m === tree || m.startsWith(`${tree}/`))
        .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m], { check: true });
    await fs.rm(tree, { recursive: true, force: true });
}
