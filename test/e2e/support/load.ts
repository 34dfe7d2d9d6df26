/**
 * A bounded HTTP load from this process: `connections` keep-alive clients, each sending requests
 * back to back until `stop` resolves (and at least `minDurationMs` passed). One request in
 * `postEvery` is a `POST /users.json` that creates a row (nginx never retries a POST, so these show
 * what a retry would hide). Every request is kept as a sample, for windows and percentiles.
 *
 * An `https://` URL is loaded over TLS, verified against `ca` and `servername`; each sample then keeps the
 * serial of the certificate the answering connection was set up with, so a certificate change under load
 * shows in the counts (`newConnectionEvery` makes some requests set up a connection of their own).
 */
import * as http from "node:http";
import * as https from "node:https";
import * as tls from "node:tls";

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
    /** https: serial number of the server's leaf certificate on the connection that answered (upper-case hex). */
    serial?: string;
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
    /** https: serial numbers of the certificates the answering connections presented, with counts. */
    serials: Record<string, number>;
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
    /** https: the PEM certificate(s) trusted for the server (default: Node's bundled roots). */
    ca?: string;
    /**
     * https: the SNI name, and the name the server's certificate is checked against, also when the URL's
     * host is an IP address (default: the URL's host).
     */
    servername?: string;
    /** The Host header to send (default: the URL's host and port). */
    hostHeader?: string;
    /**
     * One request in this many goes on a connection of its own (no agent, `Connection: close`), so a
     * certificate change shows under load; 0: every request uses the keep-alive pool. Default 0.
     */
    newConnectionEvery?: number;
}

export function percentile(sorted: number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

let seq = 0;

/** TLS options of a request: trust `ca`, send `servername` as SNI and check the certificate against it. */
function tlsOptions(o: Pick<LoadOptions, "ca" | "servername">): Pick<tls.ConnectionOptions, "ca" | "servername" | "checkServerIdentity"> {
    const servername = o.servername;
    return {
        ...(o.ca !== undefined ? { ca: o.ca } : {}),
        ...(servername !== undefined
            ? {
                  servername,
                  // Checked against `servername` explicitly, not the URL's host (an IP here may also be in the
                  // certificate and would pass) (https://nodejs.org/api/tls.html#tlscheckserveridentityhostname-cert).
                  checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername, cert),
              }
            : {}),
    };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
    const base = new URL(o.url);
    const secure = base.protocol === "https:";
    if (!secure && base.protocol !== "http:") throw new Error(`runLoad: url must be http:// or https://, got ${base.protocol}`);
    const transport = secure ? tlsOptions(o) : {};
    const agent = secure
        ? new https.Agent({ keepAlive: true, maxSockets: o.connections, ...transport })
        : new http.Agent({ keepAlive: true, maxSockets: o.connections });
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
        serials: {},
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
    let n = 0;
    let m = 0;
    const one = () =>
        new Promise<void>((resolve) => {
            const post = o.postEvery ? ++n % o.postEvery === 0 : false;
            const fresh = o.newConnectionEvery ? ++m % o.newConnectionEvery === 0 : false;
            const email = post ? `load-${process.pid}-${++seq}-${Date.now()}@example.com` : "";
            const body = post ? JSON.stringify({ email }) : undefined;
            const sample: Sample = { start: now(), end: 0, method: post ? "POST" : "GET", status: 0 };
            let settled = false;
            const finish = (status: number, error?: string, version?: string, serial?: string) => {
                if (settled) return;
                settled = true;
                sample.end = now();
                sample.status = status;
                if (error) sample.error = error;
                if (version) sample.version = version;
                if (serial) {
                    sample.serial = serial;
                    r.serials[serial] = (r.serials[serial] ?? 0) + 1;
                }
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
            const headers: http.OutgoingHttpHeaders = post
                ? { "content-type": "application/json", "content-length": Buffer.byteLength(body!) }
                : {};
            if (o.hostHeader !== undefined) headers.host = o.hostHeader;
            if (fresh) headers.connection = "close";
            const req = (secure ? https : http).request(
                post ? new URL("/users.json", base) : base,
                {
                    ...transport,
                    // agent: false: a one-off agent, so a connection (and for https a handshake) of its own.
                    agent: fresh ? false : agent,
                    method: post ? "POST" : "GET",
                    timeout: o.requestTimeoutMs ?? 30_000,
                    headers,
                },
                (res) => {
                    // Read now: once the answer ends, a fresh connection closes and a pooled one may serve another.
                    const serial = secure ? (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber : undefined;
                    res.resume();
                    res.on("end", () => finish(res.statusCode ?? 0, undefined, res.headers["x-app-version"] as string | undefined, serial));
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
