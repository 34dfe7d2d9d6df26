// Real nginx (test/support/nginx/binary.ts) running the rendered config in front of an in-process stand-in
// app, probing the limits the front puts on clients: request bodies (413 from nginx, never a 502 from an app
// that closes early), a Host for HTTP/1.0 requests without one, slow clients, and connections and request
// rates per client address. Clients pick their source address inside 127.0.0.0/8 (all of it is loopback on
// Linux), so one test sees several "client addresses".
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { renderNginxConfig, type NginxConfigOptions } from "../../../infra/deploy/nginx";
import { freePort } from "../../e2e/harness/tls";
import { startDns } from "../../support/nginx/dns";
import { mainConf, startNginx, stop } from "../../support/nginx/harness";

const SLOTS = { blue: "app-blue.test", green: "app-green.test" };
const APP_HOST = "127.0.0.4";
const CLIENT_A = "127.0.0.2";
const CLIENT_B = "127.0.0.3";

type Options = Omit<NginxConfigOptions, "slots" | "appPort" | "routeDir" | "resolver" | "listenPort" | "probePort">;

/**
 * DNS, the stand-in app (`handler`, a Node http server like the app's: it answers 400 to an HTTP/1.1
 * request without Host) and nginx with `opts`, all stopped when the test ends.
 */
