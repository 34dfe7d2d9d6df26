/**
 * The deploy drills, shared by the e2e suite and `npm run bench`: broken versions of every kind (as
 * config a user could deploy), and a drill runner measuring the deploy window against steady state.
 */
import { sleep } from "../harness/proc";
import { failures, runLoad, windowStats, type LoadOptions } from "./load";

const node = (script: string) => JSON.stringify(["node", "-e", script]);

/** Config of versions that must never serve, and of one that serves only after a slow start. */
export const BROKEN = {
    /** Listens, answers 500 everywhere (its health check fails). */
    answers500: {
        appCommand: node(
            `require("http").createServer((q, s) => { s.writeHead(500, { "x-app-version": "broken" }); s.end("broken"); }).listen(process.env.PORT)`,
        ),
        healthTimeout: 15,
    },
    /** Port open, never answers. */
    hangs: { appCommand: node(`require("http").createServer(() => {}).listen(process.env.PORT)`), healthTimeout: 15 },
    /** Exits 1 after 300 ms, again and again (restart policy). */
    crashLoop: { appCommand: node(`setTimeout(() => process.exit(1), 300)`), healthTimeout: 15 },
    /** Answers 500 on everything for 10 s, then becomes the real app. */
    slowStart: {
        appCommand: node(
            `const s = require("http").createServer((q, r) => { r.writeHead(500, { "x-app-version": "warming" }); r.end("warming up"); })` +
                `.listen(process.env.PORT); setInterval(() => s.closeIdleConnections(), 500).unref();` +
                `setTimeout(() => s.close(() => import("/app/dist/server.js")), 10000);`,
        ),
        healthTimeout: 90,
    },
    failedMigration: { migrateCommand: '["sh", "-c", "echo migration 0003 failed: no such column >&2; exit 3"]' },
} as const;

/** How the provider reports a container that never turned healthy. */
export const NEVER_HEALTHY = /did not become healthy|healthy state/;

/**
 * A deploy drill: 50 connections, one request in five a POST that creates a row. Steady state is
 * measured for STEADY_MS before the deploy starts; the switch window runs from the deploy's start to
 * TAIL_MS after its end. Returns the outcome and both windows' figures.
 */
const STEADY_MS = 6000;
/**
 * 50 keep-alive connections at 6 requests a second each (300 req/s): load a small team's box sees at
 * its busiest, below what this 2-core machine saturates at (about 1500 req/s through nginx), so a
 * slow request means a stall in the switch, not a queue behind a saturated CPU.
 */
export const CONNECTIONS = 50;
export const RATE_PER_CONNECTION = 6;
const TAIL_MS = 3000;
export async function drill(url: string, during: () => Promise<void>, more: Partial<Omit<LoadOptions, "url" | "stop">> = {}) {
    let release!: () => void;
    const stop = new Promise<void>((r) => (release = r));
    const load = runLoad({ url, connections: CONNECTIONS, stop, postEvery: 5, ratePerConnection: RATE_PER_CONNECTION, ...more });
    await sleep(STEADY_MS);
    const from = Date.now();
    let error: Error | undefined;
    try {
        await during();
    } catch (e) {
        error = e as Error;
    }
    const to = Date.now();
    await sleep(TAIL_MS);
    release();
    const r = await load;
    // The first second warms connections up; it is not steady state.
    const steady = windowStats(r, r.startedAt + 1000, from);
    const window = windowStats(r, from, to + TAIL_MS);
    // The slowest requests of the window, placed in it (ms after the deploy started), for the report.
    const slowest = r.samples
        .filter((x) => r.startedAt + x.start >= from)
        .sort((a, b) => b.end - b.start - (a.end - a.start))
        .slice(0, 3)
        .map((x) => `${(x.end - x.start).toFixed(0)} ms ${x.method} at +${(r.startedAt + x.start - from).toFixed(0)} ms`);
    return { error, load: r, steady, window, from, to, slowest };
}

export function reportDrill(what: string, d: Awaited<ReturnType<typeof drill>>, marks: { what: string; at: number }[] = []): void {
    const w = d.window;
    process.stdout.write(
        `# drill ${what}: ${d.load.requests} requests (${w.requests} in the ${((d.to - d.from) / 1000).toFixed(1)} s deploy window, ` +
            `${w.posts} POSTs), ${failures(d.load)} failed; window longest ${w.longest.toFixed(0)} ms, p99 ${w.p99.toFixed(1)} ms; ` +
            `steady p99 ${d.steady.p99.toFixed(1)} ms; slowest ${d.slowest.join(", ")}; versions ${JSON.stringify(d.load.versions)}` +
            (marks.length
                ? `; events ${marks
                      .filter((m) => m.at >= d.from)
                      .map((m) => `${m.what} +${m.at - d.from}`)
                      .join(", ")}`
                : "") +
            "\n",
    );
}
