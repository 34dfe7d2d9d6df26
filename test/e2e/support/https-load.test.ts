// The e2e load tooling over HTTPS (load.ts runLoad with ca/servername/hostHeader/newConnectionEvery, and
// handshake.ts measureHandshakes), against the real nginx of the unit tests (test/support/nginx/binary.ts)
// serving the rendered config with `tls` (infra/deploy/nginx.ts) and a throwaway CA
// (test/support/nginx/tls.ts). No Docker: nginx, its DNS and the stand-in app run on loopback.
import { strict as assert } from "node:assert";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { renderNginxConfig } from "../../../infra/deploy/nginx";
import { startDns, type DnsServer } from "../../support/nginx/dns";
import { get, mainConf, startBackend, startNginx, stop } from "../../support/nginx/harness";
import { installLeaf, issueLeaf, makeCa, type Leaf, type TestCa } from "../../support/nginx/tls";
import { freePort } from "../harness/tls";
import { measureHandshakes } from "./handshake";
import { failures, runLoad } from "./load";

const SLOTS = { blue: "app-blue.test", green: "app-green.test" };
const APP_HOST = "127.0.0.1";
const SERVERNAME = "localhost"; // a SAN of issueLeaf's leaves, beside IP:127.0.0.1
/** nginx's ssl_certificate_cache valid=: a changed certificate is loaded at most this long after the change. */
const CHECK = "1s";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("runLoad and measureHandshakes over HTTPS, against real nginx", () => {
    let dir: string;
    let dns: DnsServer | undefined;
    let app: ChildProcess | undefined;
    let nginx: ChildProcess | undefined;
    let ca: TestCa;
    let wrongCa: TestCa;
    let first: Leaf;
    let httpsPort: number;
    let url: string;
    const errorLog = () => (fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : "");

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-https-load-"));
        dns = await startDns({ [SLOTS.blue]: [APP_HOST], [SLOTS.green]: [APP_HOST] });
        const backend = startBackend("app", APP_HOST, 0, 0);
        app = backend.child;
        const appPort = await backend.ready;
        ca = makeCa(path.join(dir, "ca"));
        wrongCa = makeCa(path.join(dir, "other-ca"));
        first = issueLeaf(ca, path.join(dir, "ca"));
        const certDir = path.join(dir, "certs");
        installLeaf(certDir, first);
        const webroot = path.join(dir, "acme");
        fs.mkdirSync(webroot);
        fs.mkdirSync(path.join(dir, "route"));
        const httpPort = await freePort();
        httpsPort = await freePort();
        const conf = renderNginxConfig({
            // No per-address limits: every client here is 127.0.0.1.
            rateLimitPerClient: 0,
            connLimitPerClient: 0,
            slots: SLOTS,
            appPort,
            listenPort: httpPort,
            probePort: await freePort(),
            routeDir: path.join(dir, "route"),
            resolver: `127.0.0.1:${dns.port}`,
            tls: { certDir, acmeWebroot: webroot, httpsPort, certCheckInterval: CHECK },
        });
        fs.writeFileSync(path.join(dir, "default.conf"), conf);
        fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
        nginx = await startNginx(dir);
        // HTTP redirects once fullchain.pem exists: any answer from nginx means it listens.
        for (let i = 0; ; i++) {
            if (nginx.exitCode !== null) assert.fail(`nginx exited ${nginx.exitCode}: ${errorLog()}`);
            const r = await get(`http://127.0.0.1:${httpPort}/ready`).catch(() => undefined);
            if (r?.status === 301) break;
            if (i >= 200) assert.fail(`nginx not answering: ${errorLog()}`);
            await sleep(100);
        }
        url = `https://127.0.0.1:${httpsPort}/page`;
    });

    after(async () => {
        if (nginx) await stop(nginx, "SIGTERM");
        if (app) await stop(app, "SIGTERM");
        await dns?.close();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("runLoad over https with the CA and servername: no failure, every answer on the installed leaf", async () => {
        const r = await runLoad({ url, connections: 4, stop: sleep(1_000), ca: ca.certPem, servername: SERVERNAME });
        assert.equal(failures(r), 0, JSON.stringify({ bad: r.bad, errors: r.errors }));
        assert.ok(r.requests >= 20, `${r.requests} requests`);
        assert.deepEqual(r.serials, { [first.serial]: r.requests });
        assert.ok(r.samples.every((s) => s.serial === first.serial && s.status === 200));
    });

    it("verification is on: a wrong CA or a servername the certificate lacks fails every request", async () => {
        for (const [label, trust, message] of [
            ["wrong CA", { ca: wrongCa.certPem, servername: SERVERNAME }, /certificate/],
            // The leaf also names IP:127.0.0.1: this fails only if the check is made against servername.
            ["wrong servername", { ca: ca.certPem, servername: "other.example" }, /altnames/],
        ] as const) {
            const r = await runLoad({ url, connections: 2, stop: sleep(300), requestTimeoutMs: 5_000, ...trust });
            assert.ok(r.requests > 0, label);
            assert.equal(r.ok, 0, label);
            assert.equal(failures(r), r.requests, `${label}: ${JSON.stringify(r.errors)}`);
            assert.deepEqual(r.serials, {}, label);
            for (const e of Object.keys(r.errors)) assert.match(e, message, label);
        }
    });

    it("measureHandshakes: full handshakes negotiate h2; a wrong servername fails every one", async () => {
        const count = 40;
        const ok = await measureHandshakes({
            host: "127.0.0.1",
            port: httpsPort,
            servername: SERVERNAME,
            ca: ca.certPem,
            count,
            concurrency: 4,
        });
        assert.equal(ok.failed, 0, JSON.stringify(ok.errors));
        assert.ok((ok.protocols.h2 ?? 0) > 0, JSON.stringify(ok.protocols));
        assert.deepEqual(ok.protocols, { h2: count });
        assert.deepEqual(ok.serials, { [first.serial]: count });
        assert.equal(ok.latenciesMs.length, count);
        assert.deepEqual(
            ok.latenciesMs,
            [...ok.latenciesMs].sort((a, b) => a - b),
        );
        assert.ok(ok.latenciesMs[0]! > 0 && ok.p50 <= ok.p99, `p50 ${ok.p50} p99 ${ok.p99}`);

        const wrong = await measureHandshakes({
            host: "127.0.0.1",
            port: httpsPort,
            servername: "other.example",
            ca: ca.certPem,
            count: 10,
            concurrency: 2,
        });
        assert.equal(wrong.failed, 10);
        assert.deepEqual(wrong.latenciesMs, []);
        assert.deepEqual(wrong.serials, {});
        assert.equal(
            Object.values(wrong.errors).reduce((a, b) => a + b, 0),
            10,
        );
        for (const e of Object.keys(wrong.errors)) assert.match(e, /altnames/);

        const untrusted = await measureHandshakes({
            host: "127.0.0.1",
            port: httpsPort,
            servername: SERVERNAME,
            ca: wrongCa.certPem,
            count: 5,
            concurrency: 5,
        });
        assert.equal(untrusted.failed, 5, JSON.stringify(untrusted));
    });

    it("a renewed certificate under load: newConnectionEvery: 1 requests get it, pooled keep-alive ones keep theirs", async () => {
        const second = issueLeaf(ca, path.join(dir, "ca"));
        let stopLoad!: () => void;
        const stopped = new Promise<void>((r) => (stopLoad = r));
        const base = { url, connections: 2, stop: stopped, ratePerConnection: 25, ca: ca.certPem, servername: SERVERNAME };
        const freshLoad = runLoad({ ...base, newConnectionEvery: 1 });
        const pooledLoad = runLoad(base);
        let swapped = 0;
        let seen = 0;
        try {
            await sleep(500);
            installLeaf(path.join(dir, "certs"), second);
            swapped = Date.now();
            // Past certCheckInterval (plus nginx's whole-second rounding), a new handshake gets the new leaf.
            await sleep(1_500);
            for (;;) {
                const h = await measureHandshakes({
                    host: "127.0.0.1",
                    port: httpsPort,
                    servername: SERVERNAME,
                    ca: ca.certPem,
                    count: 1,
                    concurrency: 1,
                });
                if (h.serials[second.serial]) break;
                if (Date.now() - swapped > 10_000) assert.fail(`still ${JSON.stringify(h)} 10 s after the swap`);
                await sleep(100);
            }
            seen = Date.now();
            await sleep(1_000);
        } finally {
            stopLoad();
        }
        const [fresh, pooled] = await Promise.all([freshLoad, pooledLoad]);
        for (const r of [fresh, pooled]) assert.equal(failures(r), 0, JSON.stringify({ bad: r.bad, errors: r.errors }));

        const at = (s: { start: number }) => fresh.startedAt + s.start;
        const early = fresh.samples.filter((s) => at(s) < swapped);
        const afterSeen = fresh.samples.filter((s) => at(s) >= seen);
        assert.ok(early.length > 0 && afterSeen.length > 0, `${early.length} before the swap, ${afterSeen.length} after`);
        assert.ok(
            early.every((s) => s.serial === first.serial),
            "before the swap: the first leaf",
        );
        assert.ok(
            afterSeen.every((s) => s.serial === second.serial),
            `once nginx serves the new leaf: ${JSON.stringify(afterSeen.map((s) => s.serial))}`,
        );
        assert.equal((fresh.serials[first.serial] ?? 0) + (fresh.serials[second.serial] ?? 0), fresh.requests);

        // The keep-alive pool's connections were set up before the swap and keep the first leaf.
        assert.ok(pooled.requests > 0);
        assert.deepEqual(pooled.serials, { [first.serial]: pooled.requests });
        assert.equal(nginx?.exitCode, null, "nginx kept running");
    });
});

