/**
 * `systemd-analyze verify` of every unit and drop-in the cloud-config ships, laid out in a temp
 * root the way coreos-cloudinit writes them on the host.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { layOut, renderTestDoc, UNIT_DIR, verify, type CloudConfigDoc, type Layout } from "./host-root";

const OUR_UNITS = [
    "berth-format-data.service",
    "opt-data.mount",
    "docker-tls-tcp.socket",
    "docker.service",
    "berth-disk-metrics.service",
    "berth-disk-metrics.timer",
    "berth-dumps-sync.service",
    "berth-dumps-sync.timer",
];

let doc: CloudConfigDoc;
const roots: string[] = [];

function lay(opts: Parameters<typeof layOut>[1] = {}): Layout {
    const layout = layOut(doc, opts);
    roots.push(layout.root);
    return layout;
}

/** stderr lines that speak of a unit or file we ship (systemd prefixes each with one of them). */
function aboutOurs(stderr: string, root: string): string[] {
    return stderr
        .split("\n")
        .filter((line) => line !== "")
        .filter((line) => line.includes(root) || OUR_UNITS.some((u) => line.includes(u)) || line.includes("/opt/"));
}

before(() => {
    doc = renderTestDoc("berth test CA");
});

after(() => {
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

describe("systemd-analyze verify of the shipped units", () => {
    it("lays out every unit and drop-in of the document", () => {
        const { root, unitPaths } = lay();
        assert.deepEqual(Object.keys(unitPaths).sort(), [...OUR_UNITS].sort());
        const etc = path.join(root, UNIT_DIR);
        assert.deepEqual(fs.readdirSync(path.join(etc, "docker.service.d")).sort(), [
            "10-tls-verify.conf",
            "20-data-volume.conf",
            "30-stop-timeout.conf",
        ]);
        assert.deepEqual(fs.readdirSync(path.join(etc, "berth-format-data.service.d")), ["10-volume.conf"]);
        assert.deepEqual(fs.readdirSync(path.join(etc, "berth-disk-metrics.service.d")), ["10-aws.conf"]);
        assert.deepEqual(fs.readdirSync(path.join(etc, "berth-dumps-sync.service.d")), ["10-aws.conf"]);
        for (const script of ["format-data", "disk-metrics", "dumps-sync"]) {
            assert.equal(fs.statSync(path.join(root, "opt/berth/bin", script)).mode & 0o777, 0o755, script);
        }
        assert.equal(fs.statSync(path.join(root, "etc/docker/server-key.pem")).mode & 0o777, 0o600);
    });

    for (const name of OUR_UNITS) {
        it(`${name} (with its drop-ins) verifies cleanly`, () => {
            const { root, unitPaths } = lay();
            const r = verify(root, [unitPaths[name]!]);
            assert.deepEqual(aboutOurs(r.stderr, root), [], r.stderr);
            assert.equal(r.status, 0, r.stderr);
        });
    }

    it("all units verify cleanly together", () => {
        const { root, unitPaths } = lay();
        const r = verify(
            root,
            OUR_UNITS.map((u) => unitPaths[u]!),
        );
        assert.equal(r.stderr, "");
        assert.equal(r.status, 0);
    });
});

describe("the timers' calendars, as systemd reads them (systemd-analyze calendar)", () => {
    /** The next `n` times systemd elapses the timer's OnCalendar=, as epoch milliseconds. */
    function elapses(timerName: string, n: number): number[] {
        const text = doc.coreos.units.find((u) => u.name === timerName)?.content ?? "";
        const calendar = /^OnCalendar=(.+)$/m.exec(text)?.[1];
        assert.ok(calendar, `${timerName} has an OnCalendar=`);
        const r = spawnSync("systemd-analyze", ["calendar", `--iterations=${n}`, calendar], {
            encoding: "utf8",
            env: { ...process.env, TZ: "UTC", SYSTEMD_COLORS: "0" },
        });
        assert.equal(r.status, 0, r.stderr);
        const times = [...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((m) =>
            Date.parse(`${m[1]!.replace(" ", "T")}Z`),
        );
        assert.equal(times.length, n, r.stdout);
        return times;
    }
    const gaps = (t: number[]) => t.slice(1).map((x, i) => (x - t[i]!) / 60_000);

    it("publishes the disk usage every 5 minutes, on the minute", () => {
        const t = elapses("berth-disk-metrics.timer", 13);
        assert.deepEqual(gaps(t), Array(12).fill(5));
        for (const x of t) assert.equal(new Date(x).getUTCMinutes() % 5, 0);
    });

    it("copies the dumps every 15 minutes", () => {
        assert.deepEqual(gaps(elapses("berth-dumps-sync.timer", 9)), Array(8).fill(15));
    });
});

// The checks above are only worth something if this harness sees what it claims to see.
describe("the verify harness catches broken units", () => {
    it("reads docker.service's drop-ins: a misspelt key in one is reported", () => {
        const { root, unitPaths } = lay();
        const dropIn = path.join(root, UNIT_DIR, "docker.service.d", "20-data-volume.conf");
        fs.appendFileSync(dropIn, "RequiresMountsFr=/opt/data\n");
        const r = verify(root, [unitPaths["docker.service"]!]);
        assert.match(r.stderr, /20-data-volume\.conf:\d+: Unknown key '?RequiresMountsFr'? in section \[Unit\]/);
        assert.equal(aboutOurs(r.stderr, root).length, 1);
    });

    it("reads docker.service's stop timeout: a value systemd cannot parse is reported", () => {
        const { root, unitPaths } = lay();
        const dropIn = path.join(root, UNIT_DIR, "docker.service.d", "30-stop-timeout.conf");
        fs.writeFileSync(dropIn, fs.readFileSync(dropIn, "utf8").replace(/TimeoutStopSec=\S+/, "TimeoutStopSec=soon"));
        const r = verify(root, [unitPaths["docker.service"]!]);
        assert.match(r.stderr, /30-stop-timeout\.conf:\d+: Failed to parse/);
    });

    it("reads the format service's drop-in", () => {
        const { root, unitPaths } = lay();
        const dropIn = path.join(root, UNIT_DIR, "berth-format-data.service.d", "10-volume.conf");
        fs.appendFileSync(dropIn, 'Environment="UNBALANCED\n');
        const r = verify(root, [unitPaths["berth-format-data.service"]!]);
        assert.match(r.stderr, /10-volume\.conf/);
    });

    it("checks ExecStart inside the root: the format script missing or not executable fails", () => {
        const missing = lay({ skipFiles: ["/opt/berth/bin/format-data"] });
        const r1 = verify(missing.root, [missing.unitPaths["berth-format-data.service"]!]);
        assert.notEqual(r1.status, 0);
        assert.match(r1.stderr, /Command \/opt\/berth\/bin\/format-data is not executable/);

        const plain = lay();
        fs.chmodSync(path.join(plain.root, "opt/berth/bin/format-data"), 0o644);
        const r2 = verify(plain.root, [plain.unitPaths["berth-format-data.service"]!]);
        assert.notEqual(r2.status, 0);
        assert.match(r2.stderr, /Command \/opt\/berth\/bin\/format-data is not executable/);
    });

    it("reads the timers: a calendar systemd cannot parse is reported", () => {
        const { root, unitPaths } = lay();
        const timer = unitPaths["berth-disk-metrics.timer"]!;
        fs.writeFileSync(timer, fs.readFileSync(timer, "utf8").replace("OnCalendar=*:0/5", "OnCalendar=every five minutes"));
        const r = verify(root, [timer]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /berth-disk-metrics\.timer:\d+: Failed to parse calendar specification/);
    });

    it("checks the publisher's ExecStart inside the root: its script missing fails", () => {
        const missing = lay({ skipFiles: ["/opt/berth/bin/disk-metrics"] });
        const r = verify(missing.root, [missing.unitPaths["berth-disk-metrics.service"]!]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /Command \/opt\/berth\/bin\/disk-metrics is not executable/);
    });

    it("refuses a mount unit whose name does not match Where=", () => {
        const { root, unitPaths } = lay();
        const mount = unitPaths["opt-data.mount"]!;
        fs.writeFileSync(mount, fs.readFileSync(mount, "utf8").replace("Where=/opt/data", "Where=/opt/database"));
        const r = verify(root, [mount]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /opt-data\.mount/);
    });

    it("reports a broken socket unit", () => {
        const { root, unitPaths } = lay();
        const socket = unitPaths["docker-tls-tcp.socket"]!;
        fs.writeFileSync(socket, fs.readFileSync(socket, "utf8").replace("Service=docker.service", "Service=docker"));
        const r = verify(root, [socket]);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /docker-tls-tcp\.socket/);
    });
});
