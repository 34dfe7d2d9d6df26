/**
 * HTTPS for `npm run bench`: a test-CA certificate put where the deployment's nginx reads it (as the ACME
 * client publishes one: infra/deploy/acme.ts), turned on and off by renaming `fullchain.pem`, and one-request
 * probes that say what nginx serves now over HTTP and over HTTPS.
 */
import { promises as fs } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import * as tls from "node:tls";
import { NGINX_WORKER_GID } from "../../../infra/deploy/acme";
import type { Leaf } from "../../support/nginx/tls";

/** Where `fullchain.pem` waits while HTTP is measured: nginx's HTTP server redirects only while `fullchain.pem` exists. */
const PARKED = "fullchain.pem.parked";

/**
 * `leaf` in `liveDir` as the ACME client publishes it: `privkey.pem` (0640, group of nginx's workers, which
 * load it at handshake time) first, then `fullchain.pem` (0644), each written beside and renamed over.
 */
export async function installCertificate(liveDir: string, leaf: Leaf): Promise<void> {
    for (const [file, pem, mode] of [
        ["privkey.pem", leaf.keyPem, 0o640],
        ["fullchain.pem", leaf.fullchainPem, 0o644],
    ] as const) {
        const tmp = path.join(liveDir, `.${file}.bench.tmp`);
        await fs.writeFile(tmp, pem, { mode: 0o600 });
        await fs.chown(tmp, process.getuid?.() ?? 0, NGINX_WORKER_GID);
        await fs.chmod(tmp, mode);
        await fs.rename(tmp, path.join(liveDir, file));
    }
}

/**
 * HTTPS serving and port 80 redirecting (`on`), or no certificate and port 80 serving the app (`off`), by renaming
 * `fullchain.pem` out of the way and back. Already so: nothing to do.
 */
export async function setCertificate(liveDir: string, on: boolean): Promise<void> {
    const live = path.join(liveDir, "fullchain.pem");
    const parked = path.join(liveDir, PARKED);
    const [from, to] = on ? [parked, live] : [live, parked];
    if (await exists(to)) return;
    await fs.rename(from, to);
}

const exists = (p: string) =>
    fs.stat(p).then(
        () => true,
        () => false,
    );

/** Removes what installCertificate and setCertificate put in `liveDir`. */
export async function removeCertificate(liveDir: string): Promise<void> {
    for (const f of ["fullchain.pem", PARKED, "privkey.pem"]) await fs.rm(path.join(liveDir, f), { force: true });
}

export interface Probe {
    status: number;
    version: string | undefined;
    location: string | undefined;
    /** https: the TLS version the connection negotiated ("TLSv1.3"). */
    tlsVersion: string | undefined;
}

/** One GET on a connection of its own; for an https:// URL, verified against `ca` and `servername`. */
export function probe(url: string, o: { host: string; ca?: string; servername?: string }): Promise<Probe> {
    const secure = url.startsWith("https:");
    const servername = o.servername;
    return new Promise((resolve, reject) => {
        const req = (secure ? https : http).request(
            url,
            {
                agent: false,
                timeout: 10_000,
                headers: { host: o.host },
                ...(secure
                    ? {
                          ca: o.ca,
                          servername,
                          // Checked against `servername`, not the IP in the URL
                          // (https://nodejs.org/api/tls.html#tlscheckserveridentityhostname-cert).
                          checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername ?? "", cert),
                      }
                    : {}),
            },
            (res) => {
                const tlsVersion = secure ? ((res.socket as tls.TLSSocket).getProtocol() ?? undefined) : undefined;
                res.resume();
                res.on("end", () =>
                    resolve({
                        status: res.statusCode ?? 0,
                        version: res.headers["x-app-version"] as string | undefined,
                        location: res.headers.location,
                        tlsVersion,
                    }),
                );
            },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end();
    });
}

/** Throws unless `url` answers 200 from the app (an X-App-Version header), not a redirect or an error. */
export async function expectApp(url: string, o: { host: string; ca?: string; servername?: string }): Promise<Probe> {
    const p = await probe(url, o);
    if (p.status !== 200 || p.version === undefined) {
        throw new Error(`${url} (Host ${o.host}) answered ${p.status}${p.location ? ` to ${p.location}` : ""}, not 200 from the app`);
    }
    return p;
}
