// Debian's nginx running the rendered config in front of two stand-in app processes that share one DNS
// name (as Docker's DNS answers for a network alias during a deploy); one of them dies under load and no
// client request may fail.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { renderNginxConfig } from "../../../infra/deploy/nginx";
import { startDns } from "../../support/nginx/dns";
import { get, Load, mainConf, startBackend, startNginx, stop, type Sample } from "../../support/nginx/harness";

const NAME = "app.test";
const A = { name: "a", host: "127.0.0.2" }; // all of 127.0.0.0/8 is loopback on Linux
const B = { name: "b", host: "127.0.0.3" };
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
    const dns = await startDns({ [NAME]: [A.host, B.host] });
    t.after(() => dns.close());

    const a = startBackend(A.name, A.host, 0, BACKEND_DELAY_MS);
    t.after(() => stop(a.child, "SIGKILL"));
    const appPort = await a.ready;
    const b = startBackend(B.name, B.host, appPort, BACKEND_DELAY_MS); // same port: one URL, two addresses
    t.after(() => stop(b.child, "SIGKILL"));
    await b.ready;

    const listenPort = await freePort();
    const conf = renderNginxConfig({ appHost: NAME, appPort, listenPort, resolver: `127.0.0.1:${dns.port}` });
    fs.writeFileSync(path.join(dir, "default.conf"), conf);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
    const nginx = startNginx(dir);
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
    return { dir, url, a: a.child, dns };
}

function read(dir: string, file: string): string {
    return fs.existsSync(path.join(dir, file)) ? fs.readFileSync(path.join(dir, file), "utf8") : "";
}

/** Access-log lines (format "berth") whose request went to more than one address. */
function retriedLines(dir: string): string[] {
    return read(dir, "access.log")
        .split("\n")
        .filter((line) => /upstream="[^"]*,/.test(line));
}

function describeFailures(failures: readonly Sample[]): string {
    return failures
        .slice(0, 5)
        .map((s) => `status=${s.status} error=${s.error}`)
        .join("; ");
}

const servedBy = (samples: readonly Sample[], name: string) => samples.filter((s) => s.backend === name).length;

/**
 * Load through nginx; once both backends have answered, `signal` backend a; keep the load on until
 * 600 more requests started after a exited. Returns every sample and the two instants.
 */
async function drill(url: string, a: ReturnType<typeof startBackend>["child"], signal: NodeJS.Signals) {
    const load = new Load(url, CLIENTS);
    let signalled = 0;
    let exited = Infinity;
    let exitCode: number | null = null;
    try {
        const warm = () => servedBy(load.samples, A.name) >= 50 && servedBy(load.samples, B.name) >= 50;
        await load.until("both backends to answer 50 requests", warm);
        signalled = performance.now();
        exitCode = await stop(a, signal);
        exited = performance.now();
        const afterExit = () => load.samples.filter((s) => s.started > exited).length >= 600;
        await load.until("600 requests after backend a exited", afterExit);
    } finally {
        await load.stop();
    }
    return { samples: load.samples, signalled, exited, exitCode };
}

function assertNothingDropped(t: TestContext, dir: string, run: Awaited<ReturnType<typeof drill>>): void {
    const { samples, exited } = run;
    const failures = samples.filter((s) => s.status !== 200 || s.error !== null);
    const retried = retriedLines(dir);
    const upstreamErrors = (re: RegExp) =>
        read(dir, "error.log")
            .split("\n")
            .filter((l) => re.test(l)).length;
    const refused = upstreamErrors(/Connection refused/);
    const cut = upstreamErrors(/prematurely closed|reset by peer/);
    t.diagnostic(
        `${samples.length} requests, ${failures.length} failed; nginx retried ${retried.length} ` +
            `(${refused} refused, ${cut} cut mid-response)`,
    );
    assert.equal(failures.length, 0, `${failures.length} of ${samples.length} failed: ${describeFailures(failures)}`);

    const before = samples.filter((s) => s.ended < run.signalled);
    assert.ok(servedBy(before, A.name) > 0 && servedBy(before, B.name) > 0, "both backends served before");
    const after = samples.filter((s) => s.started > exited);
    assert.ok(after.length >= 600);
    assert.deepEqual(new Set(after.map((s) => s.backend)), new Set([B.name]), "only the survivor serves after");
    // Our DNS keeps listing the dead address, so the retry path is exercised, not avoided.
    assert.ok(retried.length > 0, "nginx retried on the other address at least once");
}

describe("rendered nginx config in front of two app processes behind one name", () => {
    it("passes the proxy headers and the client's Host to the app", async (t) => {
        const s = await startStack(t);
        const res = await get(s.url, undefined, { host: "shop.example:8080", "x-forwarded-for": "203.0.113.9" });
        assert.equal(res.status, 200);
        const seen = JSON.parse(res.body) as Record<string, unknown>;
        assert.equal(seen.host, "shop.example:8080");
        assert.equal(seen.xForwardedFor, "203.0.113.9, 127.0.0.1");
        assert.equal(seen.xForwardedProto, "http");
        assert.equal(seen.xRealIp, "127.0.0.1");
        assert.ok(s.dns.queries.includes(`${NAME} 1`), "nginx asked the resolver for the A record");
        assert.ok(!s.dns.queries.some((q) => q.endsWith(" 28")), "ipv6=off: no AAAA query");
    });

    it("drops nothing when a backend is SIGKILLed under load (refused and reset connections)", async (t) => {
        const s = await startStack(t);
        const run = await drill(s.url, s.a, "SIGKILL");
        assert.equal(s.a.signalCode, "SIGKILL");
        assertNothingDropped(t, s.dir, run);
    });

    it("drops nothing when a backend drains on SIGTERM under load", async (t) => {
        const s = await startStack(t);
        const run = await drill(s.url, s.a, "SIGTERM");
        assert.equal(run.exitCode, 0, "backend a exited 0 after draining");
        assertNothingDropped(t, s.dir, run);
        const drained = run.samples.filter((x) => x.backend === A.name && x.ended > run.signalled);
        assert.ok(drained.length > 0, "backend a finished requests it had in flight when signalled");
    });
});