async function startStack(t: TestContext, opts: Options, handler: http.RequestListener) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-limits-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dns = await startDns({ [SLOTS.blue]: [APP_HOST], [SLOTS.green]: [APP_HOST] });
    t.after(() => dns.close());
    const app = http.createServer((req, res) => {
        res.setHeader("x-backend", "app");
        if (req.url === "/ready") {
            req.resume();
            res.end("ready");
        } else handler(req, res);
    });
    await new Promise<void>((resolve) => app.listen(0, APP_HOST, resolve));
    t.after(() => {
        app.closeAllConnections();
        app.close();
    });
    const appPort = (app.address() as net.AddressInfo).port;
    const listenPort = await freePort();
    const probePort = await freePort();
    fs.mkdirSync(path.join(dir, "route"));
    const conf = renderNginxConfig({
        ...opts,
        slots: SLOTS,
        appPort,
        listenPort,
        probePort,
        routeDir: path.join(dir, "route"),
        resolver: `127.0.0.1:${dns.port}`,
    });
    fs.writeFileSync(path.join(dir, "default.conf"), conf);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
    const nginx = await startNginx(dir);
    t.after(() => stop(nginx, "SIGTERM"));
    const errorLog = () => (fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : "");
    for (let i = 0; ; i++) {
        if (nginx.exitCode !== null) assert.fail(`nginx exited ${nginx.exitCode}: ${errorLog()}`);
        const r = await raw(listenPort, "GET /ready HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n").catch(() => undefined);
        if (r?.status === 200) break;
        if (i >= 200) assert.fail(`nginx not answering: ${errorLog()}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    return { port: listenPort, probePort, errorLog };
}

interface RawResponse {
    /** The status of the first response, or undefined when the connection closed without one. */
    readonly status: number | undefined;
    readonly head: string;
    readonly text: string;
    /** Milliseconds from the connect to the close. */
    readonly closedAfterMs: number;
}

/**
 * One connection from `localAddress`: writes `chunks` (a pause of `delayMs` between them), then reads
 * until nginx closes, or `waitMs` passes (then the socket is destroyed and `closedAfterMs` is Infinity).
 */
function raw(
    port: number,
    chunks: string | readonly (string | Buffer)[],
    o: { localAddress?: string; delayMs?: number; waitMs?: number } = {},
): Promise<RawResponse> {
    const parts = typeof chunks === "string" ? [chunks] : chunks;
    return new Promise((resolve, reject) => {
        const started = performance.now();
        const socket = net.connect({ host: "127.0.0.1", port, localAddress: o.localAddress ?? "127.0.0.1" });
        const got: Buffer[] = [];
        let closedAfterMs = Infinity;
        const timer = setTimeout(() => socket.destroy(), o.waitMs ?? 10_000);
        socket.on("data", (d: Buffer) => got.push(d));
        // nginx may close (or reset) before the client has written everything: what it answered counts.
        socket.on("error", () => undefined);
        socket.on("close", () => {
            clearTimeout(timer);
            if (closedAfterMs === Infinity && socket.readableEnded) closedAfterMs = performance.now() - started;
            const text = Buffer.concat(got).toString("latin1");
            const head = text.slice(0, Math.max(0, text.indexOf("\r\n\r\n")));
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
            resolve({ status: m ? Number(m[1]) : undefined, head, text, closedAfterMs });
        });
        socket.on("end", () => {
            closedAfterMs = performance.now() - started;
            socket.end();
        });
        const send = async () => {
            try {
                for (const [i, part] of parts.entries()) {
                    if (i > 0 && o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
                    if (socket.destroyed) return;
                    await new Promise<void>((res) => socket.write(part, () => res()));
                }
            } catch (e) {
                reject(e);
            }
        };
        // send() settles on its own: a failure rejects the request's promise.
        socket.once("connect", () => void send());
    });
}

const fromApp = (r: RawResponse) => /^x-backend: app$/im.test(r.head);

/** An app that, like a body-limited app server, refuses a body over `limit` bytes and closes at once. */
function limitedApp(limit: number): http.RequestListener {
    return (req, res) => {
        const refuse = () => {
            res.writeHead(413, { connection: "close" }).end("too large");
            res.on("finish", () => req.socket.destroy());
        };
        if (Number(req.headers["content-length"] ?? 0) > limit) return refuse();
        let n = 0;
        req.on("data", (d: Buffer) => {
            n += d.length;
            if (n > limit && !res.headersSent) refuse();
        });
        req.on("end", () => {
            if (!res.headersSent) res.end(`got ${n}`);
        });
    };
}

function post(size: number, chunked: boolean): (string | Buffer)[] {
    const body = Buffer.alloc(size, "a");
    const head = `POST /upload HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n`;
    if (!chunked) return [`${head}Content-Length: ${size}\r\n\r\n`, body];
    // Two chunks, so nginx only learns the size while reading.
    const half = Math.floor(size / 2);
    const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
    return [
        `${head}Transfer-Encoding: chunked\r\n\r\n`,
        Buffer.concat([chunk(body.subarray(0, half)), chunk(body.subarray(half)), Buffer.from("0\r\n\r\n")]),
    ];
}

const okApp: http.RequestListener = (req, res) => {
    req.resume();
    req.on("end", () => res.end(JSON.stringify({ host: req.headers.host ?? null })));
};

/** An app that holds every request `ms` before answering, so requests stay in flight. */
const slowApp =
    (ms: number): http.RequestListener =>
    (req, res) => {
        req.resume();
        setTimeout(() => res.end("slow"), ms);
    };

describe("nginx limits on clients, through the rendered config", () => {
    it("a body over the limit gets 413 from nginx, never a 502, by default (1m, as the app's MAX_BODY_SIZE)", async (t) => {
        const LIMIT = 1024 * 1024; // berth:maxBodySize's default, "1m", which the app also gets in bytes
        const s = await startStack(t, {}, limitedApp(LIMIT));
        const N = 30;
        for (const chunked of [false, true]) {
            const answers: string[] = [];
            for (let i = 0; i < N; i++) {
                const r = await raw(s.port, post(LIMIT + 1, chunked));
                answers.push(`${r.status ?? "closed"}${fromApp(r) ? " from the app" : ""}`);
            }
            assert.deepEqual(answers, Array(N).fill("413"), `${chunked ? "chunked" : "Content-Length"}: ${answers.join(", ")}`);
        }
        for (const chunked of [false, true]) {
            const r = await raw(s.port, post(LIMIT, chunked));
            assert.equal(r.status, 200, r.text.slice(0, 300));
            assert.ok(fromApp(r) && r.text.endsWith(`got ${LIMIT}`), "a body at the limit reaches the app whole");
        }
        assert.doesNotMatch(s.errorLog(), /Broken pipe|reset by peer/);
    });

    it("the same with a set limit (64k): 413 from nginx for every body over it, the app gets the rest", async (t) => {
        const LIMIT = 64 * 1024;
        const s = await startStack(t, { clientMaxBodySize: "64k" }, limitedApp(LIMIT));
        for (const chunked of [false, true]) {
            for (let i = 0; i < 30; i++) {
                const r = await raw(s.port, post(LIMIT + 1 + i * 1000, chunked));
                assert.equal(r.status, 413, `request ${i}`);
                assert.ok(!fromApp(r), "answered by nginx");
            }
            const r = await raw(s.port, post(LIMIT, chunked));
            assert.equal(r.status, 200);
            assert.ok(r.text.endsWith(`got ${LIMIT}`));
        }
    });

    it("an HTTP/1.0 request without Host reaches the app with a Host; HTTP/1.1 keeps the client's", async (t) => {
        // $host falls back to server_name (with the default "_", the app sees Host "_").
        const s = await startStack(t, { serverName: "www.example" }, okApp);
        const r = await raw(s.port, "GET / HTTP/1.0\r\n\r\n");
        assert.equal(r.status, 200, r.text);
        assert.ok(fromApp(r));
        assert.deepEqual(JSON.parse(r.text.slice(r.text.indexOf("\r\n\r\n") + 4)), { host: "www.example" });

        const kept = await raw(s.port, "GET / HTTP/1.1\r\nHost: shop.example:8080\r\nConnection: close\r\n\r\n");
        assert.equal(kept.status, 200);
        assert.deepEqual(JSON.parse(kept.text.slice(kept.text.indexOf("\r\n\r\n") + 4)), { host: "shop.example:8080" });
        const old = await raw(s.port, "GET / HTTP/1.0\r\nHost: old.example\r\n\r\n");
        assert.deepEqual(JSON.parse(old.text.slice(old.text.indexOf("\r\n\r\n") + 4)), { host: "old.example" });
    });

    it("a client sending its headers slowly is closed within the header timeout", async (t) => {
        const s = await startStack(t, { clientTimeout: "2s" }, okApp);
        // One header line a second would keep a connection forever without a bound on the whole header.
        const lines = ["GET / HTTP/1.1\r\n", ...Array.from({ length: 20 }, (_, i) => `X-Slow-${i}: 1\r\n`)];
        const r = await raw(s.port, lines, { delayMs: 1000, waitMs: 8000 });
        assert.ok(r.closedAfterMs < 4000, `closed after ${r.closedAfterMs} ms`);
        assert.ok(r.closedAfterMs >= 1500, `not before the timeout: ${r.closedAfterMs} ms`);
        assert.ok(r.status === undefined || r.status === 408, `status ${r.status}`);
    });

    it("a client sending its body slowly is answered 408 or closed within the body timeout", async (t) => {
        const s = await startStack(t, { clientTimeout: "2s" }, okApp);
        const head = "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 100\r\n\r\n";
        const r = await raw(s.port, [head, "0123456789"], { waitMs: 8000 });
        assert.ok(r.closedAfterMs < 4000, `closed after ${r.closedAfterMs} ms`);
        assert.ok(r.closedAfterMs >= 1500, `not before the timeout: ${r.closedAfterMs} ms`);
        assert.ok(r.status === undefined || r.status === 408, `status ${r.status}`);
        assert.ok(!fromApp(r), "the app never answered");
    });

    it("connections over the per-address limit get 429, another address is still served", async (t) => {
        const s = await startStack(t, { connLimitPerClient: 3, rateLimitPerClient: 0 }, slowApp(1500));
        const req = "GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n";
        const fromA = Array.from({ length: 8 }, () => raw(s.port, req, { localAddress: CLIENT_A }));
        await new Promise((r) => setTimeout(r, 500)); // A's requests are in flight at the app
        const fromB = await raw(s.port, req, { localAddress: CLIENT_B });
        const a = (await Promise.all(fromA)).map((r) => r.status).sort();
        assert.deepEqual(a, [200, 200, 200, 429, 429, 429, 429, 429], `address A: ${a.join(",")}`);
        assert.equal(fromB.status, 200, "address B is not limited by A's connections");
    });

    it("requests over the per-address rate and burst get 429; the cutover's probe server is never limited", async (t) => {
        const s = await startStack(t, { connLimitPerClient: 0, rateLimitPerClient: 5, rateLimitBurst: 5 }, okApp);
        const req = "GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n";
        const burst = await Promise.all(Array.from({ length: 30 }, () => raw(s.port, req, { localAddress: CLIENT_A })));
        const ok = burst.filter((r) => r.status === 200).length;
        const limited = burst.filter((r) => r.status === 429).length;
        assert.equal(ok + limited, 30, burst.map((r) => r.status).join(","));
        // nodelay: the burst and the one request the rate allows pass at once, a few more as time passes.
        assert.ok(ok >= 6 && ok <= 15, `${ok} served`);
        assert.ok(
            burst.filter((r) => r.status === 429).every((r) => !fromApp(r)),
            "429s come from nginx",
        );
        assert.equal((await raw(s.port, req, { localAddress: CLIENT_B })).status, 200, "another address has its own budget");

        const probe = `GET /blue/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;
        const probes = await Promise.all(Array.from({ length: 30 }, () => raw(s.probePort, probe)));
        assert.deepEqual(
            probes.map((r) => r.status),
            Array(30).fill(200),
        );
    });
});
