// Certificates for the nginx HTTPS tests, made with the openssl command line: a throwaway CA and leaves it
// signs for "localhost" and 127.0.0.1, or for given names (P-256 keys, one day), and an install that replaces
// the files the way an ACME client should: write beside, then rename over (a reader never sees a half-written file).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export interface TestCa {
    readonly certPem: string;
    readonly keyFile: string;
    readonly certFile: string;
}

export interface Leaf {
    /** The leaf certificate (PEM), then the CA's: what `fullchain.pem` holds. */
    readonly fullchainPem: string;
    readonly keyPem: string;
    /** Upper-case hex, as Node's getPeerCertificate().serialNumber gives it. */
    readonly serial: string;
}

function openssl(args: readonly string[], cwd: string): string {
    return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A self-signed CA in `dir`. */
export function makeCa(dir: string): TestCa {
    fs.mkdirSync(dir, { recursive: true });
    openssl(
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=Berth test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
    return {
        certPem: fs.readFileSync(path.join(dir, "ca.pem"), "utf8"),
        keyFile: path.join(dir, "ca.key"),
        certFile: path.join(dir, "ca.pem"),
    };
}

let serials = 0;

/**
 * A leaf signed by `ca` for `names` (DNS names and IP addresses; the first is also the subject's CN), by default
 * localhost and 127.0.0.1, with a serial no other leaf of this process has.
 */
export function issueLeaf(ca: TestCa, dir: string, names: readonly string[] = ["localhost", "127.0.0.1"]): Leaf {
    if (names.length === 0 || !names.every((n) => /^[A-Za-z0-9.:-]+$/.test(n))) {
        throw new Error(`issueLeaf: names must be DNS names or IP addresses, at least one, got ${JSON.stringify(names)}`);
    }
    fs.mkdirSync(dir, { recursive: true });
    const serial = `${(0x1000 + (process.pid % 0x1000)).toString(16)}${(++serials).toString(16).padStart(4, "0")}`.toUpperCase();
    const name = `leaf-${serial}`;
    fs.writeFileSync(
        path.join(dir, `${name}.ext`),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" +
            `subjectAltName=${names.map((n) => (net.isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(",")}\n`,
    );
    openssl(
        [
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            `${name}.key`,
            "-out",
            `${name}.csr`,
            "-subj",
            `/CN=${names[0]}`,
        ],
        dir,
    );
    openssl(
        [
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            ca.certFile,
            "-CAkey",
            ca.keyFile,
            "-set_serial",
            `0x${serial}`,
            "-days",
            "1",
            "-extfile",
            `${name}.ext`,
            "-out",
            `${name}.pem`,
        ],
        dir,
    );
    return {
        fullchainPem: fs.readFileSync(path.join(dir, `${name}.pem`), "utf8") + ca.certPem,
        keyPem: fs.readFileSync(path.join(dir, `${name}.key`), "utf8"),
        serial,
    };
}

/**
 * Puts `leaf` in `certDir` as privkey.pem and fullchain.pem: each written to a temporary name, then renamed
 * over the old one; the key first, since fullchain.pem's presence is what turns HTTPS on.
 */
export function installLeaf(certDir: string, leaf: Leaf): void {
    fs.mkdirSync(certDir, { recursive: true });
    for (const [file, pem] of [
        ["privkey.pem", leaf.keyPem],
        ["fullchain.pem", leaf.fullchainPem],
    ] as const) {
        const tmp = path.join(certDir, `.${file}.tmp`);
        fs.writeFileSync(tmp, pem, { mode: 0o600 });
        fs.renameSync(tmp, path.join(certDir, file));
    }
}
