/**
 * HTTPS end to end on a real Docker engine: the program's ACME client (lego, in its container) gets a
 * certificate from pebble, Let's Encrypt's test CA, running on the deployment's front network with the
 * visitors' names resolving to nginx; then the drills: the CA down at first boot, a renewal under load,
 * the version switch over HTTPS under load, and a refused order.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { TLSSocket } from "node:tls";
import { pebbleListener, startPebble, verifyChain, type Pebble, type PebbleListener } from "./harness/acme";
import { sleep, waitFor } from "./harness/proc";
import { failures, runLoad, type LoadResult } from "./support/load";
import { measureHandshakes } from "./support/handshake";
import { E2eEnv, setupE2e } from "./support/env";
import { drill, reportDrill } from "./support/drills";
import { ACME_HOST_DIR } from "../../infra/targets/aws";
import { NGINX_WORKER_GID, RETRY_SECONDS } from "../../infra/deploy/acme";

const verbose = process.env.BERTH_E2E_VERBOSE === "1";
const log = (line: string) => {
    if (verbose) process.stderr.write(`${line}\n`);
};

const DOMAIN = "app.berth.test";
const ALIAS = "www.berth.test";
/** pebble's container name: its address on the front network and the name its listener certificate is for. */
const PEBBLE = `berth-e2e-pebble-${process.pid}`;
/** Renewals happen at 30 days left: certificates this short are renewed at every check. */
const SHORT_VALIDITY_SECONDS = 20 * 86_400;

interface TlsAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    serial: string;
}

