/** Reads the app's build context from disk: the one impure input of the deploy plan. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import dockerignore from "@balena/dockerignore";

/**
 * A digest of the build context as Docker sees it (.dockerignore applied): a change of code gives
 * a new image tag, and so a new image, migrate step and app container, even at the same version.
 */
export function contextDigest(dir: string): string {
    const ignoreFile = path.join(dir, ".dockerignore");
    const ig = dockerignore({ ignorecase: false });
    if (fs.existsSync(ignoreFile)) ig.add(fs.readFileSync(ignoreFile, "utf8").split(/\r?\n/));
    const hash = crypto.createHash("sha256");
    const walk = (rel: string) => {
        const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
        for (const e of entries) {
            const r = rel ? `${rel}/${e.name}` : e.name;
            // Docker always reads the Dockerfile and .dockerignore, even when they ignore themselves.
            if (ig.ignores(r) && !(rel === "" && (e.name === "Dockerfile" || e.name === ".dockerignore"))) continue;
            if (e.isDirectory()) walk(r);
            else if (e.isFile()) {
                const mode = fs.statSync(path.join(dir, r)).mode & 0o111 ? "x" : "-";
                hash.update(`${r}\0${mode}\0`)
                    .update(fs.readFileSync(path.join(dir, r)))
                    .update("\0");
            } else if (e.isSymbolicLink()) hash.update(`${r}\0l\0${fs.readlinkSync(path.join(dir, r))}\0`);
        }
    };
    if (!fs.existsSync(path.join(dir, "Dockerfile"))) {
        throw new Error(`berth:appDir must be a directory with a Dockerfile, got ${JSON.stringify(dir)}`);
    }
    walk("");
    return hash.digest("hex");
}
