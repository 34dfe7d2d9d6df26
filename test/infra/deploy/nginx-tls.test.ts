// HTTPS for visitors (renderNginxConfig's `tls` option): the rendered file, its validation, and real nginx
// (test/support/nginx/binary.ts) with a throwaway CA (test/support/nginx/tls.ts): HTTP until a certificate
// exists, the ACME challenge always on HTTP, then a redirect to HTTPS; HTTPS with the same routing; a renewed
// certificate picked up under load with no reload and no failed request.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import * as tls from "node:tls";
import { renderNginxConfig, type NginxConfigOptions } from "../../../infra/deploy/nginx";
import { freePort } from "../../e2e/harness/tls";
import { runNginx } from "../../support/nginx/binary";
import { startDns } from "../../support/nginx/dns";
import { mainConf, startNginx, stop } from "../../support/nginx/harness";
import { all, one, parseNginx, type Directive } from "../../support/nginx/parse";
import { installLeaf, issueLeaf, makeCa, type TestCa } from "../../support/nginx/tls";

const BASE: NginxConfigOptions = { slots: { blue: "app-blue", green: "app-green" }, appPort: 3000, routeDir: "/etc/nginx/berth-route" };
const TLS = { certDir: "/etc/nginx/certs", acmeWebroot: "/var/www/acme" };
const GOLDEN = path.resolve(__dirname, "../../support/nginx/golden");

/** The options test/support/nginx/golden/custom.conf was rendered from (every option but the defaults'). */
const CUSTOM: NginxConfigOptions = {
    slots: { blue: "b.internal", green: "g.internal" },
    routeDir: "/run/route/",
    probePort: 9000,
    upstreamKeepalive: 8,
    upstreamKeepaliveTimeout: "500ms",
    appPort: 8080,
    listenPort: 8000,
    listenIpv6: false,
    serverName: "*.example.com",
    resolver: "[fd00::53]:5353",
    resolverValid: "500ms",
    resolverTimeout: "2s",
    clientMaxBodySize: "1g",
    connectTimeout: "3s",
    readTimeout: "5m",
    sendTimeout: "30s",
    nextUpstreamTries: 2,
    nextUpstreamTimeout: "20s",
    clientTimeout: "5s",
    connLimitPerClient: 3,
    rateLimitPerClient: 0,
};

/** The visitor-facing servers of a rendered file: [HTTP, HTTPS] (the probe server listens on loopback only). */
function servers(opts: NginxConfigOptions): { top: Directive[]; plain: Directive[]; secure: Directive[] } {
    const top = parseNginx(renderNginxConfig(opts));
    const front = all(top, "server").filter((s) => !all(s.block ?? [], "listen").some((l) => l.args[0]?.startsWith("127.0.0.1:")));
    assert.equal(front.length, 2, "an HTTP and an HTTPS server");
    return { top, plain: front[0]?.block ?? [], secure: front[1]?.block ?? [] };
}

const args = (block: readonly Directive[], name: string) => one(block, name).args;
const location = (block: readonly Directive[], prefix: string) => {
    const found = all(block, "location").filter((l) => l.args[0] === prefix);
    assert.equal(found.length, 1, `one location ${prefix}`);
    return found[0]?.block ?? [];
};

describe("renderNginxConfig without tls", () => {
    // The golden files were rendered before the tls option existed (commit 53af174): the file must not move.
    for (const [label, opts, file] of [
        ["defaults", BASE, "default.conf"],
        ["every option set", CUSTOM, "custom.conf"],
    ] as const) {
        it(`is byte-identical to the file before tls existed: ${label}`, () => {
            const before = fs.readFileSync(path.join(GOLDEN, file), "utf8");
            assert.equal(renderNginxConfig(opts), before);
            assert.equal(renderNginxConfig({ ...opts, tls: undefined }), before);
        });
    }
});

