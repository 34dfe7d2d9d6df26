/**
 * `npm run bench` (after the app's own bench): figures measured side by side in one run on a real
 * engine, with what the program declares.
 *   1. nginx vs direct to the app container: throughput ratio and added p50/p99 at 20 and 50
 *      connections, alternating rounds so both see the same machine;
 *   2. HTTPS vs HTTP through nginx (a test-CA certificate where the ACME client would publish one): throughput
 *      ratio and p50/p99 at the same connections, alternating rounds, and full TLS handshakes' p50/p99; then the
 *      HTTP-only stack again for what follows;
 *   3. every deploy drill under 50 connections (one request in five a POST): failed requests, the
 *      longest request and p99 in the deploy window against steady state;
 *   4. an update deploy of a source-only change with a warm build cache: build, migrate, healthy, switch.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { failures, percentile, runLoad, LoadResult } from "./support/load";
import { measureHandshakes } from "./support/handshake";
import { expectApp, installCertificate, removeCertificate, setCertificate } from "./support/https-bench";
import { setupE2e } from "./support/env";
import { BROKEN, drill } from "./support/drills";
import { sleep, waitFor } from "./harness/proc";
import { issueLeaf, makeCa } from "../support/nginx/tls";
import { ACME_HOST_DIR } from "../../infra/targets/aws";

const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS || 5000);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || "20,50").split(",").map(Number);
/** Full TLS handshakes measured at each concurrency. */
const HANDSHAKES = Number(process.env.BENCH_HANDSHAKES || 300);
const DOMAIN = "bench.berth.test";
const ROOT = path.resolve(__dirname, "../..");

function merge(results: LoadResult[]) {
    const lat = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const requests = results.reduce((a, r) => a + r.requests, 0);
    const seconds = results.reduce((a, r) => a + r.durationMs, 0) / 1000;
    return {
        rps: requests / seconds,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        failed: results.reduce((a, r) => a + failures(r), 0),
    };
}

