import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import {
    AWS_CLI_IMAGE,
    DOCKERD_SHUTDOWN_GRACE_SECONDS,
    DUMPS_DIR,
    renderCloudConfig,
    renderDropIn,
    type CloudConfigInput,
} from "../../cloud-config/index";
import { DUMPS_HOST_DIR } from "../../infra/targets/aws";
import { NGINX_STOP_GRACE_SECONDS } from "../../infra/deploy/plan";
import { MYSQL_STOP_GRACE_SECONDS } from "../../infra/deploy/spec";
import { issue, makeCa } from "../scripts/pki";
import { loadDoc, TEST_CLOUD_WATCH, TEST_DUMP_BUCKET, type CloudConfigDoc, type CloudUnit, type WriteFile } from "./host-root";
import { environment, parseUnit, value } from "./systemd-unit";

const VOLUME = "vol-0123456789abcdef0";
// Not in sorted order, so a renderer that reorders them is caught.
const SSH_KEYS = [
    // YAML-significant characters must survive the round trip untouched.
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops: #2 - 'on call' \"pager\"",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2xVb5Vv8E3J0Qkq0V0r9Uu4m3tXb9aZ4zQm5pK1c2d me@laptop",
];
const FORMAT_SCRIPT = fs.readFileSync(path.join(__dirname, "../../cloud-config/format-data.sh"), "utf8");

let input: CloudConfigInput;

before(() => {
    const ca = makeCa("berth test CA");
    const server = issue(ca, "berth docker daemon", "server_auth", ["203.0.113.10"]);
    input = {
        caCertPem: ca.certPem,
        serverCertPem: server.certPem,
        serverKeyPem: server.keyPem,
        sshAuthorizedKeys: SSH_KEYS,
        dataVolumeId: VOLUME,
        updateStrategy: "reboot",
        cloudWatch: TEST_CLOUD_WATCH,
    };
});

const render = (over: Partial<CloudConfigInput> = {}) => renderCloudConfig({ ...input, ...over });
const doc = (over: Partial<CloudConfigInput> = {}): CloudConfigDoc => loadDoc(render(over));

function file(d: CloudConfigDoc, p: string): WriteFile {
    const found = d.write_files.filter((f) => f.path === p);
    assert.equal(found.length, 1, `write_files entries for ${p}`);
    return found[0]!;
}

function unit(d: CloudConfigDoc, name: string): CloudUnit {
    const found = d.coreos.units.filter((u) => u.name === name);
    assert.equal(found.length, 1, `units named ${name}`);
    return found[0]!;
}

function dropIn(u: CloudUnit, name: string): string {
    const found = (u.drop_ins ?? []).filter((x) => x.name === name);
    assert.equal(found.length, 1, `${u.name} drop-ins named ${name}`);
    return found[0]!.content;
}

/** DOCKER_OPTS of docker.service's TLS drop-in, split into flags. */
function dockerOpts(d: CloudConfigDoc): string[] {
    const tls = parseUnit(dropIn(unit(d, "docker.service"), "10-tls-verify.conf"));
    const env = environment(value(tls, "Service", "Environment"));
    assert.deepEqual(Object.keys(env), ["DOCKER_OPTS"]);
    return env.DOCKER_OPTS!.split(/\s+/);
}

