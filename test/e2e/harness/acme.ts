// ACME for the e2e suite's HTTPS drills: Let's Encrypt's test server pebble (always the stand-in, it is a
// fixture and never the product's image) on a Docker network, the lego client as the product runs it
// (goacme/lego, or its stand-in), and a check of an issued chain against pebble's root.
import { X509Certificate } from "node:crypto";
import { promises as fs } from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import type { Engine } from "./engine";
import { ensureImage, standinImage } from "./images";
import { describeFailure, run, waitFor, type RunResult } from "./proc";

/** The product's ACME client image; its stand-in runs the same lego version (Debian sid's). */
export const LEGO_IMAGE = "goacme/lego:v4.35.2";

export function legoImage(engine: Engine): Promise<string> {
    return ensureImage(engine, LEGO_IMAGE, "lego");
}

/** Where pebble's files go in its container (the stand-in's CMD reads the config there). */
const PEBBLE_DIR = "/etc/pebble";
/** Where runLego puts the CA of pebble's listener in the lego container. */
const LEGO_CA_FILE = "/etc/berth-acme-ca.pem";

export interface PebbleOptions {
    /** Container name; also pebble's DNS name on the network and the name its listener certificate is for. */
    name: string;
    /**
     * Names pebble resolves to fixed IPv4 addresses (written to its /etc/hosts with `--add-host`), e.g.
     * `{ "app.berth.test": nginxIp }`. Other names go to Docker's DNS (127.0.0.11), so a network alias
     * works as well: without `-dnsserver` pebble uses the system resolver (pebble's README, "Default DNS").
     */
    dnsFor?: Readonly<Record<string, string>>;
    /** Extra environment (PEBBLE_*), over the defaults below. */
    env?: Readonly<Record<string, string>>;
    /** Certificate lifetime of the default profile, in seconds. Default 90 days, as Let's Encrypt's. */
    validitySeconds?: number;
    /**
     * The listener's TLS files (pebbleListener), so a restarted pebble keeps the HTTPS identity its clients
     * trust. Default: new ones, removed with the container.
     */
    listener?: PebbleListener;
}

/** A CA and pebble's listener certificate and key for `name`, in `dir` (pebble's package ships none). */
export interface PebbleListener {
    dir: string;
    caPem: string;
    remove(): Promise<void>;
}

