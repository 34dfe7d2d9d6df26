/**
 * A bounded HTTP load from this process: `connections` keep-alive clients, each sending requests
 * back to back until `stop` resolves (and at least `minDurationMs` passed). Counts every outcome.
 */
import * as http from "node:http";

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
}

export function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
    const r: LoadResult = { requests: 0, ok: 0, bad: {}, errors: {}, longestMs: 0, latenciesMs: [], versions: {}, durationMs: 0 };
    const started = Date.now();
    let stopping = false;
    const minEnd = started + (o.minDurationMs ?? 0);
    const hardEnd = started + (o.maxDurationMs ?? 180_000);
    void o.stop.then(
        () => (stopping = true),
        () => (stopping = true),
    );
    const done = () => (stopping && Date.now() >= minEnd) || Date.now() >= hardEnd;
    const one = () =>
        new Promise<void>((resolve) => {
            const t0 = process.hrtime.bigint();
            const req = http.get(o.url, { agent, timeout: o.requestTimeoutMs ?? 30_000 }, (res) => {
                res.resume();
                res.on("end", () => {
                    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
                    r.requests++;
                    r.latenciesMs.push(ms);
                    r.longestMs = Math.max(r.longestMs, ms);
                    const status = res.statusCode ?? 0;
                    if (status >= 200 && status < 300) r.ok++;
                    else r.bad[status] = (r.bad[status] ?? 0) + 1;
                    const v = String(res.headers["x-app-version"] ?? "none");
                    r.versions[v] = (r.versions[v] ?? 0) + 1;
                    resolve();
                });
                res.on("error", (e) => fail(e));
            });
            const fail = (e: Error) => {
                r.requests++;
                r.errors[e.message] = (r.errors[e.message] ?? 0) + 1;
                resolve();
            };
            req.on("timeout", () => req.destroy(new Error("request timeout")));
            req.on("error", fail);
        });
    const worker = async () => {
        while (!done()) await one();
    };
    await Promise.all(Array.from({ length: o.connections }, worker));
    agent.destroy();
    r.durationMs = Date.now() - started;
    r.latenciesMs.sort((a, b) => a - b);
    return r;
}

export function failures(r: LoadResult): number {
    return Object.values(r.bad).reduce((a, b) => a + b, 0) + Object.values(r.errors).reduce((a, b) => a + b, 0);
}
