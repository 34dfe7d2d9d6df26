/**
 * The disk-usage publisher and the dumps' copy, run for real as the host runs them: the scripts the
 * cloud-config writes, with the environment their drop-ins set, in a private mount namespace where /opt/data
 * is a mounted file system of a known size (unshare(1); this machine's own mounts are untouched). The AWS
 * side cannot run here: stand-ins on PATH play IMDSv2 (curl) and record what the script hands the aws-cli
 * container (docker).
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { AWS_CLI_IMAGE, DISK_METRIC, DUMPS_DIR } from "../../cloud-config/index";
import { renderTestDoc, TEST_DUMP_BUCKET, type CloudConfigDoc } from "./host-root";
import { environment, parseUnit, value } from "./systemd-unit";

const INSTANCE_ID = "i-0123456789abcdef0";
const TOKEN = "AQAEAFakeTokenForTheTest==";
/** /opt/data in the namespace: 10 MiB of tmpfs holding a 2.5 MiB file, so exactly 25.0 % used. */
const DATA_BYTES = 10 * 1024 * 1024;
const FILL_BYTES = 2.5 * 1024 * 1024;

/** Plays IMDSv2: a token for a PUT with a TTL header, the instance id for a GET holding that token. */
const CURL_STAND_IN = `#!/bin/bash
printf '%s\\0' "$@" > "$BERTH_TEST_DIR/curl-$(date +%s%N)"
if [ "\${BERTH_TEST_IMDS:-up}" = down ]; then
  echo "curl: (7) Failed to connect to 169.254.169.254 port 80 after 1 ms: Could not connect to server" >&2
  exit 7
fi
args=" $* "
case "$args" in
  *" http://169.254.169.254/latest/api/token "*)
    [[ "$args" == *" -X PUT "* && "$args" == *"X-aws-ec2-metadata-token-ttl-seconds: "* ]] || { echo "curl: (22) 405" >&2; exit 22; }
    printf '%s' "${TOKEN}" ;;
  *" http://169.254.169.254/latest/meta-data/instance-id "*)
    [[ "$args" == *"X-aws-ec2-metadata-token: ${TOKEN} "* ]] || { echo "curl: (22) The requested URL returned error: 401" >&2; exit 22; }
    printf '%s' "${INSTANCE_ID}" ;;
  *) echo "curl stand-in: unexpected $*" >&2; exit 2 ;;
esac
`;

/** Records its arguments (one file per call, NUL-separated) and answers as told. */
const DOCKER_STAND_IN = `#!/bin/bash
printf '%s\\0' "$@" > "$BERTH_TEST_DIR/docker-$(date +%s%N)"
if [ -n "\${BERTH_TEST_DOCKER_EXIT:-}" ]; then
  echo "Unable to locate credentials. You can configure credentials by running \\"aws configure\\"." >&2
  exit "$BERTH_TEST_DOCKER_EXIT"
fi
echo "\${BERTH_TEST_DOCKER_OUT:-}"
`;

let doc: CloudConfigDoc;
let work = "";
let runs = 0;

/** Why this machine cannot run these, or undefined. In CI a missing prerequisite fails instead. */
function missingPrerequisite(): string | undefined {
    if (process.getuid?.() !== 0) return "a private mount namespace with tmpfs mounts needs root";
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "true"]);
    return r.status === 0 ? undefined : `unshare --mount fails here: ${String(r.stderr)}`;
}
const missing = missingPrerequisite();
const skip = missing !== undefined && process.env.CI !== "true" ? missing : false;

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
    /** Each call of a stand-in, in order: its arguments. */
    docker: string[][];
    curl: string[][];
}

/** The unit's ExecStart script as the cloud-config writes it, and the environment its drop-in sets. */
function shipped(service: string): { script: string; env: Record<string, string> } {
    const unit = doc.coreos.units.find((u) => u.name === service);
    assert.ok(unit?.content, `${service} is shipped`);
    const exec = value(parseUnit(unit.content), "Service", "ExecStart");
    const file = doc.write_files.find((f) => f.path === exec);
    assert.ok(file, `${exec} is written`);
    const dropIn = (unit.drop_ins ?? []).find((d) => d.name === "10-aws.conf");
    assert.ok(dropIn);
    const script = path.join(work, path.basename(exec));
    fs.writeFileSync(script, file.content, { mode: parseInt(file.permissions, 8) });
    return { script, env: environment(value(parseUnit(dropIn.content), "Service", "Environment")) };
}

/**
 * Runs `service`'s script in a fresh mount namespace: /opt is a tmpfs there, /opt/data one of DATA_BYTES
 * holding FILL_BYTES (unless `mountData` is false: then a plain directory), plus whatever `prepare` does.
 */