describe("renderNginxConfig with tls", () => {
    it("serves the ACME challenge from the webroot on HTTP, counted but never refused by the limits", () => {
        const { plain } = servers({ ...BASE, tls: TLS });
        const acme = location(plain, "/.well-known/acme-challenge/");
        assert.deepEqual(args(acme, "alias"), ["/var/www/acme/"]);
        assert.deepEqual(args(acme, "limit_req_dry_run"), ["on"]);
        assert.deepEqual(args(acme, "limit_conn_dry_run"), ["on"]);
        assert.deepEqual(all(acme, "proxy_pass"), [], "never proxied");
        assert.deepEqual(all(acme, "if"), [], "never redirected");
    });

    it("redirects the rest of HTTP once fullchain.pem exists, to the HTTPS port when it is not 443", () => {
        const redirect = (opts: NginxConfigOptions) => {
            const ifs = all(location(servers(opts).plain, "/"), "if");
            assert.equal(ifs.length, 1);
            return { test: ifs[0]?.args, then: ifs[0]?.block };
        };
        assert.deepEqual(redirect({ ...BASE, tls: TLS }), {
            test: ["(-f", "/etc/nginx/certs/fullchain.pem)"],
            then: [{ name: "return", args: ["301", "https://$host$request_uri"] }],
        });
        assert.deepEqual(redirect({ ...BASE, tls: { ...TLS, certDir: "/c/", httpsPort: 8443 } }), {
            test: ["(-f", "/c/fullchain.pem)"],
            then: [{ name: "return", args: ["301", "https://$host:8443$request_uri"] }],
        });
    });

    it("gives HTTPS the same server nodes and app location as HTTP", () => {
        const { plain, secure } = servers({ ...BASE, tls: TLS });
        const appOf = (block: Directive[]) => location(block, "/").filter((d) => d.name !== "if");
        assert.deepEqual(appOf(secure), appOf(plain));
        assert.ok(appOf(plain).some((d) => d.name === "proxy_pass"));
        assert.deepEqual(all(location(secure, "/"), "if"), [], "no redirect on HTTPS");
        assert.deepEqual(all(appOf(secure), "proxy_set_header").find((d) => d.args[0] === "X-Forwarded-Proto")?.args, [
            "X-Forwarded-Proto",
            "$scheme",
        ]);
        const common = (block: Directive[]) =>
            block.filter((d) => !["listen", "location", "add_header", "http2"].includes(d.name) && !d.name.startsWith("ssl_"));
        assert.deepEqual(common(secure), common(plain));
        assert.ok(
            common(plain).some((d) => d.name === "limit_req"),
            "the limits are among them",
        );
    });

    it("listens with TLS 1.2/1.3, HTTP/2, Mozilla intermediate ciphers, a session cache and no tickets", () => {
        const { top, secure } = servers({ ...BASE, tls: TLS });
        assert.deepEqual(
            all(secure, "listen").map((d) => d.args),
            [
                ["443", "ssl", "default_server"],
                ["[::]:443", "ssl", "default_server"],
            ],
        );
        assert.deepEqual(args(secure, "http2"), ["on"]);
        assert.deepEqual(args(secure, "ssl_protocols"), ["TLSv1.2", "TLSv1.3"]);
        assert.deepEqual(args(secure, "ssl_ciphers"), [
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        ]);
        assert.deepEqual(args(secure, "ssl_prefer_server_ciphers"), ["off"]);
        assert.deepEqual(args(secure, "ssl_session_cache"), ["shared:berth_tls:10m"]);
        assert.deepEqual(args(secure, "ssl_session_tickets"), ["off"]);
        assert.deepEqual(args(secure, "ssl_certificate"), ["$berth_tls_dir/fullchain.pem"]);
        assert.deepEqual(args(secure, "ssl_certificate_key"), ["$berth_tls_dir/privkey.pem"]);
        assert.deepEqual(one(top, "map"), {
            name: "map",
            args: ["", "$berth_tls_dir"],
            block: [{ name: "default", args: ["/etc/nginx/certs"] }],
        });
        assert.deepEqual(args(secure, "ssl_certificate_cache"), ["max=4", "inactive=1h", "valid=60s"]);
        assert.doesNotMatch(renderNginxConfig({ ...BASE, tls: TLS }), /^\s*ssl_stapling/m, "no OCSP stapling");
    });

    it("applies every tls option", () => {
        const { plain, secure } = servers({
            ...BASE,
            listenIpv6: false,
            connLimitPerClient: 0,
            rateLimitPerClient: 0,
            tls: { certDir: "/certs/", acmeWebroot: "/acme/", hstsSeconds: 600, httpsPort: 8443, certCheckInterval: "1s" },
        });
        assert.deepEqual(
            all(secure, "listen").map((d) => d.args),
            [["8443", "ssl", "default_server"]],
        );
        assert.deepEqual(args(secure, "ssl_certificate_cache"), ["max=4", "inactive=1h", "valid=1s"]);
        assert.deepEqual(args(secure, "add_header"), ["Strict-Transport-Security", "max-age=600", "always"]);
        assert.deepEqual(all(plain, "add_header"), [], "no HSTS on HTTP");
        const acme = location(plain, "/.well-known/acme-challenge/");
        assert.deepEqual(args(acme, "alias"), ["/acme/"]);
        assert.deepEqual(all(acme, "limit_req_dry_run"), [], "no limits, no dry run");
    });

    it("sends no HSTS header unless hstsSeconds is above 0", () => {
        for (const hstsSeconds of [undefined, 0]) {
            const { plain, secure } = servers({ ...BASE, tls: { ...TLS, hstsSeconds } });
            assert.deepEqual([...all(plain, "add_header"), ...all(secure, "add_header")], []);
        }
    });

    const rejects = (label: string, opts: unknown, message: string) => {
        it(`rejects ${label}`, () => assert.throws(() => renderNginxConfig(opts as NginxConfigOptions), { message }));
    };
    const OBJECT = "an object: { certDir, acmeWebroot, hstsSeconds?, httpsPort?, certCheckInterval? }";
    for (const bad of [null, "on", true, []])
        rejects(`tls ${JSON.stringify(bad)}`, { ...BASE, tls: bad }, `nginx: tls must be ${OBJECT}, got ${JSON.stringify(bad)}`);
    rejects("a typo in tls", { ...BASE, tls: { ...TLS, hsts: 1 } }, 'nginx: unknown option "tls.hsts"');
    rejects("tls without certDir", { ...BASE, tls: { acmeWebroot: "/a" } }, "nginx: tls.certDir is required");
    rejects("tls without acmeWebroot", { ...BASE, tls: { certDir: "/c" } }, "nginx: tls.acmeWebroot is required");
    rejects(
        "httpsPort = listenPort",
        { ...BASE, listenPort: 8080, tls: { ...TLS, httpsPort: 8080 } },
        "nginx: tls.httpsPort must be a port other than listenPort and probePort, got 8080",
    );
    rejects(
        "httpsPort = probePort",
        { ...BASE, tls: { ...TLS, httpsPort: 8081 } },
        "nginx: tls.httpsPort must be a port other than listenPort and probePort, got 8081",
    );
    const badValues: [keys: string[], form: string, bad: unknown[]][] = [
        [["certDir", "acmeWebroot"], "an absolute path", ["", "certs", "/with space", "/semi;colon", '/quote"', 1]],
        [["hstsSeconds"], "an integer from 0 (no header) to 63072000 (two years)", [-1, 63072001, 1.5, "300", null]],
        [["httpsPort"], "an integer from 1 to 65535", [0, 65536, 443.5, "443"]],
        [["certCheckInterval"], `a positive duration with a unit: "500ms", "5s", "1m", "1h"`, ["60", "0s", "1d", 60]],
    ];
    for (const [keys, form, bad] of badValues) {
        for (const key of keys) {
            for (const value of bad) {
                rejects(
                    `tls.${key} ${JSON.stringify(value)}`,
                    { ...BASE, tls: { ...TLS, [key]: value } },
                    `nginx: tls.${key} must be ${form}, got ${JSON.stringify(value)}`,
                );
            }
        }
    }
});