export async function pebbleListener(name: string): Promise<PebbleListener> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-pebble-listener-"));
    const tls = await listenerTls(dir, name);
    return { dir: tls.dir, caPem: tls.caPem, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

export interface Pebble {
    container: string;
    /** The ACME directory for containers on the network: https://NAME:14000/dir. */
    directoryUrl: string;
    /** CA of pebble's HTTPS listener, for the client's trust (lego: LEGO_CA_CERTIFICATES). */
    tlsCaPem: string;
    /** Root that issued certificates chain to (management API /roots/0; pebble makes a new one per start). */
    rootPem: string;
    logs(): Promise<string>;
    /** Removes the container and the local TLS files. */
    stop(): Promise<void>;
}

/**
 * Pebble on `network`, ready to serve: HTTP-01 validated on port 80 (`httpPort`), no artificial sleeps
 * (PEBBLE_VA_NOSLEEP), no rejected nonces (PEBBLE_WFE_NONCEREJECT=0) and no reused authorizations
 * (PEBBLE_AUTHZREUSE=0, so every order, a renewal's too, is validated). Variables: pebble's README.
 */
export async function startPebble(engine: Engine, network: string, opts: PebbleOptions): Promise<Pebble> {
    const image = await standinImage(engine, "pebble");
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-pebble-"));
    const container = opts.name;
    let created = false;
    const stop = async () => {
        if (created) await engine.docker(["rm", "-fv", container], { timeoutMs: 60_000 });
        await fs.rm(dir, { recursive: true, force: true });
    };
    try {
        const tls = opts.listener ?? (await listenerTls(dir, opts.name));
        const config = {
            pebble: {
                listenAddress: "0.0.0.0:14000",
                managementListenAddress: "0.0.0.0:15000",
                certificate: `${PEBBLE_DIR}/cert.pem`,
                privateKey: `${PEBBLE_DIR}/key.pem`,
                httpPort: 80,
                tlsPort: 443,
                ocspResponderURL: "",
                externalAccountBindingRequired: false,
                retryAfter: { authz: 1, order: 1 },
                keyAlgorithm: "ecdsa",
                profiles: { default: { description: "berth e2e", validityPeriod: opts.validitySeconds ?? 90 * 86_400 } },
            },
        };
        // Beside the listener's files, in a directory of this start's own (a shared listener is only read).
        const files = path.join(dir, "files");
        await fs.mkdir(files);
        for (const f of ["cert.pem", "key.pem"]) await fs.copyFile(path.join(tls.dir, f), path.join(files, f));
        await fs.writeFile(path.join(files, "pebble-config.json"), JSON.stringify(config, null, 2));
        const env = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0", ...opts.env };
        const args = ["create", "--name", container, "--network", network, "-p", "127.0.0.1:0:14000", "-p", "127.0.0.1:0:15000"];
        for (const [k, v] of Object.entries(env)) args.push("-e", `${k}=${v}`);
        for (const [host, ip] of Object.entries(opts.dnsFor ?? {})) args.push("--add-host", `${host}:${ip}`);
        await docker(engine, [...args, image]);
        created = true;
        // `docker cp DIR/. C:/etc/pebble` copies the directory's content (docs.docker.com/reference/cli/docker/container/cp/).
        await docker(engine, ["cp", `${files}/.`, `${container}:${PEBBLE_DIR}`]);
        await docker(engine, ["start", container]);

        const published = async (port: number) => {
            const out = await docker(engine, ["port", container, `${port}/tcp`]);
            const hostPort = out.split("\n").find((l) => l.startsWith("127.0.0.1:"));
            if (!hostPort) throw new Error(`pebble's port ${port} is not published on 127.0.0.1: ${out}`);
            return hostPort;
        };
        const directory = await published(14000);
        const management = await published(15000);
        const get = (hostPort: string, p: string) => httpsGet(`https://${hostPort}${p}`, tls.caPem, opts.name);
        const logs = async () => {
            const r = await engine.docker(["logs", container], { timeoutMs: 30_000 });
            return r.stdout + r.stderr;
        };
        const rootPem = await waitFor(
            "pebble to serve its directory and its root",
            60_000,
            async () => {
                const state = (await docker(engine, ["inspect", "--format", "{{.State.Status}}", container])).trim();
                if (state !== "running") throw new Error(`pebble is ${state}:\n${await logs()}`);
                const dirDoc = await get(directory, "/dir");
                if (dirDoc.status !== 200 || !(JSON.parse(dirDoc.body) as { newOrder?: string }).newOrder) return undefined;
                const root = await get(management, "/roots/0");
                return root.status === 200 && root.body.includes("BEGIN CERTIFICATE") ? root.body : undefined;
            },
            250,
        ).catch(async (e: Error) => {
            throw new Error(`${e.message}\npebble's log:\n${await logs()}`);
        });
        return { container, directoryUrl: `https://${opts.name}:14000/dir`, tlsCaPem: tls.caPem, rootPem, logs, stop };
    } catch (e) {
        await stop();
        throw e;
    }
}

export interface LegoRunOptions {
    /** Container name (removed when lego ends). */
    name: string;
    network: string;
    /** `-v` values, e.g. `["acme-webroot:/acme", "acme-data:/data"]`. */
    volumes: readonly string[];
    /** Trusted for the ACME server's HTTPS, through LEGO_CA_CERTIFICATES (lego's lego/client_config.go). */
    caPem: string;
    /** lego's arguments (the image's entrypoint is lego). */
    args: readonly string[];
    timeoutMs?: number;
}

/** One lego run to its end; the result carries lego's output and exit code. */
export async function runLego(engine: Engine, image: string, opts: LegoRunOptions): Promise<RunResult> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-lego-"));
    try {
        const ca = path.join(dir, "ca.pem");
        await fs.writeFile(ca, opts.caPem);
        const volumes = opts.volumes.flatMap((v) => ["-v", v]);
        await docker(engine, [
            "create",
            "--name",
            opts.name,
            "--network",
            opts.network,
            ...volumes,
            "-e",
            `LEGO_CA_CERTIFICATES=${LEGO_CA_FILE}`,
            image,
            ...opts.args,
        ]);
        await docker(engine, ["cp", ca, `${opts.name}:${LEGO_CA_FILE}`]);
        // `start -a` exits with the container's code (docs.docker.com/reference/cli/docker/container/start/).
        return await engine.docker(["start", "-a", opts.name], { timeoutMs: opts.timeoutMs ?? 120_000 });
    } finally {
        await engine.docker(["rm", "-fv", opts.name], { timeoutMs: 60_000 });
        await fs.rm(dir, { recursive: true, force: true });
    }
}