function runShipped(service: string, opts: { mountData?: boolean; prepare?: string; env?: Record<string, string> } = {}): Run {
    const { script, env } = shipped(service);
    const dir = path.join(work, `run-${++runs}`);
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "curl"), CURL_STAND_IN, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "docker"), DOCKER_STAND_IN, { mode: 0o755 });
    const setup = [
        "set -e",
        "mount -t tmpfs tmpfs /opt",
        "mkdir /opt/data",
        ...(opts.mountData === false
            ? []
            : [`mount -t tmpfs -o size=${DATA_BYTES} tmpfs /opt/data`, `head -c ${FILL_BYTES} /dev/zero > /opt/data/fill`]),
        opts.prepare ?? "true",
        'exec "$0"',
    ].join("\n");
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "bash", "-c", setup, script], {
        encoding: "utf8",
        // stdin not a socket: bash would take itself for an rshd child and read ~/.bashrc (bash(1), INVOCATION).
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: dir, BERTH_TEST_DIR: dir, ...env, ...opts.env },
        timeout: 30_000,
    });
    if (r.error) throw r.error;
    const calls = (prefix: string) =>
        fs
            .readdirSync(dir)
            .filter((f) => f.startsWith(`${prefix}-`))
            .sort()
            .map((f) => fs.readFileSync(path.join(dir, f), "utf8").split("\0").slice(0, -1));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, docker: calls("docker"), curl: calls("curl") };
}

interface Datum {
    MetricName: string;
    Unit: string;
    Value: number;
    Dimensions: { Name: string; Value: string }[];
}

/** The put-metric-data call's arguments: the fixed ones, and the metric data parsed. */
function putMetricData(call: string[]): { head: string[]; data: Datum[] } {
    const i = call.indexOf("--metric-data");
    assert.ok(i > 0 && i === call.length - 2, `--metric-data is the last option: ${call.join(" ")}`);
    return { head: call.slice(0, i), data: JSON.parse(call[i + 1]!) as Datum[] };
}

/** `df`'s used percent of a path (used of used + available), as the test sees it. */
function dfPercent(p: string): number {
    const out = spawnSync("df", ["--output=used,avail", "-B1", p], { encoding: "utf8" }).stdout.trim().split("\n").pop()!;
    const [used, avail] = out.trim().split(/\s+/).map(Number) as [number, number];
    return (used * 100) / (used + avail);
}

before(() => {
    doc = renderTestDoc("berth scripts CA");
    work = fs.mkdtempSync(path.join(os.tmpdir(), "berth-host-scripts-"));
});

