/**
 * Renders the host's user data: a `#cloud-config` document for Flatcar's coreos-cloudinit, built as
 * an object and serialised with js-yaml. Pure: plain values in, a string out.
 * https://www.flatcar.org/docs/latest/provisioning/cloud-config/
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { MYSQL_STOP_GRACE_SECONDS } from "../infra/deploy/spec";

/** Unit files kept as real files next to this module (each passes `systemd-analyze verify`). */
export const UNIT_DIR = path.join(__dirname, "units");
const unit = (name: string) => fs.readFileSync(path.join(UNIT_DIR, name), "utf8");
const script = (name: string) => fs.readFileSync(path.join(__dirname, name), "utf8");
const FORMAT_SCRIPT = script("format-data.sh");
const DISK_METRICS_SCRIPT = script("disk-metrics.sh");
const DUMPS_SYNC_SCRIPT = script("dumps-sync.sh");

/** Where the Docker daemon's TLS material lives on the host (the drop-in points here). */
export const DOCKER_TLS_PATHS = {
    ca: "/etc/docker/ca.pem",
    cert: "/etc/docker/server.pem",
    key: "/etc/docker/server-key.pem",
} as const;

/** dockerd's configuration file: the default `--config-file`, which Flatcar's docker.service does not change. */
export const DOCKER_DAEMON_JSON = "/etc/docker/daemon.json";

/**
 * The disk-usage metric the host publishes and the disk alarms read: namespace, name, unit, and the
 * paths it is published for (each a `Path` dimension, beside `InstanceId`).
 */
export const METRIC_NAMESPACE = "Berth";
export const DISK_METRIC = { namespace: METRIC_NAMESPACE, name: "DiskUsedPercent", unit: "Percent", paths: ["/", "/opt/data"] } as const;

/**
 * The AWS CLI the host runs for its metrics and the dumps' copy, pinned (the official image, published for
 * amd64 and arm64): https://hub.docker.com/r/amazon/aws-cli
 */
export const AWS_CLI_IMAGE = "amazon/aws-cli:2.37.5";

/** Where the dump step writes on the host (the data volume), and so what the dumps' copy reads. */
export const DUMPS_DIR = "/opt/data/berth/dumps";

/**
 * dockerd's own addition to the longest container stop timeout when it shuts down: it stops every
 * container in parallel, each with its own grace, and force-kills what is left after the longest
 * grace plus 5 s (moby/moby daemon/daemon.go, `(*Daemon).shutdownTimeout`: `graceTimeout := 5`).
 */
export const DOCKERD_SHUTDOWN_GRACE_SECONDS = 5;
/** Time for dockerd to exit once its containers are down (unmounts, network teardown). */
export const DOCKER_STOP_MARGIN_SECONDS = 30;
/**
 * systemd's stop timeout for docker.service. Flatcar's unit sets none (flatcar/scripts
 * sdk_container/src/third_party/coreos-overlay/coreos/sysext/docker/usr/lib/systemd/system/docker.service),
 * so systemd's default of 90 s would kill dockerd while MySQL is still inside its grace, and the
 * shutdown then kills whatever is left.
 * MySQL has the longest grace of the containers Berth runs; the app's grace is the operator's
 * `stopGraceSeconds` (default 30), and a longer one is cut here at host shutdown, never MySQL's.
 */
export const DOCKER_STOP_TIMEOUT_SECONDS = MYSQL_STOP_GRACE_SECONDS + DOCKERD_SHUTDOWN_GRACE_SECONDS + DOCKER_STOP_MARGIN_SECONDS;

export interface CloudConfigInput {
    /** PEM of the CA that signs the client certificates the daemon accepts. */
    caCertPem: string;
    /** PEM of the daemon's server certificate. */
    serverCertPem: string;
    /** PEM of the daemon's private key: the one secret in the user data. */
    serverKeyPem: string;
    /** OpenSSH public keys for the `core` user. */
    sshAuthorizedKeys: readonly string[];
    /** EBS volume id of the data volume, e.g. "vol-0123456789abcdef0". */
    dataVolumeId: string;
    /** "reboot": apply Flatcar updates in the maintenance window; "off": never reboot for them. */
    updateStrategy: "reboot" | "off";
    /** Maintenance window start for update reboots. Default "Sun 04:00" (UTC). */
    rebootWindowStart?: string;
    /** Maintenance window length. Default "1h". */
    rebootWindowLength?: string;
    /**
     * The stack's CloudWatch Logs group, where dockerd ships every container's output, and the provider's
     * region, where that group is and where the disk usage is published.
     */
    cloudWatch: { logGroup: string; region: string };
    /** The bucket the dumps are copied to every 15 minutes; undefined: no copy. */
    dumpBucket?: string;
}

