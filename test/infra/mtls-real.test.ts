// Real mutual TLS: the whole program runs under mocks whose TLS resources use real cryptography, with the
// elastic IP mocked as 127.0.0.1 so the server certificate names the address a local daemon listens on.
// A private dockerd then runs with the server files exactly as the rendered cloud-config writes them and
// the flags exactly as its docker.service drop-in sets them, and real clients knock on its TLS port:
// the program's client material gets in (CA and address verified), everything else is refused.
import { strict as assert } from "node:assert";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import forge from "node-forge";
import { one, runProgram, BASE_CONFIG, type ProgramResult } from "../support/program";
import { mockPublicDns } from "../support/mocks";
import { certRequest, locallySignedCert, privateKey, selfSignedCert } from "../support/tls-crypto";
import { dockerOptsArgv, dropIn, parseCloudConfig, relocateFlagPaths, writeHostFiles, type WrittenFile } from "../support/mtls/host-files";
import { freePort, isolatedClientEnv, onPath, run, startDockerd, type PrivateDockerd, type RunResult } from "../support/mtls/dockerd";

const HOST_IP = "127.0.0.1";
const HOST_DNS = mockPublicDns(HOST_IP);
const ETC_DOCKER = "/etc/docker/";
/** What the host's paths are in the cloud-config (and so in the drop-in's flags). */
const SERVER_FILES = { ca: "/etc/docker/ca.pem", cert: "/etc/docker/server.pem", key: "/etc/docker/server-key.pem" };

/** Why this machine cannot run the test, or undefined. In CI a missing prerequisite fails instead. */
function missingPrerequisite(): string | undefined {
    if (process.platform !== "linux") return "a private dockerd needs Linux";
    if (process.getuid?.() !== 0) return "a private dockerd needs root";
    for (const cmd of ["dockerd", "containerd", "docker"]) if (!onPath(cmd)) return `${cmd} is not on PATH`;
    return undefined;
}
const missing = missingPrerequisite();
const skip = missing !== undefined && process.env.CI !== "true" ? missing : false;

interface ClientMaterial {
    ca: string;
    cert: string;
    key: string;
}

/** A DOCKER_CERT_PATH directory as the docker CLI expects it. */
function certDir(dir: string, m: Partial<ClientMaterial>): string {
    fs.mkdirSync(dir, { recursive: true });
    if (m.ca) fs.writeFileSync(path.join(dir, "ca.pem"), m.ca);
    if (m.cert) fs.writeFileSync(path.join(dir, "cert.pem"), m.cert);
    if (m.key) fs.writeFileSync(path.join(dir, "key.pem"), m.key, { mode: 0o600 });
    return dir;
}

/** Client material signed by a CA of its own that carries the same names as the program's CA. */
function impostorMaterial(realCaPem: string): ClientMaterial {
    const real = forge.pki.certificateFromPem(realCaPem);
    const subject = {
        commonName: String((real.subject.getField("CN") as forge.pki.CertificateField | null)?.value),
        organization: String((real.subject.getField("O") as forge.pki.CertificateField | null)?.value),
    };
    const caKey = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
    const caCert = String(
        selfSignedCert({
            privateKeyPem: caKey,
            isCaCertificate: true,
            validityPeriodHours: 24,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            subject,
        }).certPem,
    );
    const key = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
    const csr = String(
        certRequest({ privateKeyPem: key, subject: { commonName: "berth-dev operator", organization: subject.organization } })
            .certRequestPem,
    );
    const cert = String(
        locallySignedCert({
            certRequestPem: csr,
            caCertPem: caCert,
            caPrivateKeyPem: caKey,
            validityPeriodHours: 24,
            allowedUses: ["digital_signature", "key_encipherment", "client_auth"],
        }).certPem,
    );
    return { ca: caCert, cert, key };
}

/** A key and a certificate for it signed by `issuer` (any certificate and its key), as @pulumi/tls would sign it. */
function signedBy(
    issuer: { cert: string; key: string },
    commonName: string,
    uses: string[],
    ipAddresses: string[] = [],
): { cert: string; key: string } {
    const key = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
    const csr = String(certRequest({ privateKeyPem: key, subject: { commonName }, ipAddresses }).certRequestPem);
    const cert = String(
        locallySignedCert({
            certRequestPem: csr,
            caCertPem: issuer.cert,
            caPrivateKeyPem: issuer.key,
            validityPeriodHours: 24,
            allowedUses: uses,
        }).certPem,
    );
    return { cert, key };
}

interface TlsServer {
    port: number;
    close(): Promise<void>;
}