describe("nginx -t accepts the rendered file with tls", () => {
    for (const [label, opts] of [
        ["defaults", { ...BASE, tls: TLS }],
        [
            "every tls option, no limits, no IPv6",
            {
                ...BASE,
                listenIpv6: false,
                connLimitPerClient: 0,
                rateLimitPerClient: 0,
                tls: { ...TLS, hstsSeconds: 31536000, httpsPort: 8443, certCheckInterval: "1s" },
            },
        ],
    ] as const) {
        it(`${label} (no certificate on disk)`, async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-tls-t-"));
            try {
                fs.writeFileSync(path.join(dir, "default.conf"), renderNginxConfig(opts));
                fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
                const r = await runNginx(["-t", "-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf")]);
                assert.equal(r.status, 0, r.stderr);
                assert.match(r.stderr, /test is successful/);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    }
});

// ---- real nginx -------------------------------------------------------------------------------------------

const SLOTS = { blue: "app-blue.test", green: "app-green.test" };
const APP_HOST = "127.0.0.4";
const TOKEN = "tok-3nJ_x9";
const HSTS = 600;
const CHECK = "1s";

interface Answer {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly body: string;
}

/** One HTTP(S) request; rejects on any client-side error or 10 s of silence. */
function request(url: string, opts: https.RequestOptions & { body?: string } = {}): Promise<Answer> {
    const { body, ...options } = opts;
    const mod = url.startsWith("https:") ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(url, { timeout: 10_000, ...options }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
        req.end(body);
    });
}

