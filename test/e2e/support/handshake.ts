/**
 * TLS handshake timing: `count` fresh connections, `concurrency` at a time, each timed from its TCP
 * connection being established to the TLS handshake completing (secureConnect), then closed. No session
 * is offered for resumption (Node's client resumes only a `session` passed to tls.connect), so every one is
 * a full handshake.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { percentile } from "./load";

export interface HandshakeOptions {
    host: string;
    port: number;
    /** SNI, and the name the certificate is checked against, also when `host` is an IP (default: `host`). */
    servername?: string;
    /** PEM certificate(s) trusted for the server (default: Node's bundled roots). */
    ca?: string;
    count: number;
    concurrency: number;
    /** Per connection, TCP connect included. Default 10 s. */
    timeoutMs?: number;
}

export interface HandshakeResult {
    /** Successful handshakes' times (TCP connected → secureConnect), ascending. */
    latenciesMs: number[];
    p50: number;
    p99: number;
    failed: number;
    /** Failed handshakes by error message. */
    errors: Record<string, number>;
    /** The ALPN protocol the server chose ("none" when it chose none), with counts. */
    protocols: Record<string, number>;
    /** Serial numbers of the server's leaf certificates (upper-case hex), with counts. */
    serials: Record<string, number>;
}

/** What one handshake ended with. */
type Outcome = { ms: number; protocol: string; serial: string } | { error: string };

function handshake(o: HandshakeOptions): Promise<Outcome> {
    return new Promise((resolve) => {
        let settled = false;
        let secure: tls.TLSSocket | undefined;
        const end = (outcome: Outcome) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            secure?.destroy();
            tcp.destroy();
            resolve(outcome);
        };
        const timer = setTimeout(() => end({ error: "handshake timeout" }), o.timeoutMs ?? 10_000);
        const tcp = net.connect({ host: o.host, port: o.port });
        tcp.on("error", (e) => end({ error: e.message }));
        tcp.once("connect", () => {
            const t0 = process.hrtime.bigint();
            const servername = o.servername;
            secure = tls.connect(
                {
                    socket: tcp,
                    ALPNProtocols: ["h2", "http/1.1"],
                    ...(o.ca !== undefined ? { ca: o.ca } : {}),
                    ...(servername !== undefined
                        ? {
                              servername,
                              // Checked against `servername` explicitly, not the address connected to
                              // (https://nodejs.org/api/tls.html#tlscheckserveridentityhostname-cert).
                              checkServerIdentity: (_host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername, cert),
                          }
                        : {}),
                },
                () => {
                    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
                    const s = secure!;
                    end({ ms, protocol: s.alpnProtocol || "none", serial: s.getPeerCertificate().serialNumber });
                },
            );
            secure.on("error", (e: Error) => end({ error: e.message }));
        });
    });
}

export async function measureHandshakes(o: HandshakeOptions): Promise<HandshakeResult> {
    if (!Number.isInteger(o.count) || o.count < 0) throw new Error(`measureHandshakes: count must be an integer >= 0, got ${o.count}`);
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) {
        throw new Error(`measureHandshakes: concurrency must be an integer >= 1, got ${o.concurrency}`);
    }
    const r: HandshakeResult = { latenciesMs: [], p50: NaN, p99: NaN, failed: 0, errors: {}, protocols: {}, serials: {} };
    let started = 0;
    const worker = async () => {
        while (started < o.count) {
            started++;
            const h = await handshake(o);
            if ("error" in h) {
                r.failed++;
                r.errors[h.error] = (r.errors[h.error] ?? 0) + 1;
            } else {
                r.latenciesMs.push(h.ms);
                r.protocols[h.protocol] = (r.protocols[h.protocol] ?? 0) + 1;
                r.serials[h.serial] = (r.serials[h.serial] ?? 0) + 1;
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, Math.max(o.count, 1)) }, worker));
    r.latenciesMs.sort((a, b) => a - b);
    r.p50 = percentile(r.latenciesMs, 50);
    r.p99 = percentile(r.latenciesMs, 99);
    return r;
}
