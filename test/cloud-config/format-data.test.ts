/**
 * The data volume format script, run for real against a loop device. The script looks for fixed
 * /dev paths, so each run happens in a private mount namespace whose /dev is a fresh tmpfs holding
 * only /dev/null and device nodes (or by-id links) for the loop devices of the test.
 * Needs root, losetup and unshare; skipped otherwise (failed when CI=true).
 */
import { strict as assert } from "node:assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderCloudConfig } from "../../cloud-config/index";
import { issue, makeCa } from "../scripts/pki";
import { loadDoc, TEST_CLOUD_WATCH } from "./host-root";

const SOURCE = path.join(__dirname, "../../cloud-config/format-data.sh");
const VOLUME = "vol-0123456789abcdef0";
const NITRO_LINK = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0";
const UUID = "0b3f6c2e-6d1a-4f0e-9a57-1c2d3e4f5a6b";

let work: string;
let script: string;
const attached: string[] = [];

function run(cmd: string, args: string[], opts: { input?: string } = {}): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, { encoding: "utf8", input: opts.input });
}

function must(cmd: string, args: string[]): string {
    const r = run(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.status} ${r.stderr}`);
    return r.stdout;
}

/** Why the real-device tests cannot run here, or undefined when they can. */
function unsupported(): string | undefined {
    if (process.getuid?.() !== 0) return "needs root (loop devices, mknod, mount namespaces)";
    for (const tool of ["losetup", "unshare", "mkfs.ext4", "blkid", "debugfs", "e2label"]) {
        if (run("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
    }
    if (run("unshare", ["-m", "true"]).status !== 0) return "unshare -m is not permitted";
    return undefined;
}
const SKIP = unsupported();
// Like the other integration suites: in CI a missing capability is a failure, never a skip.
if (SKIP && process.env.CI === "true") throw new Error(`format-data.sh cannot be tested for real here: ${SKIP}`);

/** A fresh image of `mib` MiB attached to a free loop device; detached after the file's tests. */
function loopDevice(name: string, mib = 16, prepare?: (image: string) => void): string {
    const image = path.join(work, `${name}.img`);
    fs.writeFileSync(image, "");
    fs.truncateSync(image, mib * 1024 * 1024);
    prepare?.(image);
    const dev = must("losetup", ["--find", "--show", image]).trim();
    attached.push(dev);
    return dev;
}

function majorMinor(dev: string): [number, number] {
    const rdev = fs.statSync(dev).rdev;
    return [(rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00)];
}

interface DevSetup {
    /** Block device nodes to create: path in the private /dev → loop device. */
    nodes?: Record<string, string>;
    /** Symlinks to create: path → target. */
    links?: Record<string, string>;
    /** Regular files to create. */
    files?: string[];
}

/** Stub commands, recording each call as "name args" in the calls log. */
function stubs(dir: string, extra: Record<string, string> = {}): void {
    fs.mkdirSync(dir, { recursive: true });
    // udev does not run here; on Flatcar `udevadm settle` waits for the by-label link.
    const all: Record<string, string> = { udevadm: "", ...extra };
    for (const [name, body] of Object.entries(all)) {
        fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "${name} $*" >> "${path.join(work, "calls")}"\n${body}\n`, { mode: 0o755 });
    }
}

function calls(): string[] {
    const log = path.join(work, "calls");
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").trimEnd().split("\n") : [];
}