/** A fresh TLS handshake with `options`: the certificate's serial, the protocol and ALPN, or the error. */
function handshake(port: number, ca: TestCa, options: tls.ConnectionOptions = {}) {
    return new Promise<{ serial: string; protocol: string | null; alpn: string | false | null } | Error>((resolve) => {
        const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: ca.certPem, ...options }, () => {
            resolve({ serial: socket.getPeerCertificate().serialNumber, protocol: socket.getProtocol(), alpn: socket.alpnProtocol });
            socket.destroy();
        });
        socket.setTimeout(5_000, () => socket.destroy(new Error("handshake timeout")));
        socket.on("error", (e: Error) => resolve(e));
    });
}

/** DNS, a stand-in app echoing what it got, a CA, and nginx with tls (no certificate yet); all stopped at the end. */
async function startStack(t: TestContext, opts: Partial<NginxConfigOptions> = {}, certCheckInterval = CHECK) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-tls-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dns = await startDns({ [SLOTS.blue]: [APP_HOST], [SLOTS.green]: [APP_HOST] });
    t.after(() => dns.close());
    const app = http.createServer((req, res) => {
        let bytes = 0;
        req.on("data", (d: Buffer) => (bytes += d.length));
        req.on("end", () => {
            const seen = { proto: req.headers["x-forwarded-proto"], method: req.method, bytes, host: req.headers.host };
            res.writeHead(200, { "content-type": "application/json", "x-backend": "app" }).end(JSON.stringify(seen));
        });
    });
    await new Promise<void>((resolve) => app.listen(0, APP_HOST, resolve));
    t.after(() => {
        app.closeAllConnections();
        app.close();
    });
    const certDir = path.join(dir, "certs"); // absent until a test installs a leaf
    const webroot = path.join(dir, "acme");
    fs.mkdirSync(webroot);
    fs.writeFileSync(path.join(webroot, TOKEN), `${TOKEN}.key-authorization`);
    const httpPort = await freePort();
    const httpsPort = await freePort();
    fs.mkdirSync(path.join(dir, "route"));
    const conf = renderNginxConfig({
        rateLimitPerClient: 0,
        ...opts,
        slots: SLOTS,
        appPort: (app.address() as net.AddressInfo).port,
        listenPort: httpPort,
        probePort: await freePort(),
        routeDir: path.join(dir, "route"),
        resolver: `127.0.0.1:${dns.port}`,
        tls: { certDir, acmeWebroot: webroot, httpsPort, hstsSeconds: HSTS, certCheckInterval },
    });
    fs.writeFileSync(path.join(dir, "default.conf"), conf);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
    const nginx = await startNginx(dir);
    t.after(() => stop(nginx, "SIGTERM"));
    const errorLog = () => (fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : "");
    const http80 = `http://127.0.0.1:${httpPort}`;
    for (let i = 0; ; i++) {
        if (nginx.exitCode !== null) assert.fail(`nginx exited ${nginx.exitCode}: ${errorLog()}`);
        const r = await request(`${http80}/ready`).catch(() => undefined);
        if (r?.status === 200) break;
        if (i >= 200) assert.fail(`nginx not answering: ${errorLog()}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    const ca = makeCa(path.join(dir, "ca"));
    const issue = () => issueLeaf(ca, path.join(dir, "ca"));
    const secure = `https://127.0.0.1:${httpsPort}`;
    const trust = { ca: ca.certPem, servername: "localhost" };
    return { dir, nginx, errorLog, http80, secure, httpsPort, certDir, ca, issue, trust };
}

describe("real nginx with tls", () => {
    it("before any certificate: starts, proxies HTTP, serves the ACME token, fails HTTPS handshakes cleanly", async (t) => {
        const s = await startStack(t);
        const app = await request(`${s.http80}/page`);
        assert.equal(app.status, 200);
        assert.equal(app.headers["x-backend"], "app");
        assert.equal((JSON.parse(app.body) as { proto: string }).proto, "http", "X-Forwarded-Proto on HTTP");
        assert.equal(app.headers["strict-transport-security"], undefined, "no HSTS on HTTP");

        const token = await request(`${s.http80}/.well-known/acme-challenge/${TOKEN}`);
        assert.deepEqual([token.status, token.body, token.headers["x-backend"]], [200, `${TOKEN}.key-authorization`, undefined]);
        const missing = await request(`${s.http80}/.well-known/acme-challenge/nope`);
        assert.deepEqual([missing.status, missing.headers["x-backend"]], [404, undefined], "nginx's 404, not the app's");

        const failed = await handshake(s.httpsPort, s.ca);
        assert.ok(failed instanceof Error, "no certificate: the handshake fails");
        assert.match(s.errorLog(), /cannot load certificate .*fullchain\.pem/);
        assert.equal((await request(`${s.http80}/after`)).status, 200, "HTTP still served");
        assert.equal(s.nginx.exitCode, null, "nginx kept running");
    });

    it("the ACME challenge is never refused by the per-address limits that refuse the app", async (t) => {
        const s = await startStack(t, { rateLimitPerClient: 1, rateLimitBurst: 1, connLimitPerClient: 1 });
        const burst = (url: string) => Promise.all(Array.from({ length: 20 }, () => request(url).then((r) => r.status)));
        const app = await burst(`${s.http80}/page`);
        assert.ok(app.includes(429), `the limits are on: ${app.join(",")}`);
        const acme = await burst(`${s.http80}/.well-known/acme-challenge/${TOKEN}`);
        assert.deepEqual(new Set(acme), new Set([200]));
        installLeaf(s.certDir, s.issue());
        const after = await burst(`${s.http80}/.well-known/acme-challenge/${TOKEN}`);
        assert.deepEqual(new Set(after), new Set([200]), "and not redirected once HTTPS is on");
    });

    it("once fullchain.pem exists: HTTP redirects, HTTPS serves the app over HTTP/2 and TLS 1.2/1.3 only, with HSTS", async (t) => {
        const s = await startStack(t);
        const leaf = s.issue();
        installLeaf(s.certDir, leaf);

        const moved = await request(`${s.http80}/some/path?q=1`, { headers: { host: "shop.example" } });
        assert.equal(moved.status, 301);
        assert.equal(moved.headers.location, `https://shop.example:${s.httpsPort}/some/path?q=1`);
        assert.equal(moved.headers["strict-transport-security"], undefined, "no HSTS on HTTP");
        assert.equal((await request(`${s.http80}/x`, { method: "POST", body: "a=1" })).status, 301);
        const token = await request(`${s.http80}/.well-known/acme-challenge/${TOKEN}`);
        assert.deepEqual([token.status, token.headers["strict-transport-security"]], [200, undefined]);

        const res = await request(`${s.secure}/page`, { ...s.trust, headers: { host: "shop.example" } });
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(res.body), { proto: "https", method: "GET", bytes: 0, host: "shop.example" });
        assert.equal(res.headers["strict-transport-security"], `max-age=${HSTS}`);

        const h2 = await new Promise<{ status: number; proto: string }>((resolve, reject) => {
            const session = http2.connect(s.secure, s.trust);
            session.on("error", reject);
            const stream = session.request({ ":path": "/h2" });
            let body = "";
            let status = 0;
            stream.on("response", (h) => (status = Number(h[":status"])));
            stream.setEncoding("utf8");
            stream.on("data", (d: string) => (body += d));
            stream.on("end", () => {
                session.close();
                resolve({ status, proto: (JSON.parse(body) as { proto: string }).proto });
            });
            stream.on("error", reject);
        });
        assert.deepEqual(h2, { status: 200, proto: "https" });

        for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
            const ok = await handshake(s.httpsPort, s.ca, { minVersion: version, maxVersion: version, ALPNProtocols: ["h2", "http/1.1"] });
            assert.ok(!(ok instanceof Error), `${version}: ${ok instanceof Error ? ok.message : ""}`);
            assert.deepEqual(ok, { serial: leaf.serial, protocol: version, alpn: "h2" });
        }
        // The client offers TLS 1.1 only, its own floor lowered (@SECLEVEL=0): nginx refuses. OpenSSL 3's default
        // security level would refuse it too; ssl_protocols says so explicitly (checked in the rendering tests above).
        const old = await handshake(s.httpsPort, s.ca, { minVersion: "TLSv1.1", maxVersion: "TLSv1.1", ciphers: "DEFAULT:@SECLEVEL=0" });
        assert.ok(old instanceof Error, "TLS 1.1 refused");
        await new Promise((r) => setTimeout(r, 100));
        assert.match(s.errorLog(), /unsupported protocol/, "refused by nginx");
    });

    it("keeps a loaded certificate for certCheckInterval without reading the files, then loads the new ones", async (t) => {
        const s = await startStack(t, {}, "3s");
        const first = s.issue();
        const second = s.issue();
        installLeaf(s.certDir, first);
        const serial = async () => {
            const h = await handshake(s.httpsPort, s.ca);
            return h instanceof Error ? h.message : h.serial;
        };
        assert.equal(await serial(), first.serial);
        installLeaf(s.certDir, second);
        const swapped = performance.now();
        assert.equal(await serial(), first.serial, "cached: the files are not read on each handshake");
        let now = await serial();
        while (now !== second.serial && performance.now() - swapped < 10_000) {
            await new Promise((r) => setTimeout(r, 100));
            now = await serial();
        }
        const ms = performance.now() - swapped;
        t.diagnostic(`new certificate ${Math.round(ms)} ms after the swap (valid=3s)`);
        assert.equal(now, second.serial);
        // Reloaded once the entry is older than valid, counted in whole seconds: within 3 to 4 s of its load.
        assert.ok(ms < 5_500, `${ms} ms`);
    });

    it("a renewed certificate renamed over the old one under HTTPS keep-alive load: none fails, new handshakes get it", async (t) => {
        const s = await startStack(t);
        const first = s.issue();
        const second = s.issue();
        installLeaf(s.certDir, first);
        const initial = await handshake(s.httpsPort, s.ca);
        assert.equal(initial instanceof Error ? initial.message : initial.serial, first.serial);

        const agent = new https.Agent({ keepAlive: true, maxSockets: 20, ...s.trust });
        const samples: { at: number; method: string; ok: boolean; error?: string }[] = [];
        let stopping = false;
        const loop = async (n: number) => {
            for (let i = 0; !stopping; i++) {
                const method = (i + n) % 2 === 0 ? "GET" : "POST";
                const body = method === "POST" ? "x".repeat(1024) : undefined;
                const at = performance.now();
                try {
                    const r = await request(`${s.secure}/load`, { agent, method, body, ...s.trust });
                    const seen = JSON.parse(r.body) as { proto: string; method: string; bytes: number };
                    const ok = r.status === 200 && seen.proto === "https" && seen.method === method && seen.bytes === (body?.length ?? 0);
                    samples.push({ at, method, ok, error: ok ? undefined : `status ${r.status} ${r.body.slice(0, 100)}` });
                } catch (e) {
                    samples.push({ at, method, ok: false, error: e instanceof Error ? e.message : String(e) });
                }
            }
        };
        const started = performance.now();
        const loops = Array.from({ length: 20 }, (_, n) => loop(n));
        let swapped = 0;
        let seenAfterMs: number | undefined;
        try {
            await new Promise((r) => setTimeout(r, 1_500));
            installLeaf(s.certDir, second);
            swapped = performance.now();
            for (;;) {
                const h = await handshake(s.httpsPort, s.ca);
                if (!(h instanceof Error) && h.serial === second.serial) {
                    seenAfterMs = performance.now() - swapped;
                    break;
                }
                if (performance.now() - swapped > 10_000)
                    assert.fail(`still ${h instanceof Error ? h.message : h.serial} 10 s after the swap`);
                await new Promise((r) => setTimeout(r, 100));
            }
            const rest = 5_000 - (performance.now() - started);
            if (rest > 0) await new Promise((r) => setTimeout(r, rest));
        } finally {
            stopping = true;
            await Promise.all(loops);
            agent.destroy();
        }
        const failures = samples.filter((x) => !x.ok);
        t.diagnostic(
            `${samples.length} requests, ${failures.length} failed; new certificate on new handshakes ${Math.round(seenAfterMs ?? NaN)} ms after the swap`,
        );
        assert.equal(
            failures.length,
            0,
            failures
                .slice(0, 5)
                .map((f) => `${f.method}: ${f.error}`)
                .join("; "),
        );
        assert.ok(samples.filter((x) => x.at > swapped).length >= 100, "the load ran on after the swap");
        assert.ok(samples.some((x) => x.method === "POST") && samples.some((x) => x.method === "GET"));
        // valid=1s: nginx compares the files once a loaded certificate is older than a second (whole seconds).
        assert.ok(
            seenAfterMs !== undefined && seenAfterMs < 3_500,
            `picked up within the check interval and a second's rounding: ${seenAfterMs} ms`,
        );
        assert.equal(s.nginx.exitCode, null, "nginx kept running");
        assert.doesNotMatch(s.errorLog(), /reconfiguring|gracefully shutting down/, "no reload happened");
    });
});
