/**
 * A minimal Docker Engine API client: over mutual TLS, as the program's Docker provider talks to the
 * host, or over a unix socket. https://docs.docker.com/reference/api/engine/
 */
import * as http from "node:http";
import * as https from "node:https";

export type ApiTarget =
    { kind: "tls"; host: string; port: number; ca: string; cert: string; key: string } | { kind: "unix"; socketPath: string };

export interface ApiResponse {
    status: number;
    body: string;
}

export class DockerApiError extends Error {
    constructor(
        readonly status: number,
        message: string,
    ) {
        super(message);
    }
}

export class DockerApi {
    constructor(readonly target: ApiTarget) {}

    raw(method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<ApiResponse> {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        // Over TLS, node checks the certificate against the Host header: leave it to the address.
        const headers: Record<string, string | number> = this.target.kind === "unix" ? { Host: "docker" } : {};
        if (payload) Object.assign(headers, { "Content-Type": "application/json", "Content-Length": payload.length });
        const t = this.target;
        return new Promise((resolve, reject) => {
            const onRes = (res: http.IncomingMessage) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
                res.on("error", reject);
            };
            const req =
                t.kind === "tls"
                    ? https.request({ host: t.host, port: t.port, method, path, headers, ca: t.ca, cert: t.cert, key: t.key }, onRes)
                    : http.request({ socketPath: t.socketPath, method, path, headers }, onRes);
            req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
            req.on("error", reject);
            req.end(payload);
        });
    }

    /** JSON answer of a 2xx, or a DockerApiError with the engine's message. */
    async call<T = unknown>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
        const res = await this.raw(method, path, body, timeoutMs);
        if (res.status < 200 || res.status >= 300) {
            let message = res.body;
            try {
                message = (JSON.parse(res.body) as { message?: string }).message ?? res.body;
            } catch {
                // not JSON
            }
            throw new DockerApiError(res.status, `${method} ${path}: ${res.status} ${message}`);
        }
        return (res.body ? JSON.parse(res.body) : undefined) as T;
    }
}

export interface ContainerInfo {
    Id: string;
    Name: string;
    State: { Status: string; Running: boolean; ExitCode: number; Health?: { Status: string } };
    Config: { Labels: Record<string, string> | null };
    NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
}