export interface VerifiedChain {
    leaf: X509Certificate;
    /** The leaf's serial number (hex, as node:crypto gives it). */
    serial: string;
}

/**
 * Checks that `chainPem` (leaf first, then its issuers, as lego's `certificates/NAME.crt`) is a chain of
 * signatures ending at `rootPem`, valid now, with a leaf for `host`. Throws with what is wrong.
 */
export function verifyChain(chainPem: string, rootPem: string, host: string, now = new Date()): VerifiedChain {
    const certs = pemBlocks(chainPem).map((p) => new X509Certificate(p));
    const root = new X509Certificate(rootPem);
    const leaf = certs[0];
    if (!leaf) throw new Error("the chain holds no certificate");
    const chain = [...certs, root];
    for (let i = 0; i + 1 < chain.length; i++) {
        const cert = chain[i] as X509Certificate;
        const issuer = chain[i + 1] as X509Certificate;
        if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
            throw new Error(`certificate ${i} (${cert.subject}) is not signed by ${issuer.subject}`);
        }
    }
    for (const cert of chain) {
        if (new Date(cert.validFrom) > now || new Date(cert.validTo) < now) {
            throw new Error(`${cert.subject} is valid ${cert.validFrom} to ${cert.validTo}, not now`);
        }
    }
    if (!root.verify(root.publicKey)) throw new Error(`the root ${root.subject} is not self-signed`);
    if (leaf.checkHost(host) === undefined) throw new Error(`the leaf is not for ${host}: ${leaf.subjectAltName ?? leaf.subject}`);
    return { leaf, serial: leaf.serialNumber };
}

export function pemBlocks(pem: string): string[] {
    return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function docker(engine: Engine, args: string[]): Promise<string> {
    const r = await engine.docker(args, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(describeFailure("docker", args, r));
    return r.stdout;
}

/** A CA and pebble's listener certificate for `name` (pebble's package ships none), valid for a day. */
async function listenerTls(dir: string, name: string): Promise<{ dir: string; caPem: string }> {
    const files = path.join(dir, "pebble");
    await fs.mkdir(files);
    const openssl = (args: string[]) => run("openssl", args, { check: true, cwd: dir });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl([
        "req",
        "-x509",
        ...ec,
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=berth pebble listener CA",
    ]);
    await openssl(["req", ...ec, "-keyout", path.join(files, "key.pem"), "-out", "server.csr", "-subj", `/CN=${name}`]);
    await fs.writeFile(path.join(dir, "server.ext"), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`);
    const sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "1"];
    await openssl([...sign, "-extfile", "server.ext", "-out", path.join(files, "cert.pem")]);
    return { dir: files, caPem: await fs.readFile(path.join(dir, "ca.pem"), "utf8") };
}

/** pebble answers 400 to a request without a User-Agent (RFC 8555 §6.1: clients MUST send one). */
function httpsGet(url: string, ca: string, servername: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { ca, servername, timeout: 5_000, agent: false, headers: { "user-agent": "berth-e2e" } }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (b: Buffer) => chunks.push(b));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
        req.on("error", reject);
    });
}
