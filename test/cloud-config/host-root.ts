/**
 * Lays a rendered cloud-config out in a directory the way coreos-cloudinit lays it out on the
 * host (write_files at their paths and modes, units and drop-ins under /etc/systemd/system), so
 * `systemd-analyze verify --root` checks exactly what we ship.
 * https://www.flatcar.org/docs/latest/provisioning/cloud-config/
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { renderCloudConfig } from "../../cloud-config/index";
import { issue, makeCa } from "../scripts/pki";

export interface WriteFile {
    path: string;
    permissions: string;
    owner: string;
    content: string;
}

export interface CloudUnit {
    name: string;
    enable?: boolean;
    command?: string;
    content?: string;
    drop_ins?: { name: string; content: string }[];
}

export interface CloudConfigDoc {
    ssh_authorized_keys: string[];
    write_files: WriteFile[];
    coreos: {
        update: { reboot_strategy: string };
        locksmith: { window_start: string; window_length: string };
        units: CloudUnit[];
    };
}

export function loadDoc(text: string): CloudConfigDoc {
    return yaml.load(text) as CloudConfigDoc;
}

/** The log group and region the test documents ship container logs to. */
export const TEST_CLOUD_WATCH = { logGroup: "/berth/dev", region: "eu-west-1" } as const;
/** The dumps bucket of the test documents (a name Pulumi could have generated). */
export const TEST_DUMP_BUCKET = "host-dumps-1234567";

/**
 * The cloud-config for a host at 203.0.113.10, rendered with fresh test TLS material and parsed; with the
 * dumps' copy on, so every unit the renderer can ship is there.
 */
export function renderTestDoc(caName: string): CloudConfigDoc {
    const ca = makeCa(caName);
    const server = issue(ca, "berth docker daemon", "server_auth", ["203.0.113.10"]);
    return loadDoc(
        renderCloudConfig({
            caCertPem: ca.certPem,
            serverCertPem: server.certPem,
            serverKeyPem: server.keyPem,
            sshAuthorizedKeys: [],
            dataVolumeId: "vol-0123456789abcdef0",
            updateStrategy: "reboot",
            cloudWatch: TEST_CLOUD_WATCH,
            dumpBucket: TEST_DUMP_BUCKET,
        }),
    );
}

export const UNIT_DIR = "/etc/systemd/system";
export const VENDOR_UNIT_DIR = "/usr/lib/systemd/system";

/**
 * Flatcar ships docker.service itself; this machine has none. The stand-in carries the parts of
 * Flatcar's unit our drop-ins and the boot rely on (flatcar/scripts
 * sdk_container/src/third_party/coreos-overlay/coreos/sysext/docker/usr/lib/systemd/system/docker.service):
 * dockerd started with $DOCKER_OPTS on the activated sockets, only dockerd signalled on stop, no
 * stop timeout of its own, and wanted by multi-user.target once enabled.
 */
export const DOCKER_SERVICE_STAND_IN = [
    "[Unit]",
    "Description=Docker Application Container Engine (stand-in for Flatcar's unit)",
    "After=containerd.service network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=notify",
    "ExecStart=/usr/bin/dockerd --host=fd:// $DOCKER_OPTS",
    "KillMode=process",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
].join("\n");

export interface Layout {
    root: string;
    /** Absolute paths (on this machine) of the unit files written, by unit name. */
    unitPaths: Record<string, string>;
}

export interface LayoutOptions {
    /** Write the docker.service stand-in and a stand-in dockerd. Default true. */
    dockerStandIn?: boolean;
    /** Leave these write_files paths out. */
    skipFiles?: string[];
}

/** A fresh temp root holding this machine's vendor units and the document's files and units. */
export function layOut(doc: CloudConfigDoc, opts: LayoutOptions = {}): Layout {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-units-"));
    const at = (p: string) => path.join(root, p);
    // The vendor units (sysinit.target, sockets.target, ...) the shipped units depend on.
    fs.cpSync(VENDOR_UNIT_DIR, at(VENDOR_UNIT_DIR), { recursive: true, verbatimSymlinks: true });
    for (const f of doc.write_files) {
        if (opts.skipFiles?.includes(f.path)) continue;
        fs.mkdirSync(path.dirname(at(f.path)), { recursive: true });
        fs.writeFileSync(at(f.path), f.content, { mode: parseInt(f.permissions, 8) });
        fs.chmodSync(at(f.path), parseInt(f.permissions, 8));
    }
    const unitPaths: Record<string, string> = {};
    for (const u of doc.coreos.units) {
        if (u.content !== undefined) {
            fs.mkdirSync(at(UNIT_DIR), { recursive: true });
            fs.writeFileSync(at(path.join(UNIT_DIR, u.name)), u.content);
            unitPaths[u.name] = at(path.join(UNIT_DIR, u.name));
        }
        for (const d of u.drop_ins ?? []) {
            fs.mkdirSync(at(path.join(UNIT_DIR, `${u.name}.d`)), { recursive: true });
            fs.writeFileSync(at(path.join(UNIT_DIR, `${u.name}.d`, d.name)), d.content);
        }
    }
    if (opts.dockerStandIn ?? true) {
        fs.writeFileSync(at(path.join(VENDOR_UNIT_DIR, "docker.service")), DOCKER_SERVICE_STAND_IN);
        fs.mkdirSync(at("/usr/bin"), { recursive: true });
        fs.writeFileSync(at("/usr/bin/dockerd"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        unitPaths["docker.service"] ??= at(path.join(VENDOR_UNIT_DIR, "docker.service"));
    }
    return { root, unitPaths };
}

export interface VerifyResult {
    status: number | null;
    stderr: string;
    stdout: string;
}

/** `systemd-analyze verify` of the given unit files, resolved inside `root`. */
export function verify(root: string, unitFiles: string[]): VerifyResult {
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...unitFiles], {
        encoding: "utf8",
        env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "cat" },
    });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/**
 * `systemctl --root=ROOT enable` of the units the document enables, as coreos-cloudinit's
 * EnableUnitFile does on the host (D-Bus EnableUnitFiles, runtime=false, force=true): the
 * [Install] links that make systemd start them at every boot, whatever cloudinit does.
 */
export function enableUnits(root: string, units: string[]): VerifyResult {
    const r = spawnSync("systemctl", [`--root=${root}`, "enable", "--force", ...units], {
        encoding: "utf8",
        env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "cat" },
    });
    if (r.error) throw r.error;
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}