describe("runLoad's hostHeader and newConnectionEvery, on plain HTTP", () => {
    it("sends the Host header given, and one request in N on a connection of its own with Connection: close", async () => {
        const hosts = new Set<string | undefined>();
        let connections = 0;
        let closing = 0;
        let requests = 0;
        const server = http.createServer((req, res) => {
            requests++;
            hosts.add(req.headers.host);
            if (req.headers.connection === "close") closing++;
            req.resume();
            req.on("end", () => res.end("ok"));
        });
        server.on("connection", () => connections++);
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        try {
            const port = (server.address() as net.AddressInfo).port;
            const r = await runLoad({
                url: `http://127.0.0.1:${port}/`,
                connections: 2,
                stop: sleep(400),
                hostHeader: "shop.example",
                newConnectionEvery: 3,
            });
            assert.equal(failures(r), 0, JSON.stringify(r.errors));
            assert.equal(requests, r.requests);
            assert.deepEqual([...hosts], ["shop.example"]);
            assert.ok(r.requests >= 30, `${r.requests} requests`);
            assert.equal(closing, Math.floor(r.requests / 3));
            // Two pooled keep-alive connections, and one per fresh request.
            assert.ok(connections >= closing + 1 && connections <= closing + 2, `${connections} connections, ${closing} fresh`);
            assert.deepEqual(r.serials, {}, "no certificates on plain HTTP");
        } finally {
            server.closeAllConnections();
            server.close();
        }
    });
});
