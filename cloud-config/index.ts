/**
 * Renders the host's user data: a `#cloud-config` document for Flatcar's coreos-cloudinit, built as
 * an object and serialised with js-yaml. Pure: plain values in, a string out.
 * https://www.flatcar.org/docs/latest/provisioning/cloud-config/
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

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
    command?: "start" | "restart";
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
            // Enabled so the daemon, and with it every container's restart policy, comes back after a reboot.
            name: "docker.service",
            command: "restart",
            enable: true,
            drop_ins: [
                { name: "10-tls-verify.conf", content: unit("10-tls-verify.conf") },
                { name: "20-data-volume.conf", content: unit("20-data-volume.conf") },
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
