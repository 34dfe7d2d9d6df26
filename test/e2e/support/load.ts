/**
 * A bounded HTTP load from this process: `connections` keep-alive clients, each sending requests
 * back to back until `stop` resolves (and at least `minDurationMs` passed). One request in
 * `postEvery` is a `POST /users.json` that creates a row (nginx never retries a POST, so these show
 * what a retry would hide). Every request is kept as a sample, for windows and percentiles.
 */
import * as http from "node:http";

export interface Sample {
    /** ms since the load started */
    start: number;
    end: number;
    method: "GET" | "POST";
    /** HTTP status, 0 on a transport error */
    status: number;
    error?: string;
    /** X-App-Version of the answer */
    version?: string;
}

export interface LoadResult {
    requests: number;
    ok: number;
    /** Responses that were not 2xx, by status. */
    bad: Record<number, number>;
    /** Transport errors (refused, reset, timeout), by message. */
    errors: Record<string, number>;
    longestMs: number;
    latenciesMs: number[];
    /** X-App-Version header values seen, with counts. */
    versions: Record<string, number>;
    durationMs: number;
    /** Wall-clock time the load started (Date.now()), to place samples against other events. */
    startedAt: number;
    samples: Sample[];
    /** POSTs that answered 201 (rows the app must now have). */
    created: string[];
}

export interface LoadOptions {
    url: string;
    connections: number;
    /** Resolves when the load should end. */
    stop: Promise<unknown>;
    minDurationMs?: number;
    /** Hard bound: the load ends here whatever happens. Default 180 s. */
    maxDurationMs?: number;
    requestTimeoutMs?: number;
    /** One request in this many is a POST /users.json creating a row; 0: GETs only. Default 0. */
    postEvery?: number;
    /**
     * Requests per second each connection sends at most (paced; back to back when the answers are
     * slower). Default: no pacing, as fast as the answers come (saturating the machine).
     */
    ratePerConnection?: number;
}

export function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

let seq = 0;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
    const startedAt = Date.now();
    const r: LoadResult = {
        requests: 0,
        ok: 0,
        bad: {},
        errors: {},
        longestMs: 0,
        latenciesMs: [],
        versions: {},
        durationMs: 0,
        startedAt,
        samples: [],
        created: [],
    };
    const t0 = process.hrtime.bigint();
    const now = () => Number(process.hrtime.bigint() - t0) / 1e6;
    let stopping = false;
    const minEnd = o.minDurationMs ?? 0;
    const hardEnd = o.maxDurationMs ?? 180_000;
    void o.stop.then(
        () => (stopping = true),
        () => (stopping = true),
    );
    const done = () => (stopping && now() >= minEnd) || now() >= hardEnd;
    const base = new URL(o.url);
    let n = 0;
    const one = () =>
        new Promise<void>((resolve) => {
            const post = o.postEvery ? ++n % o.postEvery === 0 : false;
            const email = post ? `load-${process.pid}-${++seq}-${Date.now()}@example.com` : "";
            const body = post ? JSON.stringify({ email }) : undefined;
            const sample: Sample = { start: now(), end: 0, method: post ? "POST" : "GET", status: 0 };
            let settled = false;
            const finish = (status: number, error?: string, version?: string) => {
                if (settled) return;
                settled = true;
                sample.end = now();
                sample.status = status;
                if (error) sample.error = error;
                if (version) sample.version = version;
                r.samples.push(sample);
                r.requests++;
                const ms = sample.end - sample.start;
                r.latenciesMs.push(ms);
                r.longestMs = Math.max(r.longestMs, ms);
                if (error) r.errors[error] = (r.errors[error] ?? 0) + 1;
                else if (status >= 200 && status < 300) r.ok++;
                else r.bad[status] = (r.bad[status] ?? 0) + 1;
                if (post && status === 201) r.created.push(email);
                const v = version ?? "none";
                if (!error) r.versions[v] = (r.versions[v] ?? 0) + 1;
                resolve();
            };
            const req = http.request(
                post ? new URL("/users.json", base) : base,
                {
                    agent,
                    method: post ? "POST" : "GET",
                    timeout: o.requestTimeoutMs ?? 30_000,
                    headers: post ? { "content-type": "application/json", "content-length": Buffer.byteLength(body!) } : {},
                },
                (res) => {
                    res.resume();
                    res.on("end", () => finish(res.statusCode ?? 0, undefined, res.headers["x-app-version"] as string | undefined));
                    res.on("error", (e) => finish(0, e.message));
                },
            );
            req.on("timeout", () => req.destroy(new Error("request timeout")));
            req.on("error", (e) => finish(0, e.message));
            req.end(body);
        });
    const interval = o.ratePerConnection ? 1000 / o.ratePerConnection : 0;
    const worker = async (i: number) => {
        // Spread the connections' first requests over one interval, so the pacing does not send bursts.
        let next = (interval * i) / o.connections;
        while (!done()) {
            const wait = next - now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            next = Math.max(next + interval, now());
            if (done()) break;
            await one();
        }
    };
    await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(i)));
    agent.destroy();
    r.durationMs = Date.now() - startedAt;
    r.latenciesMs.sort((a, b) => a - b);
    return r;
}

export function failures(r: LoadResult): number {
    return Object.values(r.bad).reduce((a, b) => a + b, 0) + Object.values(r.errors).reduce((a, b) => a + b, 0);
}

/** Latency figures of the samples that started within [fromMs, toMs) (wall clock, Date.now()). */
export function windowStats(r: LoadResult, fromMs: number, toMs: number) {
    const inside = r.samples.filter((s) => r.startedAt + s.start >= fromMs && r.startedAt + s.start < toMs);
    const lat = inside.map((s) => s.end - s.start).sort((a, b) => a - b);
    return {
        requests: inside.length,
        posts: inside.filter((s) => s.method === "POST").length,
        failed: inside.filter((s) => s.error || s.status < 200 || s.status >= 300).length,
        p50: percentile(lat, 50),
        p99: percentile(lat, 99),
        longest: lat[lat.length - 1] ?? 0,
    };
}