/** A TLS server on HOST_IP presenting `cert` (with any chain after it) that answers "OK" to anything. */
async function tlsServer(cert: string, key: string): Promise<TlsServer> {
    const srv = https.createServer({ cert, key }, (_req, res) => res.end("OK"));
    await new Promise<void>((resolve) => srv.listen(0, HOST_IP, resolve));
    return {
        port: (srv.address() as net.AddressInfo).port,
        close: () => new Promise((resolve) => srv.close(() => resolve())),
    };
}

/** GET /_ping from Node (OpenSSL's verification) with client material; the error when refused. */
function nodeGet(port: number, m: Partial<ClientMaterial>, extra: https.RequestOptions = {}): Promise<{ body?: string; error?: string }> {
    return new Promise((resolve) => {
        const req = https.get({ host: HOST_IP, port, path: "/_ping", ...m, timeout: 15_000, ...extra }, (res) => {
            let b = "";
            res.on("data", (d) => (b += d));
            res.on("end", () => resolve({ body: b }));
        });
        req.on("timeout", () => req.destroy(new Error("no answer")));
        req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: `${e.code}: ${e.message}` }));
    });
}

const serverSection = (r: RunResult) => /^Server:/m.test(r.stdout);
/** Resolves any name to HOST_IP, for one request: the public DNS name without touching /etc/hosts. */
const toThisHost: net.LookupFunction = (_hostname, options, callback) =>
    options.all ? callback(null, [{ address: HOST_IP, family: 4 }]) : callback(null, HOST_IP, 4);
const lastLine = (text: string) => text.trim().split("\n").pop() ?? "";
const show = (r: RunResult) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
/** Lines dockerd logs when a TLS handshake on its API listener fails. */
const handshakeErrors = (log: string) => log.split("\n").filter((l) => /TLS handshake error/.test(l));

