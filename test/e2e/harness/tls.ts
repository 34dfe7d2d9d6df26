// Throw-away mutual-TLS material (openssl) and the dockerd arguments that serve it on loopback, for
// tests that reach a private engine the way the program reaches the host: tcp + --tlsverify.
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { run } from "./proc";

export interface TestTls {
    caCert: string;
    serverCert: string;
    serverKey: string;
    /** DOCKER_CERT_PATH for the CLI: ca.pem, cert.pem, key.pem (client certificate). */
    clientDir: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, valid for a day, under `dir`. */
export async function makeTestTls(dir: string): Promise<TestTls> {
    const clientDir = path.join(dir, "client");
    await fs.mkdir(clientDir, { recursive: true });
    const p = (name: string) => path.join(dir, name);
    const openssl = (args: string[]) => run("openssl", args, { check: true, cwd: dir });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(["req", "-x509", ...ec, "-keyout", p("ca-key.pem"), "-out", p("ca.pem"), "-days", "1", "-subj", "/CN=berth-test-ca"]);
    const issue = async (name: string, cn: string, ext: string, certOut: string, keyOut: string) => {
        await openssl(["req", ...ec, "-keyout", keyOut, "-out", p(`${name}.csr`), "-subj", `/CN=${cn}`]);
        await fs.writeFile(p(`${name}.ext`), ext);
        await openssl([
            "x509",
            "-req",
            "-in",
            p(`${name}.csr`),
            "-CA",
            p("ca.pem"),
            "-CAkey",
            p("ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            p(`${name}.ext`),
            "-out",
            certOut,
        ]);
    };
    await issue(
        "server",
        "127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        p("server-cert.pem"),
        p("server-key.pem"),
    );
    await issue(
        "client",
        "berth-test-client",
        "extendedKeyUsage=clientAuth\n",
        path.join(clientDir, "cert.pem"),
        path.join(clientDir, "key.pem"),
    );
    await fs.copyFile(p("ca.pem"), path.join(clientDir, "ca.pem"));
    return { caCert: p("ca.pem"), serverCert: p("server-cert.pem"), serverKey: p("server-key.pem"), clientDir };
}

/** dockerd arguments for acquireEngine's extraArgs: mutual TLS on 127.0.0.1:port, besides the unix socket. */
export function dockerdTlsArgs(tls: TestTls, port: number): string[] {
    return [
        "--tlsverify",
        "--tlscacert",
        tls.caCert,
        "--tlscert",
        tls.serverCert,
        "--tlskey",
        tls.serverKey,
        "-H",
        `tcp://127.0.0.1:${port}`,
    ];
}

/** A loopback port free right now (the kernel's choice); the caller binds it soon after. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address() as net.AddressInfo;
            srv.close(() => resolve(port));
        });
    });
}
