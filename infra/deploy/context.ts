/** Reads the app's build context from disk: the one impure input of the deploy plan. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import dockerignore from "@balena/dockerignore";
import { RunError } from "@pulumi/pulumi";

/**
 * The largest file the digest reads: fs.readFileSync refuses more (ERR_FS_FILE_TOO_LARGE above
 * kIoMaxLength, 2 GiB - 1: nodejs/node lib/internal/fs/utils.js). A file that size in an app's build
 * context is a dump or an artifact that belongs in .dockerignore.
 */
export const MAX_CONTEXT_FILE_BYTES = 2 ** 31 - 1;

/** A build context Berth cannot read, or Docker could not send: names berth:appDir and the file. */
export class BuildContextError extends RunError {
    constructor(
        readonly file: string,
        problem: string,
    ) {
        super(`berth:appDir must hold only files Docker can send in the build context: ${JSON.stringify(file)} ${problem}`);
        this.name = "BuildContextError";
    }
}

type Entry = { rel: string; kind: "file"; mode: string } | { rel: string; kind: "link"; target: string };

/** The build context's entries as Docker sends them (.dockerignore applied), in a stable order. */
function contextEntries(dir: string): Entry[] {
    const wrap = <T>(rel: string, read: () => T): T => {
        try {
            return read();
        } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            throw new BuildContextError(rel || ".", `cannot be read (${code ?? (err as Error).message})`);
        }
    };
    const ignoreFile = path.join(dir, ".dockerignore");
    const ig = dockerignore({ ignorecase: false });
    if (fs.existsSync(ignoreFile)) ig.add(wrap(".dockerignore", () => fs.readFileSync(ignoreFile, "utf8")).split(/\r?\n/));
    const out: Entry[] = [];
    const walk = (rel: string) => {
        const entries = wrap(rel, () => fs.readdirSync(path.join(dir, rel), { withFileTypes: true })).sort((a, b) =>
            a.name < b.name ? -1 : 1,
        );
        for (const e of entries) {
            const r = rel ? `${rel}/${e.name}` : e.name;
            // Docker always reads the Dockerfile and .dockerignore, even when they ignore themselves.
            if (ig.ignores(r) && !(rel === "" && (e.name === "Dockerfile" || e.name === ".dockerignore"))) continue;
            if (e.isDirectory()) walk(r);
            else if (e.isFile()) {
                const full = path.join(dir, r);
                const st = wrap(r, () => fs.statSync(full));
                if (st.size > MAX_CONTEXT_FILE_BYTES) {
                    throw new BuildContextError(r, `is larger than 2 GiB: leave it out of the image with a line in .dockerignore`);
                }
                wrap(r, () => fs.accessSync(full, fs.constants.R_OK));
                out.push({ rel: r, kind: "file", mode: st.mode & 0o111 ? "x" : "-" });
            } else if (e.isSymbolicLink()) out.push({ rel: r, kind: "link", target: wrap(r, () => fs.readlinkSync(path.join(dir, r))) });
            else throw new BuildContextError(r, "is not a regular file, directory or symbolic link (a socket, pipe or device)");
        }
    };
    if (!fs.existsSync(path.join(dir, "Dockerfile"))) {
        throw new Error(`berth:appDir must be a directory with a Dockerfile, got ${JSON.stringify(dir)}`);
    }
    walk("");
    return out;
}

/**
 * Checks, before anything is declared, that the digest below can read the build context: throws a
 * BuildContextError naming the file otherwise.
 */
export function checkBuildContext(dir: string): void {
    contextEntries(dir);
}

/**
 * A digest of the build context as Docker sees it (.dockerignore applied): a change of code gives
 * a new image tag, and so a new image, migrate step and app container, even at the same version.
 */
export function contextDigest(dir: string): string {
    const hash = crypto.createHash("sha256");
    for (const e of contextEntries(dir)) {
        if (e.kind === "file") {
            let content: Buffer;
            try {
                content = fs.readFileSync(path.join(dir, e.rel));
            } catch (err) {
                throw new BuildContextError(e.rel, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
            }
            hash.update(`${e.rel}\0${e.mode}\0`).update(content).update("\0");
        } else hash.update(`${e.rel}\0l\0${e.target}\0`);
    }
    return hash.digest("hex");
}
