// The Debian base of every stand-in: `debootstrap --variant=minbase bookworm` from the host's mirror,
// imported into the engine as berth-standin/debian:bookworm. Rebuilt only when this recipe or the mirror changes.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Engine } from "./engine";
import { describeFailure, run } from "./proc";

export const BASE_TAG = "berth-standin/debian:bookworm";
const SUITE = "bookworm";
const HASH_LABEL = "berth.standin.hash";
const FALLBACK_MIRROR = "http://deb.debian.org/debian";

export interface BaseImage {
    tag: string;
    id: string;
}

/**
 * The first mirror serving `suite` in a deb822 sources file (Debian 12's debian.sources) or, failing
 * that, in a one-line-style sources.list.
 */
export function mirrorFromSources(deb822: string, oneLine: string, suite = SUITE): string | undefined {
    for (const stanza of deb822.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        for (const line of stanza.split("\n")) {
            const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
            if (m) fields.set(m[1].toLowerCase(), m[2].trim());
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

async function hostMirror(): Promise<string> {
    if (process.env.BERTH_E2E_DEBIAN_MIRROR) return process.env.BERTH_E2E_DEBIAN_MIRROR;
    const dir = "/etc/apt/sources.list.d";
    const files = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".sources")).sort();
    const deb822 = (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), "utf8")))).join("\n\n");
    const oneLine = await fs.readFile("/etc/apt/sources.list", "utf8").catch(() => "");
    return mirrorFromSources(deb822, oneLine) ?? FALLBACK_MIRROR;
}

const bases = new Map<string, Promise<BaseImage>>();

export function buildBaseImage(engine: Engine): Promise<BaseImage> {
    let p = bases.get(engine.host);
    if (!p) {
        p = buildOnce(engine);
        p.catch(() => bases.delete(engine.host));
        bases.set(engine.host, p);
    }
    return p;
}

async function buildOnce(engine: Engine): Promise<BaseImage> {
    const mirror = await hostMirror();
    // This file is the recipe: editing it (or moving to another mirror) yields a new base.
    const key = createHash("sha256")
        .update(await fs.readFile(__filename))
        .update(mirror)
        .digest("hex")
        .slice(0, 12);
    const have = await engine.docker(["image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "${HASH_LABEL}"}}`, BASE_TAG]);
    const [id, label] = have.stdout.trim().split(" ");
    if (have.code === 0 && label === key) return { tag: BASE_TAG, id };

    if (process.getuid?.() !== 0) throw new Error(`building ${BASE_TAG} needs root (debootstrap)`);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-debian-"));
    const root = path.join(tmp, "root");
    try {
        await run("debootstrap", ["--variant=minbase", SUITE, root, mirror], { timeoutMs: 15 * 60_000, check: true });
        // As Debian's official images do: package scripts in an image build must not start services.
        await fs.writeFile(path.join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
        // Downloaded packages and indexes only make the image larger; derived builds run apt-get update.
        await emptyDir(path.join(root, "var/cache/apt/archives"));
        await emptyDir(path.join(root, "var/lib/apt/lists"));
        await importTree(engine, root, [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            'CMD ["bash"]',
            `LABEL ${HASH_LABEL}=${key}`,
        ]);
    } finally {
        await fs.rm(tmp, { recursive: true, force: true });
    }
    const built = await engine.docker(["image", "inspect", "--format", "{{.Id}}", BASE_TAG], { check: true });
    return { tag: BASE_TAG, id: built.stdout.trim() };
}

async function emptyDir(dir: string): Promise<void> {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        if (entry.isFile()) await fs.rm(path.join(dir, entry.name));
    }
}

/** `tar -C root -c . | docker import - BASE_TAG`, failing if either side fails. */
async function importTree(engine: Engine, root: string, changes: string[]): Promise<void> {
    const tar = spawn("tar", ["--numeric-owner", "-C", root, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
    let tarErr = "";
    tar.stderr.on("data", (b: Buffer) => (tarErr += b.toString()));
    const tarExit = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
    const args = ["import", ...changes.flatMap((c) => ["--change", c]), "-", BASE_TAG];
    const r = await engine.docker(args, { input: tar.stdout, timeoutMs: 10 * 60_000 });
    // If docker gave up early, nothing reads tar's output any more and tar would wait forever.
    if (r.code !== 0 && tar.exitCode === null) tar.kill();
    const tarCode = await tarExit;
    if (tarCode !== 0) throw new Error(`tar -C ${root} exited ${tarCode}: ${tarErr.trim()}`);
    if (r.code !== 0) throw new Error(describeFailure("docker", args, r));
}