/** Runs the shipped script in a private mount namespace whose /dev holds only what `dev` says. */
function format(dev: DevSetup, env: Record<string, string>, stubDir: string): SpawnSyncReturns<string> {
    fs.rmSync(path.join(work, "calls"), { force: true });
    const specs = [
        ...Object.entries(dev.nodes ?? {}).map(([p, loop]) => `node:${p}:${majorMinor(loop).join(":")}`),
        ...Object.entries(dev.links ?? {}).map(([p, target]) => `link:${p}:${target}`),
        ...(dev.files ?? []).map((p) => `file:${p}`),
    ];
    const setup = [
        "set -eu",
        "mount -t tmpfs -o mode=755 berth-test-dev /dev",
        "mknod -m 666 /dev/null c 1 3",
        'for spec in "$@"; do',
        '  IFS=: read -r kind p a b <<<"$spec"',
        '  mkdir -p "$(dirname "$p")"',
        '  case "$kind" in',
        '    node) mknod -m 600 "$p" b "$a" "$b" ;;',
        '    link) ln -s "$a" "$p" ;;',
        '    file) echo "not a disk" > "$p" ;;',
        "  esac",
        "done",
        // The script's own environment: only what the unit's drop-in gives it.
        ["exec env -i", `PATH=${stubDir}:/usr/sbin:/usr/bin:/sbin:/bin`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), script].join(
            " ",
        ),
    ].join("\n");
    return spawnSync("unshare", ["-m", "--propagation", "private", "bash", "-c", setup, "bash", ...specs], {
        encoding: "utf8",
        timeout: 120_000,
    });
}

/** blkid's low-level probe of a device, as NAME=value pairs; {} when it finds nothing. */
function probe(dev: string): Record<string, string> {
    const r = run("blkid", ["-p", "-o", "export", dev]);
    if (r.status === 2) return {};
    assert.equal(r.status, 0, r.stderr);
    return Object.fromEntries(
        r.stdout
            .trim()
            .split("\n")
            .map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
}

/** An existing ext4 filesystem holding /marker, as a reattached data volume would. */
function existingFs(label: string) {
    return (image: string) => {
        must("mkfs.ext4", ["-q", "-F", "-L", label, "-U", UUID, image]);
        const marker = path.join(work, "marker.txt");
        fs.writeFileSync(marker, "rows of a database\n");
        must("debugfs", ["-w", "-R", `write ${marker} marker`, image]);
    };
}

function readMarker(dev: string): string {
    return must("debugfs", ["-R", "cat /marker", dev]);
}

before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-format-"));
    // Run what the cloud-config writes, at its mode, through its own shebang.
    const doc = loadDoc(
        renderCloudConfig(
            (() => {
                const ca = makeCa("format test CA");
                const server = issue(ca, "daemon", "server_auth", ["203.0.113.10"]);
                return {
                    caCertPem: ca.certPem,
                    serverCertPem: server.certPem,
                    serverKeyPem: server.keyPem,
                    sshAuthorizedKeys: [],
                    dataVolumeId: VOLUME,
                    updateStrategy: "reboot" as const,
                    cloudWatch: TEST_CLOUD_WATCH,
                };
            })(),
        ),
    );
    const shipped = doc.write_files.find((f) => f.path === "/opt/berth/bin/format-data");
    assert.ok(shipped);
    script = path.join(work, "format-data");
    fs.writeFileSync(script, shipped.content, { mode: parseInt(shipped.permissions, 8) });
    // seq and sleep are stubbed so the script's 300 x 2 s wait takes three rounds and no time.
    stubs(path.join(work, "bin"), { seq: "printf '1\\n2\\n3\\n'", sleep: "" });
});

after(() => {
    for (const dev of attached) run("losetup", ["--detach", dev]);
    fs.rmSync(work, { recursive: true, force: true });
});

const ENV = { BERTH_DATA_VOLUME_ID: VOLUME };