describe("HTTPS on a real Docker engine: certificates from an ACME CA, renewed under load", () => {
    let env: E2eEnv | undefined;
    let listener: PebbleListener | undefined;
    let pebble: Pebble | undefined;
    let nginxIp = "";
    const skip = process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to start a private dockerd" : false;

    const httpsConfig = () => ({
        domain: DOMAIN,
        domainAliases: [ALIAS],
        acmeEmail: "ops@berth.test",
        acmeServer: `https://${PEBBLE}:14000/dir`,
        acmeCaCertificate: listener!.caPem,
    });
    const frontNetwork = () => env!.applier.engineName("berth-front");
    const acmeName = () => env!.applier.engineName("berth-acme");
    const acmeLogs = async () => {
        const r = await env!.engine.docker(["logs", acmeName()], { timeoutMs: 30_000 });
        return r.stdout + r.stderr;
    };
    const refreshNginx = async () => {
        const info = (await env!.applier.inspect("berth-nginx")) as unknown as {
            NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
        };
        nginxIp = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress ?? "";
        assert.match(nginxIp, /^\d+\.\d+\.\d+\.\d+$/, "nginx has an address on the front network");
    };
    const startCa = async () => {
        pebble = await startPebble(env!.engine, frontNetwork(), {
            name: PEBBLE,
            listener,
            dnsFor: { [DOMAIN]: nginxIp, [ALIAS]: nginxIp },
            validitySeconds: SHORT_VALIDITY_SECONDS,
        });
    };
    const stopCa = async () => {
        await pebble?.stop();
        pebble = undefined;
    };
    /** One request over a new TLS connection to nginx's HTTPS port, trusting pebble's root. */
    const tlsGet = (p: string, name = DOMAIN, rootPem = pebble!.rootPem) =>
        new Promise<TlsAnswer>((resolve, reject) => {
            const req = https.request(
                {
                    host: nginxIp,
                    port: 443,
                    path: p,
                    servername: name,
                    headers: { host: name },
                    ca: rootPem,
                    agent: false,
                    timeout: 10_000,
                },
                (res) => {
                    const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
                    const chunks: Buffer[] = [];
                    res.on("data", (b: Buffer) => chunks.push(b));
                    res.on("end", () =>
                        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), serial }),
                    );
                },
            );
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", reject);
            req.end();
        });
    const httpGet = (p: string, name = DOMAIN) =>
        new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
            const req = http.request(
                { host: nginxIp, port: 80, path: p, headers: { host: name }, agent: false, timeout: 10_000 },
                (res) => {
                    res.resume();
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
                },
            );
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", reject);
            req.end();
        });
    /** The serial nginx serves now to a new connection. */
    const servedSerial = async () => (await tlsGet("/up")).serial;
    const loadOptions = () => ({ ca: pebble!.rootPem, servername: DOMAIN, hostHeader: DOMAIN });
    const httpsUrl = () => `https://${nginxIp}:443/`;
    const noFailures = (r: LoadResult, what: string) =>
        assert.equal(failures(r), 0, `${what}: ${failures(r)} failed: ${JSON.stringify({ bad: r.bad, errors: r.errors })}`);

    before(async () => {
        if (skip) return;
        env = await setupE2e(log);
        listener = await pebbleListener(PEBBLE);
    });
    after(async () => {
        await stopCa();
        await env?.close();
        await listener?.remove();
    });

    it("the CA is down at first boot: HTTP serves the app, the client says so and retries, then HTTPS serves", { skip }, async () => {
        await env!.up(await env!.declare({ appVersion: 1, ...httpsConfig() }));
        await refreshNginx();
        const page = await httpGet("/");
        assert.equal(page.status, 200, "before any certificate, HTTP serves the app");
        assert.equal(page.headers["x-app-version"], "1");
        const refused = await measureHandshakes({ host: nginxIp, port: 443, servername: DOMAIN, count: 1, concurrency: 1 });
        assert.equal(refused.failed, 1, "no certificate yet: HTTPS handshakes fail");
        const failed = await waitFor(
            "the ACME client to report the unreachable CA",
            60_000,
            async () => ((await acmeLogs()).includes("berth-acme: lego run failed") ? acmeLogs() : undefined),
            500,
        );
        assert.match(
            failed,
            /berth-acme: lego run failed \(exit \d+\) for app\.berth\.test www\.berth\.test at https:\/\/berth-e2e-pebble/,
        );
        assert.match(failed, /HTTP keeps serving the app until a certificate is issued; next try in \d+ s/);
        assert.equal((await httpGet("/")).status, 200, "HTTP still serves the app");

        await startCa();
        const started = Date.now();
        const first = await waitFor(
            "HTTPS to serve the app with the issued certificate",
            (RETRY_SECONDS * 3 + 60) * 1000,
            async () => (await tlsGet("/").catch(() => undefined)) ?? undefined,
            1000,
        );
        diag(`first certificate served ${((Date.now() - started) / 1000).toFixed(0)} s after the CA came up`);
        assert.equal(first.status, 200);
        assert.equal(first.headers["x-app-version"], "1");
        assert.equal(first.headers["strict-transport-security"], undefined, "no HSTS unless configured");
        assert.equal((await tlsGet("/", ALIAS)).status, 200, "the alias is on the same certificate");

        // The chain nginx reads verifies against pebble's root, for both names.
        const live = env!.hostPath!(`${ACME_HOST_DIR}/live`);
        const chain = await fs.readFile(`${live}/fullchain.pem`, "utf8");
        verifyChain(chain, pebble!.rootPem, DOMAIN);
        verifyChain(chain, pebble!.rootPem, ALIAS);
        // The key: readable by nginx's workers' group only; the directory closed to others.
        const key = await fs.stat(`${live}/privkey.pem`);
        assert.equal(key.mode & 0o777, 0o640);
        assert.equal(key.gid, NGINX_WORKER_GID);
        assert.equal((await fs.stat(live)).mode & 0o007, 0, "live/ is closed to others");

        // HTTP now redirects, except the challenge path, which is never redirected.
        const redirect = await httpGet("/users?page=2");
        assert.equal(redirect.status, 301);
        assert.equal(redirect.headers.location, `https://${DOMAIN}/users?page=2`);
        assert.equal((await httpGet("/.well-known/acme-challenge/none")).status, 404);
        const logs = await acmeLogs();
        assert.match(logs, /berth-acme: published privkey\.pem\n(.*\n)*berth-acme: published fullchain\.pem/);
        assert.match(logs, /berth-acme: certificate for app\.berth\.test www\.berth\.test is current/);
    });

    it("a forced renewal under HTTPS load: new connections get the new certificate, 0 failed requests", { skip }, async () => {
        const before = await servedSerial();
        const publishedBefore = (await acmeLogs()).match(/published fullchain\.pem/g)?.length ?? 0;
        const d = await drill(
            httpsUrl(),
            async () => {
                // The certificate has less than 30 days left: the client renews at its next check, which a
                // restart runs at once.
                await env!.engine.docker(["restart", acmeName()], { check: true, timeoutMs: 60_000 });
                await waitFor("nginx to serve the renewed certificate", 90_000, async () =>
                    (await servedSerial()) !== before ? true : undefined,
                );
            },
            { ...loadOptions(), newConnectionEvery: 10 },
        );
        reportDrill("renewal over HTTPS", d);
        assert.ifError(d.error);
        noFailures(d.load, "renewal");
        const after = await servedSerial();
        assert.notEqual(after, before);
        assert.ok((d.load.serials[before] ?? 0) > 0 && (d.load.serials[after] ?? 0) > 0, `both served: ${JSON.stringify(d.load.serials)}`);
        const logs = await acmeLogs();
        assert.equal(logs.match(/published fullchain\.pem/g)?.length, publishedBefore + 1);
        assert.equal(logs.match(/published privkey\.pem/g)?.length, 1, "a renewal keeps the key: only the chain changes");
    });

    it("v1 to v2 over HTTPS under load: 0 failed requests, v2 serves", { skip }, async () => {
        const decl = await env!.declare({ appVersion: 2, ...httpsConfig() });
        const kept = { acme: acmeName(), nginx: env!.applier.engineName("berth-nginx") };
        const d = await drill(httpsUrl(), () => env!.up(decl), loadOptions());
        reportDrill("v1 -> v2 over HTTPS", d);
        assert.ifError(d.error);
        noFailures(d.load, "v1 -> v2");
        assert.ok((d.load.versions["2"] ?? 0) > 0, `v2 served: ${JSON.stringify(d.load.versions)}`);
        assert.equal((await tlsGet("/")).headers["x-app-version"], "2");
        // A version bump touches neither the ACME client (no new order) nor nginx.
        assert.deepEqual({ acme: acmeName(), nginx: env!.applier.engineName("berth-nginx") }, kept);
    });

    it("a refused order: one clear line, and the current certificate keeps serving", { skip }, async () => {
        const serving = await servedSerial();
        // The CA now reaches the domain's address on a port nothing listens on: its HTTP-01 validation fails and
        // the order is refused (urn:ietf:params:acme:error:connection), the way a moved A record would make it.
        // (Docker writes --add-host lines as "IP<tab>NAME"; /etc/hosts is a bind mount, so it is rewritten in place.)
        const hosts = `grep -v '${DOMAIN}' /etc/hosts > /tmp/hosts; echo '127.0.0.1 ${DOMAIN}' >> /tmp/hosts; cat /tmp/hosts > /etc/hosts`;
        await env!.engine.docker(["exec", PEBBLE, "sh", "-c", hosts], { check: true, timeoutMs: 30_000 });
        const failedBefore = (await acmeLogs()).match(/lego renew failed/g)?.length ?? 0;
        let release!: () => void;
        const load = runLoad({
            url: httpsUrl(),
            connections: 10,
            stop: new Promise<void>((r) => (release = r)),
            ...loadOptions(),
            newConnectionEvery: 5,
            ratePerConnection: 20,
        });
        try {
            await env!.engine.docker(["restart", acmeName()], { check: true, timeoutMs: 60_000 });
            await waitFor("the client to report the refused order", 90_000, async () =>
                ((await acmeLogs()).match(/lego renew failed/g)?.length ?? 0) > failedBefore ? true : undefined,
            ).catch(async (e: Error) => {
                const tail = (text: string) => text.split("\n").slice(-25).join("\n");
                throw new Error(`${e.message}\nACME client:\n${tail(await acmeLogs())}\npebble:\n${tail(await pebble!.logs())}`);
            });
            // Past nginx's certificate check interval: a published change would show by now.
            await sleep(12_000);
        } finally {
            release();
        }
        const r = await load;
        noFailures(r, "during the refused renewal");
        const logs = await acmeLogs();
        assert.match(logs, /urn:ietf:params:acme:error:(connection|unauthorized)/, "lego's output has the CA's answer");
        assert.match(
            logs,
            /berth-acme: lego renew failed \(exit \d+\) for app\.berth\.test www\.berth\.test at \S+; the current certificate keeps serving; next try in \d+ s/,
        );
        assert.equal(await servedSerial(), serving, "the old certificate still serves");
        assert.deepEqual(Object.keys(r.serials), [serving]);
    });
});

function diag(line: string) {
    process.stderr.write(`${line}\n`);
}