after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("the disk-usage publisher, run as berth-disk-metrics.service runs it", { skip }, () => {
    before(() => {
        if (missing) throw new Error(`CI=true and ${missing}: these tests must run, not skip`);
    });

    it("reads the instance id through IMDSv2 and publishes the used percent of / and /opt/data in one put-metric-data", () => {
        const r = runShipped("berth-disk-metrics.service");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, "");

        // IMDSv2: a session token first, then the id with it.
        assert.equal(r.curl.length, 2);
        assert.ok(r.curl[0]!.includes("PUT") && r.curl[0]!.at(-1) === "http://169.254.169.254/latest/api/token", r.curl[0]!.join(" "));
        assert.ok(r.curl[1]!.includes(`X-aws-ec2-metadata-token: ${TOKEN}`), r.curl[1]!.join(" "));

        assert.equal(r.docker.length, 1);
        const { head, data } = putMetricData(r.docker[0]!);
        assert.deepEqual(head, [
            ...["run", "--rm", "--network", "host", "--log-driver", "none", AWS_CLI_IMAGE],
            ...["cloudwatch", "put-metric-data", "--region", "eu-west-1", "--namespace", DISK_METRIC.namespace],
        ]);
        assert.deepEqual(
            data.map((d) => d.Dimensions),
            DISK_METRIC.paths.map((p) => [
                { Name: "InstanceId", Value: INSTANCE_ID },
                { Name: "Path", Value: p },
            ]),
        );
        for (const d of data) {
            assert.equal(d.MetricName, DISK_METRIC.name);
            assert.equal(d.Unit, DISK_METRIC.unit);
            assert.equal(typeof d.Value, "number");
            assert.ok(d.Value >= 0 && d.Value <= 100, `${d.Value}`);
        }
        // Measured for real: the data file system is the namespace's 10 MiB tmpfs, a quarter full; the root
        // disk is this machine's, read by df here too (give or take what others write meanwhile).
        assert.equal(data[1]!.Value, 25);
        assert.ok(Math.abs(data[0]!.Value - dfPercent("/")) < 1, `${data[0]!.Value} vs ${dfPercent("/")}`);
        assert.match(
            r.stdout,
            new RegExp(`^berth-disk-metrics: published DiskUsedPercent for ${INSTANCE_ID}: / [0-9.]+% /opt/data 25\\.0%$`, "m"),
        );
    });

    it("rounds to the nearest tenth of a percent", () => {
        // 1707 pages of 4 KiB of the 2560: 66.68 %.
        const r = runShipped("berth-disk-metrics.service", {
            prepare: `rm /opt/data/fill && head -c ${1707 * 4096} /dev/zero > /opt/data/fill`,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(putMetricData(r.docker[0]!).data[1]!.Value, 66.7);
    });

    it("with the data volume not mounted: publishes / alone and says why in one line at priority err, exit 1", () => {
        const r = runShipped("berth-disk-metrics.service", { mountData: false });
        assert.equal(r.status, 1);
        assert.equal(
            r.stderr,
            "<3>berth-disk-metrics: /opt/data is not a mount point (is the data volume attached and mounted?): not measured\n",
        );
        const { data } = putMetricData(r.docker[0]!);
        assert.deepEqual(
            data.map((d) => d.Dimensions[1]!.Value),
            ["/"],
        );
    });

    it("without IMDS: publishes nothing and says so, exit 1", () => {
        const r = runShipped("berth-disk-metrics.service", { env: { BERTH_TEST_IMDS: "down" } });
        assert.equal(r.status, 1);
        assert.match(
            r.stderr,
            /^<3>berth-disk-metrics: no IMDSv2 token from http:\/\/169\.254\.169\.254\/latest\/api\/token \(curl: \(7\) .*\): nothing published\n$/,
        );
        assert.equal(r.docker.length, 0);
    });

    it("when put-metric-data fails: the CLI's message in one line at priority err, exit 1", () => {
        const r = runShipped("berth-disk-metrics.service", { env: { BERTH_TEST_DOCKER_EXIT: "253" } });
        assert.equal(r.status, 1);
        assert.equal(
            r.stderr,
            '<3>berth-disk-metrics: aws cloudwatch put-metric-data failed (exit 253): Unable to locate credentials. You can configure credentials by running "aws configure".\n',
        );
        assert.equal(r.stdout, "");
    });
});

describe("the dumps' copy, run as berth-dumps-sync.service runs it", { skip }, () => {
    before(() => {
        if (missing) throw new Error(`CI=true and ${missing}: these tests must run, not skip`);
    });
    const dumps = `mkdir -p ${DUMPS_DIR} && echo dump > ${DUMPS_DIR}/v1-20261125T000000Z.sql`;

    it("syncs the dumps directory, read-only, to s3://<bucket>/dumps/, leaving a dump still being written", () => {
        const r = runShipped("berth-dumps-sync.service", {
            prepare: dumps,
            env: { BERTH_TEST_DOCKER_OUT: "upload: ../v1-20261125T000000Z.sql to s3://host-dumps-1234567/dumps/v1-20261125T000000Z.sql" },
        });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.docker, [
            [
                ...["run", "--rm", "--network", "host", "--log-driver", "none", "-v", `${DUMPS_DIR}:${DUMPS_DIR}:ro`, AWS_CLI_IMAGE],
                ...[
                    "s3",
                    "sync",
                    DUMPS_DIR,
                    `s3://${TEST_DUMP_BUCKET}/dumps/`,
                    "--region",
                    "eu-west-1",
                    "--exclude",
                    "*.partial",
                    "--no-progress",
                ],
            ],
        ]);
        assert.match(
            r.stdout,
            /^berth-dumps-sync: s3:\/\/host-dumps-1234567\/dumps\/ holds every dump in \/opt\/data\/berth\/dumps \(upload: /,
        );
    });

    it("before the first dump: nothing to copy, exit 0", () => {
        const r = runShipped("berth-dumps-sync.service");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.docker.length, 0);
        assert.match(r.stdout, /no dump yet/);
    });

    it("with the data volume not mounted, or the sync failing: one line at priority err, exit 1", () => {
        const unmounted = runShipped("berth-dumps-sync.service", { mountData: false, prepare: dumps });
        assert.equal(unmounted.status, 1);
        assert.match(unmounted.stderr, /^<3>berth-dumps-sync: \/opt\/data is not a mount point/);
        assert.equal(unmounted.docker.length, 0);

        const failing = runShipped("berth-dumps-sync.service", { prepare: dumps, env: { BERTH_TEST_DOCKER_EXIT: "1" } });
        assert.equal(failing.status, 1);
        assert.equal(
            failing.stderr,
            `<3>berth-dumps-sync: aws s3 sync ${DUMPS_DIR} s3://${TEST_DUMP_BUCKET}/dumps/ failed (exit 1): Unable to locate credentials. You can configure credentials by running "aws configure".\n`,
        );
    });
});