describe("renderCloudConfig", () => {
    it("starts with the #cloud-config line coreos-cloudinit looks for", () => {
        const text = render();
        assert.equal(text.split("\n")[0], "#cloud-config");
        assert.ok(text.endsWith("\n"));
    });

    it("writes the CA, the server certificate and the server key with exactly the given PEMs", () => {
        const d = doc();
        assert.deepStrictEqual(file(d, "/etc/docker/ca.pem"), {
            path: "/etc/docker/ca.pem",
            permissions: "0644",
            owner: "root:root",
            content: input.caCertPem,
        });
        assert.deepStrictEqual(file(d, "/etc/docker/server.pem"), {
            path: "/etc/docker/server.pem",
            permissions: "0644",
            owner: "root:root",
            content: input.serverCertPem,
        });
        assert.deepStrictEqual(file(d, "/etc/docker/server-key.pem"), {
            path: "/etc/docker/server-key.pem",
            permissions: "0600",
            owner: "root:root",
            content: input.serverKeyPem,
        });
        // The key written is the one matching the certificate written.
        const cert = new crypto.X509Certificate(file(d, "/etc/docker/server.pem").content);
        assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(file(d, "/etc/docker/server-key.pem").content)));
        assert.ok(cert.verify(new crypto.X509Certificate(file(d, "/etc/docker/ca.pem").content).publicKey));
    });

    it("ends a PEM given without its final newline with one", () => {
        const d = doc({ serverKeyPem: input.serverKeyPem.trimEnd() });
        assert.equal(file(d, "/etc/docker/server-key.pem").content, input.serverKeyPem);
    });

    it("writes the format script verbatim and executable, where the format service runs it", () => {
        const d = doc();
        const script = file(d, "/opt/berth/bin/format-data");
        assert.equal(script.content, FORMAT_SCRIPT);
        assert.equal(script.permissions, "0755");
        assert.equal(script.owner, "root:root");
        const svc = parseUnit(unit(d, "berth-format-data.service").content ?? "");
        assert.equal(value(svc, "Service", "ExecStart"), script.path);
        assert.equal(value(svc, "Service", "Type"), "oneshot");
    });

    it("writes nothing but the TLS files, the format script, dockerd's daemon.json and the disk-usage script", () => {
        assert.deepEqual(
            doc().write_files.map((f) => f.path),
            [
                "/etc/docker/ca.pem",
                "/etc/docker/server.pem",
                "/etc/docker/server-key.pem",
                "/opt/berth/bin/format-data",
                "/etc/docker/daemon.json",
                "/opt/berth/bin/disk-metrics",
            ],
        );
    });

    it("listens for the Docker API on 2376 only, through an enabled and started socket for docker.service", () => {
        const d = doc();
        const socket = unit(d, "docker-tls-tcp.socket");
        assert.equal(socket.enable, true);
        assert.equal(socket.command, "start");
        const s = parseUnit(socket.content ?? "");
        assert.deepEqual(s.Socket?.ListenStream, ["2376"]);
        // "both": IPv4 clients (the elastic IP is IPv4) reach the socket as well as IPv6 ones.
        assert.equal(value(s, "Socket", "BindIPv6Only"), "both");
        assert.equal(value(s, "Socket", "Service"), "docker.service");
        assert.equal(value(s, "Install", "WantedBy"), "sockets.target");
    });

    it("enables docker.service and requires client certificates through its TLS drop-in", () => {
        const d = doc();
        const docker = unit(d, "docker.service");
        assert.equal(docker.enable, true);
        assert.equal(docker.command, "start");
        assert.equal(docker.content, undefined, "Flatcar's own docker.service is kept");
        assert.deepEqual(
            (docker.drop_ins ?? []).map((x) => x.name),
            ["10-tls-verify.conf", "20-data-volume.conf", "30-stop-timeout.conf"],
        );

        const opts = dockerOpts(d);
        assert.ok(opts.includes("--tlsverify"), `--tlsverify in ${opts.join(" ")}`);
        const flag = (name: string) => {
            const found = opts.filter((o) => o.startsWith(`${name}=`));
            assert.equal(found.length, 1, `${name} in ${opts.join(" ")}`);
            return found[0]!.slice(name.length + 1);
        };
        // Each path the daemon reads is a file the document writes, with the right content.
        assert.equal(file(d, flag("--tlscacert")).content, input.caCertPem);
        assert.equal(file(d, flag("--tlscert")).content, input.serverCertPem);
        assert.equal(file(d, flag("--tlskey")).content, input.serverKeyPem);
        assert.equal(file(d, flag("--tlskey")).permissions, "0600");
        assert.ok(!opts.some((o) => /^(-H|--host)\b/.test(o)), "no extra listener in DOCKER_OPTS");
    });

    it("gives Docker longer to stop than any container's grace, MySQL's included, plus dockerd's own 5 s", () => {
        const stop = parseUnit(dropIn(unit(doc(), "docker.service"), "30-stop-timeout.conf"));
        assert.deepEqual(Object.keys(stop), ["Service"]);
        assert.deepEqual(Object.keys(stop.Service!), ["TimeoutStopSec"]);
        const m = /^(\d+)s$/.exec(value(stop, "Service", "TimeoutStopSec"));
        assert.ok(m, value(stop, "Service", "TimeoutStopSec"));
        const seconds = Number(m[1]);
        // dockerd stops the containers in parallel and force-kills after the longest grace + 5 s
        // (moby/moby daemon/daemon.go shutdownTimeout); systemd must not kill dockerd before that.
        for (const [what, grace] of [
            ["MySQL", MYSQL_STOP_GRACE_SECONDS],
            ["nginx", NGINX_STOP_GRACE_SECONDS],
            ["the app (default stopGraceSeconds)", 30],
        ] as const) {
            assert.ok(seconds >= grace + DOCKERD_SHUTDOWN_GRACE_SECONDS + 10, `${seconds}s leaves ${what} (${grace}s) no margin`);
        }
        // Longer than systemd's default (DefaultTimeoutStopSec=90s), which is what Flatcar's unit gets.
        assert.ok(seconds > 90);
    });

    it("starts Docker only once /opt/data is mounted", () => {
        const data = parseUnit(dropIn(unit(doc(), "docker.service"), "20-data-volume.conf"));
        assert.deepEqual(data.Unit?.RequiresMountsFor, ["/opt/data"]);
    });

    it("mounts the volume labelled by the format script at /opt/data, enabled and started", () => {
        const d = doc();
        const mount = unit(d, "opt-data.mount");
        assert.equal(mount.enable, true);
        assert.equal(mount.command, "start");
        const m = parseUnit(mount.content ?? "");
        assert.equal(value(m, "Mount", "Where"), "/opt/data");
        assert.equal(value(m, "Mount", "Type"), "ext4");
        assert.equal(value(m, "Unit", "Requires"), "berth-format-data.service");
        assert.equal(value(m, "Unit", "After"), "berth-format-data.service");
        const label = /^\/dev\/disk\/by-label\/(.+)$/.exec(value(m, "Mount", "What"))?.[1];
        assert.equal(label, "berth-data");
        const script = file(d, "/opt/berth/bin/format-data").content;
        assert.match(script, new RegExp(`mkfs\\.ext4 -q -L ${label} `));
        assert.match(script, new RegExp(`e2label "\\$dev" ${label} `));
    });

    it("tells the format service which volume is the data volume", () => {
        const d = doc();
        const fmt = unit(d, "berth-format-data.service");
        assert.equal(fmt.enable, undefined);
        assert.equal(fmt.command, undefined);
        const vol = parseUnit(dropIn(fmt, "10-volume.conf"));
        assert.deepEqual(vol, { Service: { Environment: [`BERTH_DATA_VOLUME_ID=${VOLUME}`] } });
        const svc = parseUnit(fmt.content ?? "");
        assert.equal(value(svc, "Unit", "Before"), "opt-data.mount");
        assert.equal(value(svc, "Install", "RequiredBy"), "opt-data.mount");
        assert.match(file(d, "/opt/berth/bin/format-data").content, /\$\{BERTH_DATA_VOLUME_ID:\?/);
    });

    it("ships exactly these units, in this order", () => {
        assert.deepEqual(
            doc().coreos.units.map((u) => u.name),
            [
                "berth-format-data.service",
                "opt-data.mount",
                "docker-tls-tcp.socket",
                "docker.service",
                "berth-disk-metrics.service",
                "berth-disk-metrics.timer",
            ],
        );
        assert.deepEqual(
            doc({ dumpBucket: TEST_DUMP_BUCKET })
                .coreos.units.map((u) => u.name)
                .slice(-2),
            ["berth-dumps-sync.service", "berth-dumps-sync.timer"],
        );
    });

    it("carries the SSH keys unchanged", () => {
        assert.deepEqual(doc().ssh_authorized_keys, SSH_KEYS);
        assert.deepEqual(doc({ sshAuthorizedKeys: [] }).ssh_authorized_keys, []);
    });

    it("sets the update strategy and the reboot window", () => {
        assert.deepEqual(doc().coreos.update, { reboot_strategy: "reboot" });
        assert.deepEqual(doc().coreos.locksmith, { window_start: "Sun 04:00", window_length: "1h" });
        const off = doc({
            updateStrategy: "off",
            rebootWindowStart: "Mon 02:30",
            rebootWindowLength: "30m",
        });
        assert.deepEqual(off.coreos.update, { reboot_strategy: "off" });
        assert.deepEqual(off.coreos.locksmith, { window_start: "Mon 02:30", window_length: "30m" });
    });

    it("never mentions the plain-text port 2375, outside the random bytes of the PEMs", () => {
        let text = render();
        for (const pem of [input.caCertPem, input.serverCertPem, input.serverKeyPem]) {
            for (const line of pem.trimEnd().split("\n")) text = text.split(line).join("");
        }
        assert.doesNotMatch(text, /2375/);
        assert.doesNotMatch(text, /tcp:\/\//);
    });

    it("holds no password of any kind", () => {
        assert.doesNotMatch(render(), /password/i);
    });

    it("holds exactly one private key: the daemon's", () => {
        assert.equal(render().match(/PRIVATE KEY-----/g)?.length, 2, "BEGIN and END of one key");
    });

    it("is deterministic: the same input renders byte-identical output", () => {
        const a = render();
        const b = renderCloudConfig({ ...input, sshAuthorizedKeys: [...SSH_KEYS] });
        assert.equal(a, b);
    });

    it("changes with the volume id, and only there", () => {
        const a = render().split("\n");
        const b = render({ dataVolumeId: "vol-0fedcba9876543210" }).split("\n");
        assert.equal(a.length, b.length);
        const diff = a.flatMap((line, i) => (line === b[i] ? [] : [[line, b[i]]]));
        assert.equal(diff.length, 1);
        assert.match(diff[0]![0]!, /BERTH_DATA_VOLUME_ID=vol-0123456789abcdef0/);
        assert.match(diff[0]![1]!, /BERTH_DATA_VOLUME_ID=vol-0fedcba9876543210/);
    });
});

