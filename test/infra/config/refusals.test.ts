// Every config problem is refused before the first resource is declared, naming the key: the whole
// program under mocks, with what the operator would see.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { BuildContextError, checkBuildContext, contextDigest } from "../../../infra/deploy/context";
import { BASE_CONFIG, runProgram } from "../../support/program";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2xVb5Vv8E3J0Qkq0V0r9Uu4m3tXb9aZ4zQm5pK1c2d";

describe("bad values under mocks: an error naming the key, and no resource", () => {
    for (const [what, input, expected] of [
        [
            "an sshPublicKey with a carriage return",
            { config: { ...BASE_CONFIG, sshPublicKey: `${KEY} me@laptop\r` } },
            /^berth:sshPublicKey must be /,
        ],
        ["a two-line sshPublicKey", { config: { ...BASE_CONFIG, sshPublicKey: `${KEY} a\n${KEY} b` } }, /^berth:sshPublicKey must be /],
        ["mysqlImage mysql::::", { config: { ...BASE_CONFIG, mysqlImage: "mysql::::" } }, /^berth:mysqlImage must be an image reference/],
        ["nginxImage a/../b", { config: { ...BASE_CONFIG, nginxImage: "a/../b" } }, /^berth:nginxImage must be an image reference/],
        [
            "mysqlDatabase mysql",
            { config: { ...BASE_CONFIG, mysqlDatabase: "mysql" } },
            /^berth:mysqlDatabase must be a database other than/,
        ],
        ["mysqlUser ROOT", { config: { ...BASE_CONFIG, mysqlUser: "ROOT" } }, /^berth:mysqlUser must be a user name other than root/],
        [
            "an empty-ish root password",
            { config: BASE_CONFIG, secretConfig: { mysqlRootPassword: "x" } },
            /^berth:mysqlRootPassword must be at least 12 characters \(the value is not shown: it is a secret\)$/,
        ],
        [
            "a one-character secretKeyBase",
            { config: BASE_CONFIG, secretConfig: { secretKeyBase: "k" } },
            /^berth:secretKeyBase must be at least 32 characters/,
        ],
        [
            "a host key stored as a secret",
            { config: BASE_CONFIG, secretConfig: { instanceName: "hidden-name" } },
            /^berth:instanceName is stored as a secret, but Berth shows it in plain text/,
        ],
    ] as const) {
        it(what, async () => {
            const r = await runProgram(input);
            assert.match(r.error ?? "", expected);
            assert.doesNotMatch(r.error ?? "", /hidden-name/);
            assert.deepEqual(r.resources, []);
        });
    }
});

describe("the app directory's files, checked before anything is declared", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-context-"));
        fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM scratch\n");
        fs.mkdirSync(path.join(dir, "data"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const withFile = async (name: string, make: (file: string) => void, body: () => Promise<void>) => {
        const file = path.join(dir, "data", name);
        make(file);
        try {
            await body();
        } finally {
            fs.rmSync(file, { force: true });
        }
    };

    it("refuses a file over 2 GiB, naming berth:appDir and the file (and says how to leave it out)", async () => {
        // Sparse: no disk is used.
        await withFile(
            "dump.sql",
            (f) => {
                fs.writeFileSync(f, "");
                fs.truncateSync(f, 2 ** 31);
            },
            async () => {
                const message =
                    'berth:appDir must hold only files Docker can send in the build context: "data/dump.sql" is larger than 2 GiB: ' +
                    "leave it out of the image with a line in .dockerignore";
                assert.throws(
                    () => checkBuildContext(dir),
                    (e: Error) => e instanceof BuildContextError && e.message === message,
                );
                const r = await runProgram({ config: { ...BASE_CONFIG, appDir: dir } });
                assert.equal(r.error, message);
                assert.deepEqual(r.resources, []);
                // Left out by .dockerignore, it is no problem.
                fs.writeFileSync(path.join(dir, ".dockerignore"), "data/dump.sql\n");
                try {
                    checkBuildContext(dir);
                    assert.match(contextDigest(dir), /^[0-9a-f]{64}$/);
                } finally {
                    fs.rmSync(path.join(dir, ".dockerignore"));
                }
            },
        );
    });

    it("refuses a named pipe, naming berth:appDir and the file", async () => {
        await withFile(
            "fifo",
            (f) => execFileSync("mkfifo", [f]),
            async () => {
                const r = await runProgram({ config: { ...BASE_CONFIG, appDir: dir } });
                assert.equal(
                    r.error,
                    'berth:appDir must hold only files Docker can send in the build context: "data/fifo" is not a regular file, ' +
                        "directory or symbolic link (a socket, pipe or device)",
                );
                assert.deepEqual(r.resources, []);
            },
        );
    });

    it("digests the context as it did before the check: each file's path, mode and content", () => {
        const expected = crypto.createHash("sha256").update("Dockerfile\0-\0").update("FROM scratch\n").update("\0").digest("hex");
        assert.equal(contextDigest(dir), expected);
    });
});
