// Real nginx (>= 1.27.3, test/support/nginx/binary.ts) running the rendered config in front of two stand-in
// app processes, one per slot name (as Docker's DNS answers for the slots on the front network). The
// route marker is flipped under load: every request started after the flip goes to the new slot, none
// fails, and no reload happens. A killed live backend falls back to the other slot.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { renderNginxConfig, routeMarker } from "../../../infra/deploy/nginx";
import { MIN_NGINX_VERSION, compareVersions, nginxBinary } from "../../support/nginx/binary";
import { startDns } from "../../support/nginx/dns";
import { get, Load, mainConf, startBackend, startNginx, stop, type Sample } from "../../support/nginx/harness";

const SLOTS = { blue: "app-blue.test", green: "app-green.test" };
const A = { name: "a", host: "127.0.0.2" }; // all of 127.0.0.0/8 is loopback on Linux: a answers as blue
const B = { name: "b", host: "127.0.0.3" }; // b as green
const CLIENTS = 20;
const BACKEND_DELAY_MS = 20; // keeps requests in flight on the backend that gets killed

async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, resolve)); // all addresses, both families
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
}

/** DNS + backends a and b + nginx, all torn down (by pid) when the test ends. */
async function startStack(t: TestContext) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const dns = await startDns({ [SLOTS.blue]: [A.host], [SLOTS.green]: [B.host] });
    t.after(() => dns.close());

    const a = startBackend(A.name, A.host, 0, BACKEND_DELAY_MS);
    t.after(() => stop(a.child, "SIGKILL"));
    const appPort = await a.ready;
    const b = startBackend(B.name, B.host, appPort, BACKEND_DELAY_MS); // same port: one URL, two addresses
    t.after(() => stop(b.child, "SIGKILL"));
    await b.ready;

    const listenPort = await freePort();
    const routeDir = path.join(dir, "route");
    fs.mkdirSync(routeDir);
    const conf = renderNginxConfig({
        slots: SLOTS,
        appPort,
        listenPort,
        routeDir,
        resolver: `127.0.0.1:${dns.port}`,
        probePort: await freePort(),
        // The load below is unpaced, from one address: more requests a second than the default per-address
        // rate (nginx-limits.test.ts tests the limits).
        rateLimitPerClient: 0,
    });
    fs.writeFileSync(path.join(dir, "default.conf"), conf);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
    const nginx = await startNginx(dir);
    t.after(() => stop(nginx, "SIGTERM"));

    const url = `http://127.0.0.1:${listenPort}/`;
    for (let i = 0; ; i++) {
        if (nginx.exitCode !== null) assert.fail(`nginx exited ${nginx.exitCode}: ${read(dir, "error.log")}`);
        const ok = await get(url).then(
            (r) => r.status === 200,
            () => false,
        );
        if (ok) break;
        if (i >= 200) assert.fail(`nginx not answering on ${url}: ${read(dir, "error.log")}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    const marker = routeMarker(routeDir, SLOTS);
    return { dir, url, a: a.child, b: b.child, dns, marker, nginx };
}

function read(dir: string, file: string): string {
    return fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), "utf8") : "";
}

function describeFailures(failures: readonly Sample[]): string {
    return failures
        .slice(0, 5)
        .map((s) => `status=${s.status} error=${s.error}`)
        .join("; ");
}

const servedBy = (samples: readonly Sample[], name: string) => samples.filter((s) => s.backend === name).length;

describe("rendered nginx config in front of two app processes, one per slot", () => {
    it(`runs an nginx with upstream resolve (>= ${MIN_NGINX_VERSION})`, async () => {
        const bin = await nginxBinary();
        assert.ok(compareVersions(bin.version, MIN_NGINX_VERSION) >= 0, `${bin.origin} is nginx ${bin.version}`);
    });

    it("passes the proxy headers and the client's Host to the app", async (t) => {
        const s = await startStack(t);
        const res = await get(s.url, undefined, { host: "shop.example:8080", "x-forwarded-for": "203.0.113.9" });
        assert.equal(res.status, 200);
        const seen = JSON.parse(res.body) as Record<string, unknown>;
        assert.equal(seen.name, A.name, "no marker: the blue slot is live");
        assert.equal(seen.host, "shop.example:8080");
        assert.equal(seen.xForwardedFor, "203.0.113.9, 127.0.0.1");
        assert.equal(seen.xForwardedProto, "http");
        assert.equal(seen.xRealIp, "127.0.0.1");
        assert.ok(s.dns.queries.includes(`${SLOTS.blue} 1`), "nginx asked the resolver for the A record");
        assert.ok(!s.dns.queries.some((q) => q.endsWith(" 28")), "ipv6=off: no AAAA query");
    });

    it("flipping the marker moves every new request at once, with none failed and no reload", async (t) => {
        const s = await startStack(t);
        const load = new Load(s.url, CLIENTS);
        let flipped = 0;
        let flippedBack = 0;
        try {
            await load.until("blue to answer 300 requests", () => servedBy(load.samples, A.name) >= 300);
            flipped = performance.now();
            fs.writeFileSync(s.marker, "");
            await load.until("600 requests after the flip", () => load.samples.filter((x) => x.started > flipped).length >= 600);
            flippedBack = performance.now();
            fs.rmSync(s.marker);
            await load.until("600 requests after the flip back", () => load.samples.filter((x) => x.started > flippedBack).length >= 600);
        } finally {
            await load.stop();
        }
        const samples = load.samples;
        const failures = samples.filter((x) => x.status !== 200 || x.error !== null);
        t.diagnostic(`${samples.length} requests, ${failures.length} failed`);
        assert.equal(failures.length, 0, describeFailures(failures));
        const names = (from: number, to: number) => new Set(samples.filter((x) => x.started > from && x.ended < to).map((x) => x.backend));
        assert.deepEqual([...names(0, flipped)], [A.name], "only blue before the flip");
        assert.deepEqual([...names(flipped, flippedBack)], [B.name], "only green between the flips");
        assert.deepEqual([...names(flippedBack, Infinity)], [A.name], "only blue after the flip back");
        assert.equal(s.nginx.exitCode, null, "nginx kept running");
        assert.doesNotMatch(read(s.dir, "error.log"), /reconfiguring|gracefully shutting down/, "no reload happened");
    });

    it("a live backend SIGKILLed under load: requests fall back to the other slot, none fails", async (t) => {
        const s = await startStack(t);
        const load = new Load(s.url, CLIENTS);
        let exited = 0;
        try {
            await load.until("blue to answer 300 requests", () => servedBy(load.samples, A.name) >= 300);
            await stop(s.a, "SIGKILL");
            exited = performance.now();
            await load.until("600 requests after blue died", () => load.samples.filter((x) => x.started > exited).length >= 600);
        } finally {
            await load.stop();
        }
        const failures = load.samples.filter((x) => x.status !== 200 || x.error !== null);
        assert.equal(failures.length, 0, describeFailures(failures));
        const after = load.samples.filter((x) => x.started > exited);
        assert.deepEqual(new Set(after.map((x) => x.backend)), new Set([B.name]), "the backup slot serves");
    });

    it("a live backend draining on SIGTERM after the flip finishes its requests; none fails", async (t) => {
        const s = await startStack(t);
        const load = new Load(s.url, CLIENTS);
        let code: number | null;
        try {
            await load.until("blue to answer 300 requests", () => servedBy(load.samples, A.name) >= 300);
            fs.writeFileSync(s.marker, "");
            const flipped = performance.now();
            await load.until("200 requests after the flip", () => load.samples.filter((x) => x.started > flipped).length >= 200);
            code = await stop(s.a, "SIGTERM");
            const exited = performance.now();
            await load.until("300 requests after blue exited", () => load.samples.filter((x) => x.started > exited).length >= 300);
        } finally {
            await load.stop();
        }
        assert.equal(code, 0, "blue drained and exited 0");
        const failures = load.samples.filter((x) => x.status !== 200 || x.error !== null);
        assert.equal(failures.length, 0, describeFailures(failures));
    });
});