interface WriteFile {
    path: string;
    permissions: string;
    owner: string;
    content: string;
}

interface Unit {
    name: string;
    enable?: boolean;
    /** Only "start": coreos-cloudinit sends it at every boot, and only "start" is a no-op on a running unit. */
    command?: "start";
    content?: string;
    drop_ins?: { name: string; content: string }[];
}

function requirePem(name: string, pem: string, kind: RegExp): string {
    if (!kind.test(pem.trim())) throw new Error(`cloud-config: ${name} is not a PEM block of the expected kind`);
    return pem.endsWith("\n") ? pem : `${pem}\n`;
}

/** A systemd drop-in from key/value pairs; values are validated so no line can be injected. */
export function renderDropIn(section: string, entries: Record<string, string>): string {
    const lines = Object.entries(entries).map(([k, v]) => {
        if (!/^[A-Za-z]+$/.test(k) || /[\r\n]/.test(v)) throw new Error(`cloud-config: bad drop-in entry ${k}`);
        return `${k}=${v}`;
    });
    return [`[${section}]`, ...lines, ""].join("\n");
}

/**
 * dockerd's daemon.json: the awslogs driver by default, so every container, one-shots included, ships its
 * output to the stack's log group, one stream per container named after it (`tag`: the stream name,
 * https://docs.docker.com/engine/logging/drivers/awslogs/#tag). `docker logs` keeps working: for a driver
 * that cannot read logs back, dockerd keeps a local cache on by default (dual logging,
 * https://docs.docker.com/engine/logging/dual-logging/). Non-blocking: a slow CloudWatch never stalls a
 * container's writes; past the 4 MB buffer, lines are dropped
 * (https://docs.docker.com/engine/logging/configure/#configure-the-delivery-mode-of-log-messages-from-container-to-log-driver).
 * Credentials come from the instance role through IMDSv2, which dockerd, on the host's network, reaches
 * within the hop limit of 1.
 */
export function renderDaemonJson(cloudWatch: CloudConfigInput["cloudWatch"]): string {
    const config = {
        "log-driver": "awslogs",
        "log-opts": {
            "awslogs-group": cloudWatch.logGroup,
            "awslogs-region": cloudWatch.region,
            mode: "non-blocking",
            "max-buffer-size": "4m",
            tag: "{{.Name}}",
        },
    };
    return `${JSON.stringify(config, null, 2)}\n`;
}

function checkDay2(input: CloudConfigInput): void {
    const { logGroup, region } = input.cloudWatch;
    // CloudWatch Logs' group names (CreateLogGroup, logGroupName): 1 to 512 of these characters.
    if (!/^[A-Za-z0-9_\-/.#]{1,512}$/.test(logGroup)) {
        throw new Error(
            `cloud-config: the log group must be a CloudWatch Logs group name such as "/berth/dev", got ${JSON.stringify(logGroup)}`,
        );
    }
    if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region)) {
        throw new Error(`cloud-config: the region must look like "eu-west-1", got ${JSON.stringify(region)}`);
    }
    // S3 bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end.
    if (input.dumpBucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(input.dumpBucket)) {
        throw new Error(
            `cloud-config: dumpBucket must be an S3 bucket name such as "berth-dumps-1a2b3c", got ${JSON.stringify(input.dumpBucket)}`,
        );
    }
}

