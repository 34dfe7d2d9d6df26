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
const FORMAT_SCRIPT = fs.readFileSync(path.join(__dirname, "format-data.sh"), "utf8");

/** Where the Docker daemon's TLS material lives on the host (the drop-in points here). */
export const DOCKER_TLS_PATHS = {
    ca: "/etc/docker/ca.pem",
    cert: "/etc/docker/server.pem",
    key: "/etc/docker/server-key.pem",
} as const;

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

export function renderCloudConfig(input: CloudConfigInput): string {
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
    ];
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
