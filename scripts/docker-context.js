#!/usr/bin/env node
// Creates (or updates) a local docker context for a Berth stack from its outputs, so that
// `docker --context berth-<stack> ps` talks to the host over mutual TLS.
//
//   pulumi stack output --json --show-secrets | node scripts/docker-context.js berth-<stack>
//
// Reads dockerHost, dockerCaCert, dockerClientCert and dockerClientKey from the JSON on stdin and
// writes them under ~/.docker/berth/<context>/ (the key readable by you only). Each file is written
// to a new temporary file (created exclusively, with its final mode) and renamed over the old one, so
// the key is never written into an existing file that others may read, nor through a symbolic link.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

function fail(message) {
    console.error(`docker-context: ${message}`);
    process.exit(1);
}

const name = process.argv[2];
if (!name || !/^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$/.test(name)) fail("usage: node scripts/docker-context.js <context-name> < outputs.json");

let outputs;
try {
    outputs = JSON.parse(fs.readFileSync(0, "utf8"));
} catch (err) {
    fail(`stdin must be the JSON of \`pulumi stack output --json --show-secrets\` (${err.message})`);
}
const need = ["dockerHost", "dockerCaCert", "dockerClientCert", "dockerClientKey"];
for (const k of need) {
    if (typeof outputs[k] !== "string" || outputs[k] === "" || outputs[k] === "[secret]") {
        fail(`the stack output ${k} is missing${outputs[k] === "[secret]" ? " (pass --show-secrets)" : ""}`);
    }
}

/** lstat, or undefined when nothing is there. */
function lstat(p) {
    try {
        return fs.lstatSync(p);
    } catch (err) {
        if (err.code === "ENOENT") return undefined;
        throw err;
    }
}

/**
 * The context's directory, created 0700 when missing. Refused when it is a symbolic link or not
 * yours: the files in it, the key among them, would land where someone else decides.
 */
function contextDir(dir) {
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    if (!lstat(dir)) fs.mkdirSync(dir, { mode: 0o700 });
    const st = lstat(dir);
    if (st.isSymbolicLink()) fail(`${dir} is a symbolic link; remove it and run again`);
    if (!st.isDirectory()) fail(`${dir} is not a directory; remove it and run again`);
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
    if (uid !== undefined && st.uid !== uid) fail(`${dir} is owned by uid ${st.uid}, not by you; remove it and run again`);
    // Nobody else may add, remove or rename files in it.
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    return dir;
}

/** Refuses a target that is a symbolic link or not a regular file, before anything is written. */
function checkTarget(file) {
    const st = lstat(file);
    if (st?.isSymbolicLink()) fail(`${file} is a symbolic link; remove it and run again`);
    if (st && !st.isFile()) fail(`${file} is not a regular file; remove it and run again`);
}

/**
 * Writes `content` to `file` with `mode`: into a new file in the same directory, opened with
 * O_CREAT|O_EXCL ("wx": fails on any existing name, a symbolic link included) and the final mode from
 * its creation on, then renamed over `file` (rename replaces the name itself and follows no link).
 */
function writeNewFile(file, content, mode) {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`);
    const fd = fs.openSync(tmp, "wx", mode);
    try {
        fs.fchmodSync(fd, mode); // the umask may have taken bits away from a certificate's 0644
        fs.writeFileSync(fd, content);
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, file);
    } catch (err) {
        try {
            fs.closeSync(fd);
        } catch {
            // already closed
        }
        fs.rmSync(tmp, { force: true });
        fail(`could not write ${file}: ${err.message}`);
    }
}

const home = process.env.BERTH_DOCKER_CERTS_DIR || path.join(os.homedir(), ".docker", "berth");
const dir = contextDir(path.join(home, name));
const files = { ca: "ca.pem", cert: "cert.pem", key: "key.pem" };
const contents = [
    [files.ca, outputs.dockerCaCert, 0o644],
    [files.cert, outputs.dockerClientCert, 0o644],
    [files.key, outputs.dockerClientKey, 0o600],
];
for (const [file] of contents) checkTarget(path.join(dir, file));
for (const [file, content, mode] of contents) writeNewFile(path.join(dir, file), content, mode);

const endpoint = [
    `host=${outputs.dockerHost}`,
    `ca=${path.join(dir, files.ca)}`,
    `cert=${path.join(dir, files.cert)}`,
    `key=${path.join(dir, files.key)}`,
].join(",");
const docker = process.env.BERTH_DOCKER_CLI || "docker";
const exists = spawnSync(docker, ["context", "inspect", name], { stdio: "ignore" }).status === 0;
const res = spawnSync(
    docker,
    ["context", exists ? "update" : "create", name, "--description", "Berth host (mutual TLS)", "--docker", endpoint],
    {
        stdio: "inherit",
    },
);
if (res.error) fail(`could not run ${docker}: ${res.error.message}`);
if (res.status !== 0) process.exit(res.status || 1);
console.log(`docker context ${name} ${exists ? "updated" : "created"}: try  docker --context ${name} ps`);
