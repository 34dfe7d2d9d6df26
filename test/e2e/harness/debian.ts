// The Debian bases of the stand-ins: a debootstrapped tree (debian-root.ts) imported into the engine as
// berth-standin/debian:NAME, one per recipe (bookworm for mysql and node, sid-nginx for nginx), each
// cached separately. Rebuilt only when this file, the tree's recipe or the mirror changes.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import type { Engine } from "./engine";
import { debianRoot, type DebianRecipe } from "./debian-root";
import { describeFailure } from "./proc";

const HASH_LABEL = "berth.standin.hash";

export interface BaseImage {
    tag: string;
    id: string;
}

export function baseTag(recipe: DebianRecipe): string {
    return `berth-standin/debian:${recipe.name}`;
}

const bases = new Map<string, Promise<BaseImage>>();

export function buildBaseImage(engine: Engine, recipe: DebianRecipe): Promise<BaseImage> {
    const memoKey = `${engine.host} ${recipe.name}`;
    let p = bases.get(memoKey);
    if (!p) {
        p = buildOnce(engine, recipe);
        p.catch(() => bases.delete(memoKey));
        bases.set(memoKey, p);
    }
    return p;
}

async function buildOnce(engine: Engine, recipe: DebianRecipe): Promise<BaseImage> {
    const tag = baseTag(recipe);
    const tree = await debianRoot(recipe);
    const key = createHash("sha256")
        .update(await fs.readFile(__filename))
        .update(tree.key)
        .digest("hex")
        .slice(0, 12);
    const have = await engine.docker(["image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "${HASH_LABEL}"}}`, tag]);
    const [id, label] = have.stdout.trim().split(" ");
    if (have.code === 0 && id !== undefined && label === key) return { tag, id };

    await importTree(engine, tree.root, tag, [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
        `LABEL ${HASH_LABEL}=${key}`,
    ]);
    const built = await engine.docker(["image", "inspect", "--format", "{{.Id}}", tag], { check: true });
    return { tag, id: built.stdout.trim() };
}

/** `tar -C root -c . | docker import - TAG`, failing if either side fails. */
async function importTree(engine: Engine, root: string, tag: string, changes: string[]): Promise<void> {
    const tar = spawn("tar", ["--numeric-owner", "-C", root, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
    let tarErr = "";
    tar.stderr.on("data", (b: Buffer) => (tarErr += b.toString()));
    const tarExit = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
    const args = ["import", ...changes.flatMap((c) => ["--change", c]), "-", tag];
    const r = await engine.docker(args, { input: tar.stdout, timeoutMs: 10 * 60_000 });
    // If docker gave up early, nothing reads tar's output any more and tar would wait forever.
    if (r.code !== 0 && tar.exitCode === null) tar.kill();
    const tarCode = await tarExit;
    if (tarCode !== 0) throw new Error(`tar -C ${root} exited ${tarCode}: ${tarErr.trim()}`);
    if (r.code !== 0) throw new Error(describeFailure("docker", args, r));
}
