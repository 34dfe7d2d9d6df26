/**
 * scripts/docker-context.js run as the operator runs it (`pulumi stack output --json --show-secrets |
 * node scripts/docker-context.js <name>`), with a stand-in docker CLI: the client key never lands in
 * a file anyone else can read, and the script never writes through a link it did not make.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, beforeEach, describe, it } from "node:test";

const SCRIPT = path.join(__dirname, "../../scripts/docker-context.js");
const KEY = "-----BEGIN RSA PRIVATE KEY-----\nTESTKEYMATERIAL\n-----END RSA PRIVATE KEY-----\n";
const OUTPUTS = {
    dockerHost: "tcp://203.0.113.10:2376",
    dockerCaCert: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
    dockerClientCert: "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n",
    dockerClientKey: KEY,
};
const NAME = "berth-test";

let root = "";
let certs = "";
let dir = "";
let docker = "";

function runScript(): { code: number | null; stderr: string; stdout: string } {
    const r = spawnSync(process.execPath, [SCRIPT, NAME], {
        input: JSON.stringify(OUTPUTS),
        env: { PATH: process.env.PATH, HOME: root, BERTH_DOCKER_CERTS_DIR: certs, BERTH_DOCKER_CLI: docker },
        encoding: "utf8",
    });
    return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe("docker-context.js writes the client material safely", () => {
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-docker-context-"));
        certs = path.join(root, "certs");
        dir = path.join(certs, NAME);
        // The docker CLI stand-in: `context inspect` fails (no such context), `context create` succeeds.
        docker = path.join(root, "docker");
        fs.writeFileSync(docker, '#!/bin/sh\n[ "$2" = inspect ] && exit 1\nexit 0\n', { mode: 0o755 });
    });
    after(() => {
        if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it("writes ca.pem, cert.pem and a 0600 key.pem on a first run", () => {
        const r = runScript();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(fs.readFileSync(path.join(dir, "key.pem"), "utf8"), KEY);
        assert.equal(mode(path.join(dir, "key.pem")), 0o600);
        assert.equal(fs.readFileSync(path.join(dir, "ca.pem"), "utf8"), OUTPUTS.dockerCaCert);
        assert.equal(fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), OUTPUTS.dockerClientCert);
        assert.deepEqual(fs.readdirSync(dir).sort(), ["ca.pem", "cert.pem", "key.pem"], "no temporary file is left behind");
    });

    it("replaces an existing world-readable key.pem by a new 0600 file, never writing the key into the old one", () => {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const keyPath = path.join(dir, "key.pem");
        fs.writeFileSync(keyPath, "old\n", { mode: 0o644 });
        fs.chmodSync(keyPath, 0o644);
        // A second name for the old file: whatever is written into that inode stays visible here.
        const oldInode = path.join(root, "old-key-inode");
        fs.linkSync(keyPath, oldInode);
        const before = fs.statSync(keyPath).ino;

        const r = runScript();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(fs.readFileSync(keyPath, "utf8"), KEY);
        assert.equal(mode(keyPath), 0o600);
        assert.notEqual(fs.statSync(keyPath).ino, before, "the key must go through a new file, not the existing 0644 one");
        assert.equal(fs.readFileSync(oldInode, "utf8"), "old\n", "the key was written into the world-readable file");
    });

    it("refuses a symlink at key.pem and leaves the file it points to untouched", () => {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const elsewhere = path.join(root, "elsewhere.txt");
        fs.writeFileSync(elsewhere, "not yours\n", { mode: 0o644 });
        fs.symlinkSync(elsewhere, path.join(dir, "key.pem"));

        const r = runScript();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /docker-context: .*key\.pem is a symbolic link; remove it and run again/);
        assert.equal(fs.readFileSync(elsewhere, "utf8"), "not yours\n");
        assert.equal(mode(elsewhere), 0o644);
        assert.ok(fs.lstatSync(path.join(dir, "key.pem")).isSymbolicLink(), "the link itself is left for the operator to look at");
        assert.deepEqual(fs.readdirSync(dir).sort(), ["key.pem"], "nothing written beside it");
    });

    it("refuses a context directory that is a symlink", () => {
        const target = path.join(root, "target");
        fs.mkdirSync(target, { mode: 0o700 });
        fs.mkdirSync(certs, { mode: 0o700 });
        fs.symlinkSync(target, dir);
        const r = runScript();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /docker-context: .*berth-test is a symbolic link/);
        assert.deepEqual(fs.readdirSync(target), []);
    });

    it("refuses a context directory that someone else owns", { skip: process.getuid?.() !== 0 ? "needs root to chown" : false }, () => {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        fs.chownSync(dir, 65534, 65534);
        const r = runScript();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /docker-context: .*berth-test is owned by uid 65534, not by you/);
        assert.deepEqual(fs.readdirSync(dir), []);
    });
});