export function renderCloudConfig(input: CloudConfigInput): string {
    checkDay2(input);
    if (!/^vol-[0-9a-f]{8,17}$/.test(input.dataVolumeId)) {
        throw new Error(`cloud-config: dataVolumeId must look like "vol-0123456789abcdef0", got ${JSON.stringify(input.dataVolumeId)}`);
    }
    for (const key of input.sshAuthorizedKeys) {
        if (/[\r\n]/.test(key)) throw new Error("cloud-config: an SSH key must be a single line");
    }
    const files: WriteFile[] = [
        {
            path: DOCKER_TLS_PATHS.ca,
            permissions: "0644",
            owner: "root:root",
            content: requirePem("caCertPem", input.caCertPem, /^-----BEGIN CERTIFICATE-----/),
        },
        {
            path: DOCKER_TLS_PATHS.cert,
            permissions: "0644",
            owner: "root:root",
            content: requirePem("serverCertPem", input.serverCertPem, /^-----BEGIN CERTIFICATE-----/),
        },
        {
            path: DOCKER_TLS_PATHS.key,
            permissions: "0600",
            owner: "root:root",
            content: requirePem("serverKeyPem", input.serverKeyPem, /^-----BEGIN (RSA |EC )?PRIVATE KEY-----/),
        },
        { path: "/opt/berth/bin/format-data", permissions: "0755", owner: "root:root", content: FORMAT_SCRIPT },
        { path: DOCKER_DAEMON_JSON, permissions: "0644", owner: "root:root", content: renderDaemonJson(input.cloudWatch) },
        { path: "/opt/berth/bin/disk-metrics", permissions: "0755", owner: "root:root", content: DISK_METRICS_SCRIPT },
        ...(input.dumpBucket === undefined
            ? []
            : [{ path: "/opt/berth/bin/dumps-sync", permissions: "0755", owner: "root:root", content: DUMPS_SYNC_SCRIPT }]),
    ];
    const awsCli = `BERTH_AWS_REGION=${input.cloudWatch.region} BERTH_AWS_CLI_IMAGE=${AWS_CLI_IMAGE}`;
    const units: Unit[] = [
        {
            name: "berth-format-data.service",
            content: unit("berth-format-data.service"),
            drop_ins: [
                { name: "10-volume.conf", content: renderDropIn("Service", { Environment: `BERTH_DATA_VOLUME_ID=${input.dataVolumeId}` }) },
            ],
        },
        { name: "opt-data.mount", command: "start", enable: true, content: unit("opt-data.mount") },
        { name: "docker-tls-tcp.socket", command: "start", enable: true, content: unit("docker-tls-tcp.socket") },
        {
            // Flatcar runs coreos-cloudinit again at every boot (flatcar/init
            // systemd/system/oem-cloudinit.service, WantedBy=multi-user.target), and it sends each unit's
            // `command` to systemd every time (flatcar/coreos-cloudinit initialize/config.go
            // processUnits → system/systemd.go RunUnitCommand). "restart" would stop and start Docker,
            // and every container, on each boot; "start" of an active unit is a no-op
            // (systemd/systemd src/core/job.c job_type_is_redundant). Enabled, so systemd itself
            // starts the daemon at boot and every container's restart policy holds.
            // Not ordered After=oem-cloudinit.service: RunUnitCommand waits for the start job to
            // finish, and that job would wait for oem-cloudinit: a deadlock on the first boot.
            name: "docker.service",
            command: "start",
            enable: true,
            drop_ins: [
                { name: "10-tls-verify.conf", content: unit("10-tls-verify.conf") },
                { name: "20-data-volume.conf", content: unit("20-data-volume.conf") },
                { name: "30-stop-timeout.conf", content: renderDropIn("Service", { TimeoutStopSec: `${DOCKER_STOP_TIMEOUT_SECONDS}s` }) },
            ],
        },
        {
            name: "berth-disk-metrics.service",
            content: unit("berth-disk-metrics.service"),
            drop_ins: [{ name: "10-aws.conf", content: renderDropIn("Service", { Environment: awsCli }) }],
        },
        // Enabled (timers.target wants it) and started: "start" of an active timer is a no-op at later boots.
        { name: "berth-disk-metrics.timer", command: "start", enable: true, content: unit("berth-disk-metrics.timer") },
        ...(input.dumpBucket === undefined
            ? []
            : [
                  {
                      name: "berth-dumps-sync.service",
                      content: unit("berth-dumps-sync.service"),
                      drop_ins: [
                          {
                              name: "10-aws.conf",
                              content: renderDropIn("Service", {
                                  Environment: `BERTH_DUMP_BUCKET=${input.dumpBucket} BERTH_DUMPS_DIR=${DUMPS_DIR} ${awsCli}`,
                              }),
                          },
                      ],
                  },
                  { name: "berth-dumps-sync.timer", command: "start" as const, enable: true, content: unit("berth-dumps-sync.timer") },
              ]),
    ];
    const doc = {
        ssh_authorized_keys: [...input.sshAuthorizedKeys],
        write_files: files,
        coreos: {
            update: { reboot_strategy: input.updateStrategy },
            locksmith: {
                window_start: input.rebootWindowStart ?? "Sun 04:00",
                window_length: input.rebootWindowLength ?? "1h",
            },
            units,
        },
    };
    return `#cloud-config\n${yaml.dump(doc, { lineWidth: -1, noRefs: true, sortKeys: false })}`;
}