describe("container logs, disk usage and the dumps' copy", () => {
    it("makes awslogs dockerd's default log driver: the stack's group and region, non-blocking, one stream per container", () => {
        const d = doc();
        const daemon = file(d, "/etc/docker/daemon.json");
        assert.equal(daemon.permissions, "0644");
        assert.equal(daemon.owner, "root:root");
        assert.deepStrictEqual(JSON.parse(daemon.content), {
            "log-driver": "awslogs",
            "log-opts": {
                "awslogs-group": "/berth/dev",
                "awslogs-region": "eu-west-1",
                mode: "non-blocking",
                "max-buffer-size": "4m",
                tag: "{{.Name}}",
            },
        });
        // No cache-disabled: dual logging stays on, so `docker logs` still reads every container.
        assert.doesNotMatch(daemon.content, /cache-disabled/);
    });

    it("sets the log driver in daemon.json only: dockerd refuses to start when a flag sets it too", () => {
        const opts = dockerOpts(doc());
        assert.ok(!opts.some((o) => /^--log-(driver|opt)\b/.test(o)), opts.join(" "));
    });

    it("publishes the disk usage every 5 minutes through an enabled, started timer, told the region and the pinned aws-cli image", () => {
        const d = doc();
        const timer = unit(d, "berth-disk-metrics.timer");
        assert.equal(timer.enable, true);
        assert.equal(timer.command, "start");
        const t = parseUnit(timer.content ?? "");
        assert.equal(value(t, "Timer", "OnCalendar"), "*:0/5");
        assert.equal(value(t, "Timer", "Unit"), "berth-disk-metrics.service");
        assert.equal(value(t, "Install", "WantedBy"), "timers.target");

        const service = unit(d, "berth-disk-metrics.service");
        assert.equal(service.enable, undefined, "started by its timer only");
        assert.equal(service.command, undefined);
        const svc = parseUnit(service.content ?? "");
        assert.equal(value(svc, "Service", "Type"), "oneshot");
        const script = file(d, value(svc, "Service", "ExecStart"));
        assert.equal(script.permissions, "0755");
        assert.equal(script.content, fs.readFileSync(path.join(__dirname, "../../cloud-config/disk-metrics.sh"), "utf8"));
        const env = environment(value(parseUnit(dropIn(service, "10-aws.conf")), "Service", "Environment"));
        assert.deepEqual(env, { BERTH_AWS_REGION: "eu-west-1", BERTH_AWS_CLI_IMAGE: AWS_CLI_IMAGE });
        assert.match(AWS_CLI_IMAGE, /^amazon\/aws-cli:2\.\d+\.\d+$/, "pinned by a release tag");
    });

    it("copies the dumps only with a bucket: a script, and a service started every 15 minutes, told the bucket and the dump step's directory", () => {
        const without = doc();
        assert.ok(!without.write_files.some((f) => f.path === "/opt/berth/bin/dumps-sync"));
        assert.ok(!without.coreos.units.some((u) => u.name.startsWith("berth-dumps-sync")));
        assert.doesNotMatch(render(), /s3:\/\/|BERTH_DUMP_BUCKET/);

        const d = doc({ dumpBucket: TEST_DUMP_BUCKET });
        const timer = unit(d, "berth-dumps-sync.timer");
        assert.equal(timer.enable, true);
        assert.equal(timer.command, "start");
        const t = parseUnit(timer.content ?? "");
        assert.equal(value(t, "Timer", "OnCalendar"), "*:0/15");
        assert.equal(value(t, "Timer", "Unit"), "berth-dumps-sync.service");
        const service = unit(d, "berth-dumps-sync.service");
        assert.equal(service.enable, undefined);
        const svc = parseUnit(service.content ?? "");
        const script = file(d, value(svc, "Service", "ExecStart"));
        assert.equal(script.permissions, "0755");
        assert.match(script.content, /s3 sync "\$dir" "s3:\/\/\$bucket\/dumps\/"/);
        assert.match(script.content, /--exclude "\*\.partial"/, "a dump still being written is not copied");
        assert.match(script.content, /--network host/);
        const env = environment(value(parseUnit(dropIn(service, "10-aws.conf")), "Service", "Environment"));
        assert.deepEqual(env, {
            BERTH_DUMP_BUCKET: TEST_DUMP_BUCKET,
            BERTH_DUMPS_DIR: DUMPS_DIR,
            BERTH_AWS_REGION: "eu-west-1",
            BERTH_AWS_CLI_IMAGE: AWS_CLI_IMAGE,
        });
        // The directory the copy reads is the one the dump step writes to on the aws host.
        assert.equal(DUMPS_DIR, DUMPS_HOST_DIR);
    });

    it("holds no AWS credential: the host's tools use the instance role", () => {
        const text = render({ dumpBucket: TEST_DUMP_BUCKET });
        assert.doesNotMatch(text, /AKIA|ASIA[0-9A-Z]{16}|aws_access_key_id|aws_secret_access_key|AWS_SECRET|AWS_SESSION_TOKEN/i);
        assert.equal(text.match(/PRIVATE KEY-----/g)?.length, 2, "still one private key: the daemon's");
    });

    it("refuses a log group, a region or a bucket name that would not be one", () => {
        assert.throws(() => render({ cloudWatch: { logGroup: "/berth/dev\nExecStart=/bin/sh", region: "eu-west-1" } }), {
            message:
                'cloud-config: the log group must be a CloudWatch Logs group name such as "/berth/dev", got "/berth/dev\\nExecStart=/bin/sh"',
        });
        assert.throws(() => render({ cloudWatch: { logGroup: "/berth/dev", region: "eu-west-1 X=1" } }), {
            message: 'cloud-config: the region must look like "eu-west-1", got "eu-west-1 X=1"',
        });
        assert.throws(() => render({ dumpBucket: "Bad_Bucket" }), {
            message: 'cloud-config: dumpBucket must be an S3 bucket name such as "berth-dumps-1a2b3c", got "Bad_Bucket"',
        });
    });
});