async function main() {
    const t0 = Date.now();
    const env = await setupE2e();
    const out = (line: string) => process.stdout.write(`${line}\n`);
    // The bench's load is unpaced, from one address: far over the per-client rate limit (a guard for
    // the internet, not what is measured here), so it is off for the bench.
    const declare = (config: Record<string, unknown>) => env.declare({ rateLimitPerClient: 0, ...config });
    try {
        await env.up(await declare({ appVersion: 1 }));
        // Both on the bridge network, by container address: the published loopback port would add
        // docker-proxy (a userland copy the real host's DNAT path does not have) to nginx's side only.
        const ipOf = async (name: string) => {
            const info = (await env.applier.inspect(name)) as unknown as {
                NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
            };
            const [network] = Object.values(info.NetworkSettings.Networks);
            if (!network) throw new Error(`${name} is on no network`);
            return network.IPAddress;
        };
        let nginx = `http://${await ipOf("berth-nginx")}:80/`;
        const direct = `http://${await ipOf("berth-app")}:3000/`;

        // 1. Side by side, alternating.
        for (const connections of CONNECTIONS) {
            const viaNginx: LoadResult[] = [];
            const viaDirect: LoadResult[] = [];
            await runLoad({ url: nginx, connections, stop: sleep(2000) }); // warm-up
            for (let i = 0; i < ROUNDS; i++) {
                viaDirect.push(await runLoad({ url: direct, connections, stop: sleep(ROUND_MS) }));
                viaNginx.push(await runLoad({ url: nginx, connections, stop: sleep(ROUND_MS) }));
            }
            const d = merge(viaDirect);
            const n = merge(viaNginx);
            out(`GET / at ${connections} connections, ${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s:`);
            out(`  direct : ${d.rps.toFixed(0)} req/s, p50 ${d.p50.toFixed(2)} ms, p99 ${d.p99.toFixed(2)} ms, ${d.failed} failed`);
            out(`  nginx  : ${n.rps.toFixed(0)} req/s, p50 ${n.p50.toFixed(2)} ms, p99 ${n.p99.toFixed(2)} ms, ${n.failed} failed`);
            out(
                `  nginx/direct throughput ratio: ${(n.rps / d.rps).toFixed(2)} (target >= 0.80); added p50 ${(n.p50 - d.p50).toFixed(2)} ms, added p99 ${(n.p99 - d.p99).toFixed(2)} ms`,
            );
        }

        // 2. HTTPS vs HTTP through nginx, alternating. The ACME directory is unreachable (its client only logs
        // failures and retries, publishing nothing): the certificate is a test CA's, put where the client would.
        const httpsConfig = {
            domain: DOMAIN,
            acmeEmail: "ops@berth.test",
            acmeServer: "https://acme.invalid/dir",
        };
        await env.up(await declare({ appVersion: 1, ...httpsConfig }));
        const ip = await ipOf("berth-nginx");
        const live = env.hostPath!(`${ACME_HOST_DIR}/live`);
        // The ACME container makes live/ (group of nginx's workers, 0750) when it starts.
        await waitFor("the ACME client to make live/", 60_000, async () =>
            (await fs.stat(live).catch(() => undefined)) ? true : undefined,
        );
        const caDir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-bench-ca-"));
        try {
            const ca = makeCa(caDir);
            await installCertificate(live, issueLeaf(ca, caDir, [DOMAIN]));
            const plain = { url: `http://${ip}:80/`, hostHeader: DOMAIN };
            const secure = { url: `https://${ip}:443/`, hostHeader: DOMAIN, ca: ca.certPem, servername: DOMAIN };
            const check = { host: DOMAIN, ca: ca.certPem, servername: DOMAIN };
            /** HTTP: port 80 serves the app (no certificate, no redirect). HTTPS: 443 serves it with ours. */
            const mode = async (on: boolean) => {
                await setCertificate(live, on);
                return expectApp(on ? secure.url : plain.url, check);
            };
            for (const connections of CONNECTIONS) {
                const viaHttp: LoadResult[] = [];
                const viaHttps: LoadResult[] = [];
                const { tlsVersion } = await mode(true);
                await runLoad({ ...secure, connections, stop: sleep(2000) }); // warm-up
                for (let i = 0; i < ROUNDS; i++) {
                    await mode(false);
                    viaHttp.push(await runLoad({ ...plain, connections, stop: sleep(ROUND_MS) }));
                    await mode(true);
                    viaHttps.push(await runLoad({ ...secure, connections, stop: sleep(ROUND_MS) }));
                }
                const h = merge(viaHttp);
                const s = merge(viaHttps);
                out(
                    `GET / through nginx, HTTP vs HTTPS (${tlsVersion}, HTTP/1.1 keep-alive) at ${connections} connections, ` +
                        `${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s:`,
                );
                out(`  http   : ${h.rps.toFixed(0)} req/s, p50 ${h.p50.toFixed(2)} ms, p99 ${h.p99.toFixed(2)} ms, ${h.failed} failed`);
                out(`  https  : ${s.rps.toFixed(0)} req/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ${s.failed} failed`);
                out(
                    `  https/http throughput ratio: ${(s.rps / h.rps).toFixed(2)}; added p50 ${(s.p50 - h.p50).toFixed(2)} ms, added p99 ${(s.p99 - h.p99).toFixed(2)} ms`,
                );
            }
            // Full handshakes (no session offered for resumption), each timed from TCP connected to secureConnect.
            await mode(true);
            for (const concurrency of [1, 10]) {
                const r = await measureHandshakes({
                    host: ip,
                    port: 443,
                    servername: DOMAIN,
                    ca: ca.certPem,
                    count: HANDSHAKES,
                    concurrency,
                });
                const protocols = Object.entries(r.protocols)
                    .map(([p, n]) => `${p} ${n}`)
                    .join(", ");
                out(
                    `TLS handshake (full, P-256 certificate), ${HANDSHAKES} at concurrency ${concurrency}: ` +
                        `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.failed} failed; ALPN: ${protocols || "none"}` +
                        (r.failed ? ` ${JSON.stringify(r.errors)}` : ""),
                );
            }
        } finally {
            await removeCertificate(live);
            await fs.rm(caDir, { recursive: true, force: true });
        }
        // The HTTP-only stack again (nginx is replaced: its address is looked up again).
        await env.up(await declare({ appVersion: 1 }));
        nginx = `http://${await ipOf("berth-nginx")}:80/`;
        await expectApp(nginx, { host: new URL(nginx).host });

        // 3. The drills, each under 50 connections with POSTs.
        let version = 1;
        const drills: [string, Record<string, unknown>, boolean, (() => Promise<void>)?][] = [
            ["normal switch", {}, true],
            ["new version answers 500", BROKEN.answers500, false],
            ["new version hangs", BROKEN.hangs, false],
            ["new version crashes in a loop", BROKEN.crashLoop, false],
            ["failed migration", BROKEN.failedMigration, false],
            ["new version healthy after 10 s", BROKEN.slowStart, true],
            [
                "new container killed at the cutover",
                {},
                true,
                async () => {
                    env.cutoverHooks.before = undefined;
                    const info = (await env.applier.inspect("berth-app")) as unknown as { State: { Pid: number } };
                    process.kill(info.State.Pid, "SIGKILL");
                },
            ],
        ];
        out("deploy drills, 50 connections, 1 request in 5 a POST:");
        for (const [what, config, succeeds, hook] of drills) {
            const next = version + 1;
            const decl = await declare({ appVersion: next, ...config });
            env.cutoverHooks.before = hook;
            const r = await drill(nginx, () => env.up(decl));
            if (succeeds && !r.error) version = next;
            const ratio = r.window.p99 / r.steady.p99;
            out(
                `  ${what.padEnd(36)} ${failures(r.load)} failed (target 0), longest ${r.window.longest.toFixed(0)} ms (target < 500), ` +
                    `p99 ${r.window.p99.toFixed(1)} ms = ${ratio.toFixed(2)}x steady ${r.steady.p99.toFixed(1)} ms (target <= 2); ` +
                    `deploy ${r.error ? "failed, as it must" : "succeeded"}` +
                    (Boolean(r.error) === succeeds ? "  <-- UNEXPECTED" : ""),
            );
        }

        // 4. A source-only change, warm cache.
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-bench-app-"));
        try {
            await fs.cp(path.join(ROOT, "app"), dir, { recursive: true, filter: (src) => !/\/(node_modules|dist)(\/|$)/.test(src) });
            await env.up(await declare({ appVersion: version, appDir: dir })); // same sources: warms the cache
            const server = path.join(dir, "src", "server.ts");
            await fs.appendFile(server, `\n// bench change ${Date.now()}\n`);
            const decl = await declare({ appVersion: version, appDir: dir });
            const from = env.applier.events.length;
            const started = Date.now();
            await env.up(decl);
            const total = (Date.now() - started) / 1000;
            const ev = env.applier.events.slice(from);
            const t = (name: string, what: string) => ((ev.find((e) => e.name === name && e.what === what)?.at ?? NaN) - started) / 1000;
            out(
                `update deploy of a source-only change (warm cache): ${total.toFixed(1)} s (target < 30 s): ` +
                    `build done ${t("berth-migrate", "created").toFixed(1)} s, migrate done ${t("berth-migrate", "exited").toFixed(1)} s, ` +
                    `new app healthy ${t("berth-app", "healthy").toFixed(1)} s, old app removed ${t("berth-app", "removed").toFixed(1)} s`,
            );
        } finally {
            await fs.rm(dir, { recursive: true, force: true });
        }
    } finally {
        await env.close();
        out(`(bench took ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
}

main().catch((e) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
});
