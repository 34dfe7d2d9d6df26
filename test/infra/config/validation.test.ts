// Values that pass a loose check and fail later, once resources exist: refused while parsing, with
// the key named and no secret repeated.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { isImageReference } from "../../../infra/config/image";
import { parseConfig } from "../../../infra/config/parse";
import { CTX, errorOf, refusedWithVersion, withVersion } from "./expect";

const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);

describe("image references (distribution/reference grammar)", () => {
    it("accepts the forms Docker accepts", () => {
        for (const ref of [
            "mysql",
            "mysql:8.4",
            "nginx:1.30-alpine",
            "library/nginx:latest",
            "docker.io/library/mysql:8.4",
            "ghcr.io/org/team/app:v1.2.3_rc-1",
            "localhost/app",
            "localhost:5000/app:1",
            "registry.example.com:5000/team/app@" + DIGEST,
            "registry.example.com:5000/team/app:1.0@" + DIGEST,
            "[2001:db8::1]:5000/app:1",
            "a__b/c--d/e.f:TAG_1",
            "192.168.1.10:5000/app",
            "My-Registry.example/app",
        ]) {
            assert.ok(isImageReference(ref), ref);
        }
    });

    it("refuses what Docker refuses", () => {
        for (const ref of [
            "",
            "mysql::::",
            "mysql:",
            "a/../b",
            "a//b",
            "/mysql",
            "mysql/",
            "MySQL:8",
            "nginx latest",
            "nginx:-alpine",
            "nginx:" + "t".repeat(129),
            "app@sha256:abc",
            "app@sha256:" + "A".repeat(64),
            "app@md5:" + "0".repeat(32),
            "app@sha256:" + "0".repeat(63),
            "a._b",
            "-app",
            "app-",
            "registry:port/app",
            "x/" + "a".repeat(254),
        ]) {
            assert.ok(!isImageReference(ref), ref);
        }
    });

    it("is what parseConfig checks mysqlImage and nginxImage with", () => {
        refusedWithVersion(
            { mysqlImage: "mysql::::" },
            "mysqlImage",
            'berth:mysqlImage must be an image reference such as "mysql:8.4", got "mysql::::"',
        );
        refusedWithVersion(
            { nginxImage: "a/../b" },
            "nginxImage",
            'berth:nginxImage must be an image reference such as "nginx:1.30-alpine", got "a/../b"',
        );
        const ref = `registry.example.com:5000/team/app@${DIGEST}`;
        assert.equal(withVersion({ mysqlImage: ref }).mysqlImage, ref);
    });
});

describe("sshPublicKey", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2xVb5Vv8E3J0Qkq0V0r9Uu4m3tXb9aZ4zQm5pK1c2d";

    it("refuses a carriage return, a second line or any control character in the comment", () => {
        for (const bad of [`${KEY} me@laptop\r`, `${KEY} me\n${KEY} other`, `${KEY} me\x00`, `${KEY} me\tlaptop`, `${KEY} me\x7f`]) {
            const err = errorOf({ appVersion: "1", sshPublicKey: bad });
            assert.equal(err.errors.length, 1);
            assert.match(
                err.message,
                /^berth:sshPublicKey must be an OpenSSH public key line such as "ssh-ed25519 AAAA\.\.\. me@laptop", got /,
            );
        }
    });

    it("accepts a comment with spaces and non-ASCII letters", () => {
        assert.equal(withVersion({ sshPublicKey: `${KEY} José Müller@laptop` }).sshPublicKey, `${KEY} José Müller@laptop`);
    });
});

describe("secrets' minimum lengths", () => {
    const ctx = { ...CTX, secretKeys: ["mysqlPassword", "mysqlRootPassword", "secretKeyBase"] };

    it("refuses a short password or secretKeyBase, naming the key and never the value", () => {
        const err = errorOf({ appVersion: "1", mysqlPassword: "pw-short", mysqlRootPassword: "r", secretKeyBase: "k".repeat(31) }, ctx);
        assert.deepEqual(err.message.split("\n"), [
            "berth:mysqlPassword must be at least 12 characters (the value is not shown: it is a secret)",
            "berth:mysqlRootPassword must be at least 12 characters (the value is not shown: it is a secret)",
            "berth:secretKeyBase must be at least 32 characters (the value is not shown: it is a secret)",
        ]);
        assert.doesNotMatch(err.message, /pw-short|kkkk/);
    });

    it("accepts them at the minimum, and an empty one as unset (a generated one)", () => {
        parseConfig({ appVersion: "1", mysqlPassword: "p".repeat(12), mysqlRootPassword: "", secretKeyBase: "k".repeat(32) }, ctx);
    });
});