describe("real mutual TLS on a private dockerd set up from the rendered cloud-config", { skip }, () => {
    let tmp = "";
    let program: ProgramResult;
    let provider: { host: string; material: ClientMaterial };
    let userData = "";
    let written: WrittenFile[] = [];
    let dropInFlags: string[] = [];
    let daemonFlags: string[] = [];
    let flagPaths: string[] = [];
    let daemon: PrivateDockerd | undefined;
    let port = 0;
    /** DOCKER_HOST the program gives the provider, with only the port moved to the test's free one. */
    let dockerHost = "";
    let serverVersion = "";

    before(async () => {
        if (missing) throw new Error(`CI=true and ${missing}: this test must run, not skip`);
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-mtls-"));

        // The app is not what this test is about: any directory with a Dockerfile satisfies berth:appDir.
        const appDir = path.join(tmp, "app");
        fs.mkdirSync(appDir);
        fs.writeFileSync(path.join(appDir, "Dockerfile"), "FROM scratch\n");
        program = await runProgram({ config: { ...BASE_CONFIG, appDir }, publicIp: HOST_IP });
        assert.equal(program.error, undefined, `the program failed under mocks: ${program.error}`);
        const p = one(program, "pulumi:providers:docker").inputs;
        provider = {
            host: String(p.host),
            material: { ca: String(p.caMaterial), cert: String(p.certMaterial), key: String(p.keyMaterial) },
        };
        userData = String(one(program, "aws:ec2/instance:Instance").inputs.userData);

        const doc = parseCloudConfig(userData);
        const root = path.join(tmp, "host");
        written = writeHostFiles(doc, ETC_DOCKER, root);
        dropInFlags = dockerOptsArgv(dropIn(doc, "docker.service", "10-tls-verify.conf"));
        const relocated = relocateFlagPaths(dropInFlags, ETC_DOCKER, written);
        daemonFlags = relocated.argv;
        flagPaths = relocated.paths;

        port = await freePort();
        const m = /^tcp:\/\/([^:/]+):(\d+)$/.exec(provider.host);
        assert.ok(m, `provider host ${provider.host} is not tcp://ADDRESS:PORT`);
        assert.equal(m[1], HOST_IP, "the provider must be aimed at the elastic IP (the address in the server certificate)");
        assert.equal(m[2], "2376");
        dockerHost = `tcp://${m[1]}:${port}`;
        daemon = await startDockerd(path.join(tmp, "d"), daemonFlags, `tcp://${HOST_IP}:${port}`);
        serverVersion = (await run("dockerd", ["--version"], process.env)).stdout;
    });

    after(async () => {
        await daemon?.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("gives the provider client material from the same CA the cloud-config installs on the host", () => {
        const file = (hostPath: string) => {
            const f = written.find((w) => w.hostPath === hostPath);
            assert.ok(f, `the cloud-config writes no ${hostPath}`);
            return f.content;
        };
        const hostCa = new X509Certificate(file(SERVER_FILES.ca));
        const providerCa = new X509Certificate(provider.material.ca);
        assert.equal(providerCa.fingerprint256, hostCa.fingerprint256, "the provider trusts a different CA than the daemon's ca.pem");
        assert.ok(hostCa.ca, "ca.pem is not a CA certificate");

        const client = new X509Certificate(provider.material.cert);
        assert.ok(client.checkIssued(hostCa) && client.verify(hostCa.publicKey), "the client certificate is not signed by the host's CA");
        assert.ok(client.checkPrivateKey(createPrivateKey(provider.material.key)), "the client key does not match the client certificate");
        assert.match(
            client.toLegacyObject().ext_key_usage?.join(",") ?? "",
            /1\.3\.6\.1\.5\.5\.7\.3\.2/,
            "the client certificate lacks clientAuth",
        );

        const server = new X509Certificate(file(SERVER_FILES.cert));
        assert.ok(server.checkIssued(hostCa) && server.verify(hostCa.publicKey), "the server certificate is not signed by the host's CA");
        assert.ok(server.checkPrivateKey(createPrivateKey(file(SERVER_FILES.key))), "server-key.pem does not match server.pem");
        assert.equal(server.checkIP(HOST_IP), HOST_IP, `the server certificate does not name ${HOST_IP}: ${server.subjectAltName}`);
        assert.equal(server.checkHost(HOST_DNS), HOST_DNS, `the server certificate does not name ${HOST_DNS}: ${server.subjectAltName}`);
    });

    it("writes the server files where the drop-in looks, the key readable by root only", () => {
        // Besides the TLS files, /etc/docker holds only dockerd's daemon.json (its log driver), which the
        // private daemon here does not read: it runs with the drop-in's flags alone.
        assert.deepEqual(written.map((f) => f.hostPath).sort(), [...Object.values(SERVER_FILES), "/etc/docker/daemon.json"].sort());
        for (const f of written) {
            const mode = fs.statSync(f.localPath).mode & 0o777;
            assert.equal(mode, parseInt(f.permissions, 8), `${f.hostPath} was written with mode ${mode.toString(8)}`);
        }
        const key = written.find((f) => f.hostPath === SERVER_FILES.key)!;
        assert.equal(key.permissions, "0600", "the server key must be 0600");
        assert.equal(fs.statSync(key.localPath).mode & 0o777, 0o600);
        for (const f of written.filter((w) => w.hostPath !== SERVER_FILES.key)) assert.equal(f.permissions, "0644", `${f.hostPath}`);
    });

    it("runs dockerd with the drop-in's flags, every path in them a file the cloud-config writes", () => {
        assert.ok(dropInFlags.includes("--tlsverify"), `no --tlsverify in ${dropInFlags.join(" ")}`);
        assert.deepEqual(flagPaths.sort(), Object.values(SERVER_FILES).sort(), "the flags must name exactly the three server files");
        for (const f of dropInFlags) {
            assert.doesNotMatch(f, /^(-H|--host)\b|^--tls(verify)?=false$/, `the drop-in must not add a listener or turn TLS off: ${f}`);
        }
        // Only the paths moved: the flags dockerd got are the drop-in's, word for word otherwise.
        assert.equal(daemonFlags.length, dropInFlags.length);
        daemonFlags.forEach((f, i) => assert.equal(f.replaceAll(path.join(tmp, "host"), ""), dropInFlags[i]));
        assert.ok(daemon && daemon.pid > 0);
    });

    it("lets a client holding the program's material run `docker version`, verifying the CA and the address", async () => {
        const env = isolatedClientEnv(path.join(tmp, "c-program"), {
            DOCKER_HOST: dockerHost,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-program"), provider.material),
        });
        const r = await run("docker", ["version"], env);
        assert.equal(r.code, 0, show(r));
        assert.ok(serverSection(r), `no Server section:\n${show(r)}`);
        const wanted = /Docker version ([^,\s]+)/.exec(serverVersion)?.[1];
        assert.ok(wanted && r.stdout.includes(wanted), `server version ${wanted} missing:\n${r.stdout}`);
        const fmt = await run("docker", ["version", "--format", "{{.Server.Version}}"], env);
        assert.equal(fmt.stdout.trim(), wanted, show(fmt));
    });

    it("checks the daemon's name: the same material against an address the certificate does not carry is refused", async (t) => {
        // localhost is 127.0.0.1 too, so only the name check can refuse it.
        const env = isolatedClientEnv(path.join(tmp, "c-wrong-name"), {
            DOCKER_HOST: `tcp://localhost:${port}`,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-program"), provider.material),
        });
        const r = await run("docker", ["version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        assert.match(r.stderr, /certificate is valid for .*not localhost/, show(r));
        t.diagnostic(`client: ${lastLine(r.stderr)}`);
    });

    it("serves the certificate's DNS name too: a TLS client naming the host by it verifies and gets /_ping", async () => {
        const body = await new Promise<string>((resolve, reject) => {
            const req = https.get(
                {
                    host: HOST_DNS, // the name checked against the certificate
                    port,
                    path: "/_ping",
                    ...provider.material,
                    lookup: toThisHost,
                    timeout: 15_000,
                },
                (res) => {
                    let b = "";
                    res.on("data", (d) => (b += d));
                    res.on("end", () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`HTTP ${res.statusCode}: ${b}`))));
                },
            );
            req.on("timeout", () => req.destroy(new Error("no answer")));
            req.on("error", reject);
        });
        assert.equal(body, "OK");
    });

    it("refuses a client with no certificate", async (t) => {
        const before = handshakeErrors(daemon!.log()).length;
        // Trusts the right CA, so the client side of the handshake succeeds; it just has nothing to show.
        const env = isolatedClientEnv(path.join(tmp, "c-nocert"), { DOCKER_HOST: dockerHost });
        const ca = path.join(certDir(path.join(tmp, "certs-nocert"), { ca: provider.material.ca }), "ca.pem");
        const r = await run("docker", ["--tlsverify", "--tlscacert", ca, "version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        assert.match(r.stderr, /tls|certificate/i, show(r));
        const logged = handshakeErrors(daemon!.log()).slice(before);
        assert.ok(
            logged.some((l) => /didn't provide a certificate|certificate required/.test(l)),
            `dockerd logged no refusal for the missing certificate:\n${logged.join("\n")}`,
        );
        t.diagnostic(`client: ${lastLine(r.stderr)}`);
        t.diagnostic(`dockerd: ${logged.join(" | ")}`);
    });

    it("refuses a client whose certificate comes from another CA, even one with the same names", async (t) => {
        const before = handshakeErrors(daemon!.log()).length;
        const impostor = impostorMaterial(provider.material.ca);
        // The client still verifies the daemon against the real CA: only its own certificate is foreign.
        const env = isolatedClientEnv(path.join(tmp, "c-otherca"), {
            DOCKER_HOST: dockerHost,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-otherca"), { ...impostor, ca: provider.material.ca }),
        });
        const r = await run("docker", ["version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        assert.match(r.stderr, /tls|certificate/i, show(r));
        const logged = handshakeErrors(daemon!.log()).slice(before);
        assert.ok(
            logged.some((l) => /unknown authority/.test(l)),
            `dockerd logged no refusal for the foreign certificate:\n${logged.join("\n")}`,
        );
        t.diagnostic(`client: ${lastLine(r.stderr)}`);
        t.diagnostic(`dockerd: ${logged.join(" | ")}`);
    });

    /** The server's certificate and key as the cloud-config installs them. */
    const serverLeaf = () => ({
        cert: written.find((w) => w.hostPath === SERVER_FILES.cert)!.content,
        key: written.find((w) => w.hostPath === SERVER_FILES.key)!.content,
    });

    it("refuses a client certificate signed by the server certificate (a leaf used as a CA), even with the leaf sent along", async (t) => {
        const before = handshakeErrors(daemon!.log()).length;
        const forged = signedBy(serverLeaf(), "berth operator", ["digital_signature", "client_auth"]);
        // The chain the client sends: the forged certificate, then the server leaf that signed it.
        const material = { ca: provider.material.ca, cert: forged.cert + serverLeaf().cert, key: forged.key };
        const env = isolatedClientEnv(path.join(tmp, "c-leafsigned"), {
            DOCKER_HOST: dockerHost,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-leafsigned"), material),
        });
        const r = await run("docker", ["version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        const logged = handshakeErrors(daemon!.log()).slice(before);
        assert.ok(
            logged.some((l) => /parent certificate cannot sign this kind of certificate/.test(l)),
            `dockerd logged no refusal for the leaf-signed certificate:\n${logged.join("\n")}`,
        );
        // Node, presenting the same chain, is refused as well.
        const node = await nodeGet(port, material);
        assert.equal(node.body, undefined, "Node got an answer with a leaf-signed client certificate");
        assert.match(String(node.error), /bad certificate/i, "Node was refused for another reason");
        t.diagnostic(`dockerd: ${logged.join(" | ")}; node: ${node.error}`);
    });

    it("refuses the server certificate presented as a client certificate (it has no clientAuth)", async (t) => {
        const before = handshakeErrors(daemon!.log()).length;
        const leaf = serverLeaf();
        const env = isolatedClientEnv(path.join(tmp, "c-server-as-client"), {
            DOCKER_HOST: dockerHost,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-server-as-client"), { ca: provider.material.ca, ...leaf }),
        });
        const r = await run("docker", ["version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        const logged = handshakeErrors(daemon!.log()).slice(before);
        assert.ok(
            logged.some((l) => /incompatible key usage/.test(l)),
            `dockerd logged no refusal for the server certificate as a client:\n${logged.join("\n")}`,
        );
        t.diagnostic(`dockerd: ${logged.join(" | ")}`);
    });

    it("makes clients refuse a daemon whose certificate the server certificate signed (a leaf used as a CA)", async (t) => {
        const forged = signedBy(serverLeaf(), "berth Docker daemon", ["digital_signature", "key_encipherment", "server_auth"], [HOST_IP]);
        const rogue = await tlsServer(forged.cert + serverLeaf().cert, forged.key);
        try {
            const node = await nodeGet(rogue.port, provider.material);
            assert.equal(node.body, undefined, "Node accepted a daemon certificate signed by a leaf");
            // OpenSSL 3 stops at the leaf's keyUsage (no keyCertSign); its CA:FALSE would stop it next.
            assert.match(
                String(node.error),
                /key usage does not include certificate signing|invalid CA certificate/,
                "refused for another reason",
            );
            const env = isolatedClientEnv(path.join(tmp, "c-rogue-leafsigned"), {
                DOCKER_HOST: `tcp://${HOST_IP}:${rogue.port}`,
                DOCKER_TLS_VERIFY: "1",
                DOCKER_CERT_PATH: certDir(path.join(tmp, "certs-program"), provider.material),
            });
            const r = await run("docker", ["version"], env);
            assert.notEqual(r.code, 0, show(r));
            assert.match(
                r.stderr,
                /parent certificate cannot sign this kind of certificate|not authorized to sign other certificates/,
                show(r),
            );
            t.diagnostic(`node: ${node.error}; docker: ${lastLine(r.stderr)}`);
        } finally {
            await rogue.close();
        }
    });

    it("makes clients refuse the client certificate presented as a daemon's (it has no serverAuth)", async (t) => {
        const rogue = await tlsServer(provider.material.cert, provider.material.key);
        try {
            // The client certificate names no address: skip the name check so only its purpose is judged.
            const node = await nodeGet(rogue.port, provider.material, { checkServerIdentity: () => undefined });
            assert.equal(node.body, undefined, "Node accepted the client certificate as a server's");
            assert.match(String(node.error), /^INVALID_PURPOSE: unsuitable certificate purpose/, "refused for another reason");
            t.diagnostic(`node: ${node.error}`);
        } finally {
            await rogue.close();
        }
    });

    it("does not serve the Docker API over plain HTTP on its TCP port", async (t) => {
        const raw = await new Promise<string>((resolve, reject) => {
            const s = net.connect(port, HOST_IP);
            let data = "";
            s.setTimeout(15_000, () => s.destroy(new Error("no answer and no close")));
            s.on("connect", () => s.write(`GET /_ping HTTP/1.1\r\nHost: ${HOST_IP}:${port}\r\nConnection: close\r\n\r\n`));
            s.on("data", (d) => (data += d.toString("latin1")));
            s.on("close", () => resolve(data));
            s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(data) : reject(e)));
        });
        assert.doesNotMatch(raw, /^HTTP\/1\.[01] 200/, raw);
        assert.doesNotMatch(raw, /Api-Version/i, raw);
        t.diagnostic(`raw HTTP answer: ${JSON.stringify(raw.slice(0, 120))}`);

        const env = isolatedClientEnv(path.join(tmp, "c-plain"), { DOCKER_HOST: `tcp://${HOST_IP}:${port}` });
        const r = await run("docker", ["version"], env);
        assert.notEqual(r.code, 0, show(r));
        assert.ok(!serverSection(r), show(r));
        t.diagnostic(`plain docker client: ${lastLine(r.stderr)}`);
    });
});
