/**
 * Reads the rendered cloud-config the way the host applies it: the files `write_files` creates and
 * the dockerd arguments the docker.service drop-in adds, so a local dockerd can run with exactly those.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";

export interface WrittenFile {
    /** Absolute path on the host, as in the cloud-config. */
    hostPath: string;
    /** Where the test wrote it: the same path under the temp root. */
    localPath: string;
    /** Octal permissions from the cloud-config, e.g. "0600". */
    permissions: string;
    content: string;
}

interface CloudConfig {
    write_files?: { path: string; permissions?: string; owner?: string; content: string; encoding?: string }[];
    coreos?: { units?: { name: string; content?: string; drop_ins?: { name: string; content: string }[] }[] };
}

export function parseCloudConfig(userData: string): CloudConfig {
    if (!userData.startsWith("#cloud-config\n")) throw new Error("user data is not a #cloud-config document");
    return yaml.load(userData) as CloudConfig;
}

/**
 * Writes every cloud-config file whose path starts with `prefix` under `root` at the same relative
 * path, with the given permissions set exactly (not filtered by the umask).
 */
export function writeHostFiles(doc: CloudConfig, prefix: string, root: string): WrittenFile[] {
    const out: WrittenFile[] = [];
    for (const f of doc.write_files ?? []) {
        if (!f.path.startsWith(prefix)) continue;
        if (f.encoding) throw new Error(`${f.path}: encoding ${f.encoding} is not handled here`);
        if (!/^0[0-7]{3}$/.test(f.permissions ?? ""))
            throw new Error(`${f.path}: permissions ${String(f.permissions)} are not an octal mode`);
        const localPath = path.join(root, f.path);
        fs.mkdirSync(path.dirname(localPath), { recursive: true });
        fs.writeFileSync(localPath, f.content);
        fs.chmodSync(localPath, parseInt(f.permissions!, 8));
        out.push({ hostPath: f.path, localPath, permissions: f.permissions!, content: f.content });
    }
    return out;
}

/** The content of one drop-in of one unit, or an error naming what is missing. */
export function dropIn(doc: CloudConfig, unitName: string, dropInName: string): string {
    const units = (doc.coreos?.units ?? []).filter((u) => u.name === unitName);
    const [unit] = units;
    if (units.length !== 1 || !unit) throw new Error(`expected one unit ${unitName} in coreos.units, found ${units.length}`);
    const found = (unit.drop_ins ?? []).filter((d) => d.name === dropInName);
    const [only] = found;
    if (found.length !== 1 || !only) throw new Error(`expected one drop-in ${dropInName} on ${unitName}, found ${found.length}`);
    return only.content;
}

/**
 * Splits a systemd value into words as systemd does for Environment=: whitespace separates words,
 * double or single quotes group them, a backslash escapes the next character.
 */
export function systemdWords(value: string): string[] {
    const words: string[] = [];
    let word = "";
    let inWord = false;
    let quote: '"' | "'" | null = null;
    for (let i = 0; i < value.length; i++) {
        const c = value.charAt(i);
        if (c === "\\" && i + 1 < value.length) {
            word += value[++i];
            inWord = true;
        } else if (quote) {
            if (c === quote) quote = null;
            else word += c;
        } else if (c === '"' || c === "'") {
            quote = c;
            inWord = true;
        } else if (/\s/.test(c)) {
            if (inWord) words.push(word);
            word = "";
            inWord = false;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (quote) throw new Error(`unterminated ${quote} in ${JSON.stringify(value)}`);
    if (inWord) words.push(word);
    return words;
}

/**
 * The variables a unit file's `[Service]` Environment= lines set (later lines win, as in systemd).
 * Comments and other sections are ignored.
 */
export function serviceEnvironment(unitText: string): Record<string, string> {
    const env: Record<string, string> = {};
    let section = "";
    for (const raw of unitText.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
        const header = /^\[(.+)\]$/.exec(line)?.[1];
        if (header !== undefined) {
            section = header;
            continue;
        }
        const assignments = /^Environment\s*=\s*(.*)$/.exec(line)?.[1];
        if (section !== "Service" || assignments === undefined) continue;
        for (const assignment of systemdWords(assignments)) {
            const eq = assignment.indexOf("=");
            if (eq <= 0) throw new Error(`Environment= entry without a name: ${JSON.stringify(assignment)}`);
            env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
        }
    }
    return env;
}

/**
 * The argv words `$DOCKER_OPTS` becomes in Flatcar's docker.service
 * (`ExecStart=/usr/bin/dockerd --host=fd:// $DOCKER_OPTS ...`): systemd splits an unbraced `$VAR`
 * on whitespace.
 */
export function dockerOptsArgv(dropInText: string): string[] {
    const opts = serviceEnvironment(dropInText).DOCKER_OPTS;
    if (opts === undefined) throw new Error("the drop-in sets no DOCKER_OPTS");
    return opts.split(/\s+/).filter((w) => w !== "");
}

/**
 * Rewrites each absolute path under `prefix` in the flags (`--flag=/path` or `--flag /path`) to the
 * file written for it. Returns the new argv and every host path it met; a path under `prefix` that
 * was not written is an error.
 */
export function relocateFlagPaths(
    argv: readonly string[],
    prefix: string,
    written: readonly WrittenFile[],
): { argv: string[]; paths: string[] } {
    const byHostPath = new Map(written.map((f) => [f.hostPath, f.localPath]));
    const paths: string[] = [];
    const relocate = (value: string): string => {
        if (!value.startsWith("/")) return value;
        paths.push(value);
        if (!value.startsWith(prefix)) throw new Error(`flag path ${value} is outside ${prefix}`);
        const local = byHostPath.get(value);
        if (!local) throw new Error(`flag path ${value} is not a file the cloud-config writes (${[...byHostPath.keys()].join(", ")})`);
        return local;
    };
    const out = argv.map((word) => {
        const [, flag, value] = /^(--?[A-Za-z0-9-]+=)(.*)$/.exec(word) ?? [];
        return flag !== undefined && value !== undefined ? flag + relocate(value) : relocate(word);
    });
    return { argv: out, paths };
}