describe("format-data.sh", () => {
    it("is valid bash", () => {
        const r = run("bash", ["-n", SOURCE]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, "");
    });

    it("formats a blank volume at /dev/xvdf as ext4 labelled berth-data", { skip: SKIP }, () => {
        const loop = loopDevice("blank-xen");
        const r = format({ nodes: { "/dev/xvdf": loop } }, ENV, path.join(work, "bin"));
        assert.equal(r.stderr, "");
        assert.equal(r.stdout, "data volume /dev/xvdf is blank; formatting\n");
        assert.equal(r.status, 0);
        const fsInfo = probe(loop);
        assert.equal(fsInfo.TYPE, "ext4");
        assert.equal(fsInfo.LABEL, "berth-data");
        assert.deepEqual(calls(), ["seq 1 300", "udevadm settle"]);
    });

    it("finds the volume by its id on Nitro instances (NVMe by-id link)", { skip: SKIP }, () => {
        const loop = loopDevice("blank-nitro");
        const r = format({ nodes: { "/dev/nvme1n1": loop }, links: { [NITRO_LINK]: "../../nvme1n1" } }, ENV, path.join(work, "bin"));
        assert.equal(r.stdout, `data volume ${NITRO_LINK} is blank; formatting\n`);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(probe(loop).LABEL, "berth-data");
    });

    it("keeps a volume that already holds a filesystem, data and all, and labels it", { skip: SKIP }, () => {
        const loop = loopDevice("existing", 16, existingFs("old-name"));
        const r = format({ nodes: { "/dev/xvdf": loop } }, ENV, path.join(work, "bin"));
        assert.equal(r.stdout, "data volume /dev/xvdf already has a filesystem; keeping it\n");
        assert.equal(r.status, 0, r.stderr);
        const fsInfo = probe(loop);
        assert.equal(fsInfo.UUID, UUID, "not reformatted");
        assert.equal(fsInfo.LABEL, "berth-data");
        assert.equal(readMarker(loop), "rows of a database\n");
    });

    it("never formats a volume whose probe is not a clear 'blank' (ambivalent signatures)", { skip: SKIP }, () => {
        // An ext4 volume whose data happens to carry an ISO 9660 signature: blkid -p exits 8
        // ("ambivalent result"), which is not the same as finding nothing.
        const loop = loopDevice("ambivalent", 16, (image) => {
            existingFs("berth-data")(image);
            const fd = fs.openSync(image, "r+");
            fs.writeSync(fd, Buffer.from("\x01CD001\x01", "latin1"), 0, 7, 32768);
            fs.closeSync(fd);
        });
        assert.equal(run("blkid", ["-p", loop]).status, 8, "the fixture is ambivalent");
        const r = format({ nodes: { "/dev/xvdf": loop } }, ENV, path.join(work, "bin"));
        assert.doesNotMatch(r.stdout, /formatting/);
        assert.equal(readMarker(loop), "rows of a database\n");
        assert.equal(must("dumpe2fs", ["-h", loop]).match(/^Filesystem UUID:\s+(\S+)$/m)?.[1], UUID);
    });

    it("waits for its own volume only, and gives up saying so", { skip: SKIP }, () => {
        // Another volume's NVMe link and a non-device at /dev/xvdf must both be ignored.
        const other = loopDevice("other-volume");
        const r = format(
            {
                nodes: { "/dev/nvme2n1": other },
                links: {
                    "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0fedcba9876543210": "../../nvme2n1",
                },
                files: ["/dev/xvdf"],
            },
            ENV,
            path.join(work, "bin"),
        );
        assert.equal(r.stderr, `data volume ${VOLUME} never appeared\n`);
        assert.equal(r.stdout, "");
        assert.equal(r.status, 1);
        assert.deepEqual(calls(), ["seq 1 300", "sleep 2", "sleep 2", "sleep 2"]);
        assert.deepEqual(probe(other), {}, "the other volume is untouched");
    });

    it("refuses to run without BERTH_DATA_VOLUME_ID, formatting nothing", { skip: SKIP }, () => {
        const loop = loopDevice("no-id");
        const r = format({ nodes: { "/dev/xvdf": loop } }, {}, path.join(work, "bin"));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /BERTH_DATA_VOLUME_ID: BERTH_DATA_VOLUME_ID is not set\n$/);
        assert.equal(r.stdout, "");
        assert.deepEqual(probe(loop), {});
    });
});