describe("renderCloudConfig refuses bad input", () => {
    for (const bad of ["vol-XYZ", "vol-0123", "0123456789abcdef0", "vol-0123456789abcdef0\nExecStart=/bin/sh", ""]) {
        it(`refuses the volume id ${JSON.stringify(bad)}`, () => {
            assert.throws(() => render({ dataVolumeId: bad }), {
                message: `cloud-config: dataVolumeId must look like "vol-0123456789abcdef0", got ${JSON.stringify(bad)}`,
            });
        });
    }

    it("refuses an SSH key with a newline in it", () => {
        for (const key of [`${SSH_KEYS[0]}\nssh-ed25519 AAAA intruder`, `${SSH_KEYS[0]}\r`]) {
            assert.throws(() => render({ sshAuthorizedKeys: [SSH_KEYS[1]!, key] }), {
                message: "cloud-config: an SSH key must be a single line",
            });
        }
    });

    it("refuses a server key that is not a PEM private key", () => {
        for (const bad of ["not a key", input.serverCertPem, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"]) {
            assert.throws(() => render({ serverKeyPem: bad }), {
                message: "cloud-config: serverKeyPem is not a PEM block of the expected kind",
            });
        }
    });

    it("refuses certificates that are not PEM certificates", () => {
        assert.throws(() => render({ caCertPem: input.serverKeyPem }), {
            message: "cloud-config: caCertPem is not a PEM block of the expected kind",
        });
        assert.throws(() => render({ serverCertPem: "" }), {
            message: "cloud-config: serverCertPem is not a PEM block of the expected kind",
        });
    });
});

describe("renderDropIn", () => {
    it("renders one section of Key=value lines", () => {
        assert.equal(
            renderDropIn("Service", { Environment: "A=1", TimeoutStartSec: "600" }),
            "[Service]\nEnvironment=A=1\nTimeoutStartSec=600\n",
        );
    });

    it("refuses a value or key that would inject a line", () => {
        assert.throws(() => renderDropIn("Service", { Environment: "A=1\nExecStartPre=/bin/sh" }), {
            message: "cloud-config: bad drop-in entry Environment",
        });
        assert.throws(() => renderDropIn("Service", { "Exec\nStart": "x" }), {
            message: "cloud-config: bad drop-in entry Exec\nStart",
        });
    });
});
