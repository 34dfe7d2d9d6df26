/**
 * The readiness gate, run as Pulumi runs it (`node scripts/wait-for-docker.js` with env), against a
 * real HTTPS server on 127.0.0.1 that, like dockerd with --tlsverify, requires a client
 * certificate signed by the stack's CA.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as https from "node:https";
import * as net from "node:net";
import * as path from "node:path";
import type { TLSSocket } from "node:tls";
import { after, before, describe, it } from "node:test";
import { issue, makeCa, type Ca, type Issued } from "./pki";

const SCRIPT = path.join(__dirname, "../../scripts/wait-for-docker.js");
const ROOT = path.join(__dirname, "../..");
/** Only a safety net so a hung script fails the test instead of hanging it; not a timing assertion. */
const KILL_AFTER_MS = 120_000;

let ca: Ca;
let otherCa: Ca;
let server: Issued;
let client: Issued;

before(() => {
    ca = makeCa("berth stack CA");
    otherCa = makeCa("someone else's CA");
    server = issue(ca, "berth docker daemon", "server_auth", ["127.0.0.1"]);
    client = issue(ca, "berth deployer", "client_auth");
});

interface Daemon {
    port: number;
    /** "METHOD URL by CN" of each request that got past TLS. */
    requests: string[];
    /** TLS handshakes the server refused. */
    tlsErrors: string[];
    listen(): Promise<void>;
    close(): Promise<void>;
}

/** A stand-in for dockerd's TLS API: `answer` decides each reply to GET /_ping. */
function daemon(answer: (n: number) => { status: number; body: string }, opts: { cert?: Issued; port?: number } = {}): Daemon {
    const cert = opts.cert ?? server;
    const requests: string[] = [];
    const tlsErrors: string[] = [];
    const srv = https.createServer(
        {
            key: cert.keyPem,
            cert: cert.certPem,
            ca: [ca.certPem],
            requestCert: true,
            rejectUnauthorized: true,
        },
        (req, res) => {
            const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
            requests.push(`${req.method} ${req.url} by ${String(cn)}`);
            const { status, body } = req.url === "/_ping" ? answer(requests.length) : { status: 404, body: "" };
            res.writeHead(status, { "content-type": "text/plain" }).end(body);
        },
    );
    srv.on("tlsClientError", (err) => tlsErrors.push(err.message));
    const d: Daemon = {
        port: opts.port ?? 0,
        requests,
        tlsErrors,
        listen: () =>
            new Promise((resolve, reject) => {
                srv.once("error", reject);
                srv.listen(d.port, "127.0.0.1", () => {
                    d.port = (srv.address() as net.AddressInfo).port;
                    resolve();
                });
            }),
        close: () => {
            srv.closeAllConnections();
            return new Promise((resolve) => srv.close(() => resolve()));
        },
    };
    return d;
}

/** A port nothing listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((resolve) => s.close(resolve));
    return port;
}

interface Run {
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
}

function gateEnv(port: number, over: Record<string, string | undefined> = {}): Record<string, string> {
    const env: Record<string, string | undefined> = {
        PATH: process.env.PATH,
        BERTH_DOCKER_HOST: `tcp://127.0.0.1:${port}`,
        BERTH_DOCKER_CA: ca.certPem,
        BERTH_DOCKER_CERT: client.certPem,
        BERTH_DOCKER_KEY: client.keyPem,
        BERTH_WAIT_TIMEOUT: "30",
        BERTH_WAIT_INTERVAL: "1",
        ...over,
    };
    return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** Runs the gate the way the command resource does, without blocking this process's servers. */
function runGate(env: Record<string, string>): Promise<Run> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [SCRIPT], {
            cwd: ROOT,
            env,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), KILL_AFTER_MS);
        child.on("error", reject);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

const url = (port: number) => `https://127.0.0.1:${port}/_ping`;
const lines = (text: string) => text.split("\n").filter((l) => l !== "");
const OK = () => ({ status: 200, body: "OK" });

/** The gate's final complaint when the daemon never answered, read back line by line. */
interface GaveUp {
    timeout: number;
    url: string;
    interval: number;
    attempts: number;
    /** "what answered (xN)" entries, in the order first seen. */
    answers: string[];
    /** The last attempts listed, oldest first. */
    last: { n: number; at: number; text: string }[];
    /** The "Look at:" items. */
    look: string[];
}

function gaveUp(run: Run): GaveUp {
    assert.equal(run.signal, null, "the script ended by itself");
    assert.equal(run.code, 1, run.stderr);
    const text = run.stderr;
    assert.ok(text.endsWith("\n"), text);
    const ls = text.slice(0, -1).split("\n");
    const take = (re: RegExp) => {
        const m = re.exec(ls.shift() ?? "");
        assert.ok(m, `${re} in:\n${text}`);
        return m;
    };
    const head = take(/^wait-for-docker: the Docker daemon did not answer within (\d+)s\.$/);
    const checked = take(
        /^Checked: GET (\S+) every (\d+)s \((\d+) attempts\), with the stack's client certificate, trusting only the stack's CA\.$/,
    );
    const answers = take(/^Answers: (.*)\.$/)[1]!.split("; ");
    const shown = Number(take(/^Last (\d+) attempts:$/)[1]);
    const last = Array.from({ length: shown }, () => {
        const m = take(/^ {2}#(\d+) at \+(\d+)s: (.*)$/);
        return { n: Number(m[1]), at: Number(m[2]), text: m[3]! };
    });
    take(/^Look at:$/);
    const look = ls.map((l) => {
        assert.match(l, /^ {2}- /, text);
        return l.slice(4);
    });
    return { timeout: Number(head[1]), url: checked[1]!, interval: Number(checked[2]), attempts: Number(checked[3]), answers, last, look };
}

/** What the gate says to look at, given what it was told about the host. */
const DIAGNOSTICS = {
    BERTH_INSTANCE_ID: "i-0123456789abcdef0",
    BERTH_SECURITY_GROUP_ID: "sg-0fedcba9876543210",
    BERTH_ADMIN_CIDRS: "198.51.100.7/32,2001:db8::/64",
};

function lookAt(port: number, likely: string): string[] {
    return [
        `likely: ${likely}`,
        `the boot log: aws ec2 get-console-output --instance-id ${DIAGNOSTICS.BERTH_INSTANCE_ID} --latest --output text`,
        `the security group ${DIAGNOSTICS.BERTH_SECURITY_GROUP_ID}: TCP ${port} must be open to this machine's public address; ` +
            "berth:adminCidrs is 198.51.100.7/32, 2001:db8::/64: is this machine's current address inside it?",
    ];
}

const LIKELY = {
    refused: (port: number) =>
        `127.0.0.1:${port} refuses connections: the host is up but Docker's TLS socket is not listening. The boot log says why (cloud-config, the data volume, Docker).`,
    silent: (port: number) =>
        `127.0.0.1:${port} accepts connections but nothing answers on them: Docker is still starting, or failing to (waiting for the data volume?). The boot log says why.`,
    tls: (port: number) =>
        `127.0.0.1:${port} answers, but not with the stack's certificate, or it refuses the stack's client certificate: is this the stack's host, and did its cloud-config run?`,
    http: () => "the daemon answers over mutual TLS, but not with 200: it is starting or unwell (`journalctl -u docker` on the host).",
};

/** The attempts listed are the last ones, numbered up to the total, in order. */
function assertLastAttempts(g: GaveUp): void {
    assert.ok(g.last.length >= 1 && g.last.length <= 5, `${g.last.length} attempts listed`);
    assert.equal(g.last.length, Math.min(5, g.attempts));
    assert.deepEqual(
        g.last.map((a) => a.n),
        Array.from({ length: g.last.length }, (_, i) => g.attempts - g.last.length + 1 + i),
    );
    for (let i = 1; i < g.last.length; i++) assert.ok(g.last[i]!.at >= g.last[i - 1]!.at);
}

describe("wait-for-docker.js", { concurrency: true }, () => {
    const daemons: Daemon[] = [];
    after(async () => {
        await Promise.all(daemons.map((d) => d.close()));
    });
    const started = async (d: Daemon) => {
        daemons.push(d);
        await d.listen();
        return d;
    };

    it("exits 0 as soon as the daemon answers /_ping over mutual TLS", async () => {
        const d = await started(daemon(OK));
        const run = await runGate(gateEnv(d.port));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stdout, `Docker daemon at ${url(d.port)} answered "OK" after 1 attempt(s)\n`);
        assert.equal(run.stderr, "");
        assert.deepEqual(d.requests, ["GET /_ping by berth deployer"]);
        assert.deepEqual(d.tlsErrors, []);
    });

    it("keeps trying until a daemon that starts late answers", async () => {
        const port = await freePort();
        const d = daemon(OK, { port });
        daemons.push(d);
        const gate = runGate(gateEnv(port, { BERTH_WAIT_TIMEOUT: "60", BERTH_WAIT_INTERVAL: "1" }));
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await d.listen();
        const run = await gate;
        assert.equal(run.code, 0, run.stderr);
        const out = lines(run.stdout);
        assert.equal(out[0], `waiting for ${url(port)}: connection refused (connect ECONNREFUSED 127.0.0.1:${port})`);
        assert.equal(out.length, 2, "the same error is reported once");
        const attempts = Number(/^Docker daemon at \S+ answered "OK" after (\d+) attempt\(s\)$/.exec(out[1]!)?.[1]);
        assert.ok(attempts >= 2, `answered after ${attempts} attempt(s)`);
        assert.deepEqual(d.requests, ["GET /_ping by berth deployer"]);
    });

    it("retries a daemon that answers but is not ready, reporting each new error once", async () => {
        const d = await started(daemon((n) => (n <= 2 ? { status: 503, body: "starting\n" } : { status: 200, body: "OK" })));
        const run = await runGate(gateEnv(d.port));
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(lines(run.stdout), [
            `waiting for ${url(d.port)}: HTTP 503: starting`,
            `Docker daemon at ${url(d.port)} answered "OK" after 3 attempt(s)`,
        ]);
        assert.equal(d.requests.length, 3);
    });

    it("gives up with exit 1 when nothing listens, saying what it checked, what answered and what to look at", async () => {
        const port = await freePort();
        const run = await runGate(gateEnv(port, { BERTH_WAIT_TIMEOUT: "3", BERTH_WAIT_INTERVAL: "1", ...DIAGNOSTICS }));
        const g = gaveUp(run);
        assert.equal(g.timeout, 3);
        assert.equal(g.url, url(port));
        assert.equal(g.interval, 1);
        assert.ok(g.attempts >= 1 && g.attempts <= 4, `${g.attempts} attempts in 3 s at 1 s intervals`);
        assert.deepEqual(g.answers, [`connection refused (x${g.attempts})`]);
        assertLastAttempts(g);
        for (const a of g.last) assert.equal(a.text, `connection refused (connect ECONNREFUSED 127.0.0.1:${port})`);
        assert.deepEqual(g.look, lookAt(port, LIKELY.refused(port)));
        assert.deepEqual(lines(run.stdout), [`waiting for ${url(port)}: connection refused (connect ECONNREFUSED 127.0.0.1:${port})`]);
    });

    it("says where to look even when it was not told the instance, the security group or the admin CIDRs", async () => {
        const port = await freePort();
        const g = gaveUp(await runGate(gateEnv(port, { BERTH_WAIT_TIMEOUT: "1", BERTH_WAIT_INTERVAL: "1" })));
        assert.deepEqual(g.look, [
            `likely: ${LIKELY.refused(port)}`,
            "the boot log: aws ec2 get-console-output --instance-id <instance id> --latest --output text",
            `the security group: TCP ${port} must be open to this machine's public address; is it inside berth:adminCidrs?`,
        ]);
    });

    it("tells a port that accepts but never speaks TLS from one that refuses", async () => {
        const accepted: net.Socket[] = [];
        const silent = net.createServer((socket) => void accepted.push(socket));
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        const port = (silent.address() as net.AddressInfo).port;
        try {
            const g = gaveUp(await runGate(gateEnv(port, { BERTH_WAIT_TIMEOUT: "3", BERTH_WAIT_INTERVAL: "1", ...DIAGNOSTICS })));
            // Each attempt waits twice the interval for an answer.
            assert.deepEqual(g.answers, [`TLS handshake not finished within 2s (x${g.attempts})`]);
            for (const a of g.last) assert.equal(a.text, "TLS handshake not finished within 2s");
            assert.deepEqual(g.look, lookAt(port, LIKELY.silent(port)));
        } finally {
            for (const socket of accepted) socket.destroy();
            await new Promise((resolve) => silent.close(resolve));
        }
    });

    it("lists the last five attempts and counts every answer, newest last", async () => {
        const port = await freePort();
        const d = daemon(() => ({ status: 503, body: "starting\n" }), { port });
        daemons.push(d);
        const gate = runGate(gateEnv(port, { BERTH_WAIT_TIMEOUT: "8", BERTH_WAIT_INTERVAL: "1", ...DIAGNOSTICS }));
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await d.listen();
        const g = gaveUp(await gate);
        const refused = Number(/^connection refused \(x(\d+)\)$/.exec(g.answers[0]!)?.[1]);
        const notReady = Number(/^HTTP 503: starting \(x(\d+)\)$/.exec(g.answers[1]!)?.[1]);
        assert.equal(g.answers.length, 2, g.answers.join("; "));
        assert.ok(refused >= 1 && notReady >= 1);
        assert.equal(refused + notReady, g.attempts);
        assert.equal(notReady, d.requests.length);
        assert.ok(g.attempts > 5, `${g.attempts} attempts`);
        assertLastAttempts(g);
        assert.equal(g.last.at(-1)!.text, "HTTP 503: starting");
        assert.deepEqual(g.look, lookAt(port, LIKELY.http()));
    });

    it("is refused by the daemon with a client certificate from another CA, and says it was TLS", async () => {
        const d = await started(daemon(OK));
        const stranger = issue(otherCa, "berth deployer", "client_auth");
        const run = await runGate(
            gateEnv(d.port, {
                BERTH_DOCKER_CERT: stranger.certPem,
                BERTH_DOCKER_KEY: stranger.keyPem,
                BERTH_WAIT_TIMEOUT: "3",
                ...DIAGNOSTICS,
            }),
        );
        const g = gaveUp(run);
        for (const a of g.last) assert.match(a.text, /^TLS error: /);
        assert.deepEqual(g.look, lookAt(d.port, LIKELY.tls(d.port)));
        assert.deepEqual(d.requests, [], "no request got past TLS");
        assert.ok(d.tlsErrors.length >= 1, "the server refused the handshake");
    });

    it("does not trust a daemon whose certificate another CA signed", async () => {
        const impostor = issue(otherCa, "berth docker daemon", "server_auth", ["127.0.0.1"]);
        const d = await started(daemon(OK, { cert: impostor }));
        const g = gaveUp(await runGate(gateEnv(d.port, { BERTH_WAIT_TIMEOUT: "3", ...DIAGNOSTICS })));
        assert.deepEqual(g.answers, [`TLS error: unable to verify the first certificate (x${g.attempts})`]);
        assert.equal(g.look[0], `likely: ${LIKELY.tls(d.port)}`);
        assert.deepEqual(d.requests, []);
    });

    it("does not trust a daemon certificate issued for another address", async () => {
        const elsewhere = issue(ca, "berth docker daemon", "server_auth", ["203.0.113.10"]);
        const d = await started(daemon(OK, { cert: elsewhere }));
        const g = gaveUp(await runGate(gateEnv(d.port, { BERTH_WAIT_TIMEOUT: "3" })));
        for (const a of g.last) {
            assert.equal(
                a.text,
                "TLS error: Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: 203.0.113.10",
            );
        }
        assert.deepEqual(d.requests, []);
    });

    for (const name of ["BERTH_DOCKER_HOST", "BERTH_DOCKER_CA", "BERTH_DOCKER_CERT", "BERTH_DOCKER_KEY"]) {
        it(`exits 2 naming ${name} when it is missing or empty`, async () => {
            for (const value of [undefined, ""]) {
                const run = await runGate(gateEnv(1, { [name]: value }));
                assert.equal(run.code, 2);
                assert.equal(run.stderr, `wait-for-docker: ${name} is not set\n`);
                assert.equal(run.stdout, "");
            }
        });
    }

    it("exits 2 at once on unusable TLS material instead of retrying it until the timeout", async () => {
        const run = await runGate(gateEnv(1, { BERTH_DOCKER_KEY: "not a key" }));
        assert.equal(run.code, 2);
        assert.match(run.stderr, /the TLS material in BERTH_DOCKER_CA\/CERT\/KEY is not usable/);
    });

    it("exits 2 on a timeout or interval that is not a positive number of seconds", async () => {
        for (const [name, value] of [
            ["BERTH_WAIT_TIMEOUT", "10m"],
            ["BERTH_WAIT_INTERVAL", "abc"],
            ["BERTH_WAIT_TIMEOUT", "-5"],
        ] as const) {
            const run = await runGate(gateEnv(1, { [name]: value }));
            assert.equal(run.code, 2, `${name}=${value}`);
            assert.match(run.stderr, new RegExp(`${name} must be a positive number of seconds, got "${value}"`));
        }
    });

    it("exits 2 on a BERTH_DOCKER_HOST that is not tcp://HOST:PORT", async () => {
        for (const host of ["https://127.0.0.1:2376", "tcp://127.0.0.1:2376/", "127.0.0.1:2376"]) {
            const run = await runGate(gateEnv(1, { BERTH_DOCKER_HOST: host }));
            assert.equal(run.code, 2);
            assert.equal(run.stderr, `wait-for-docker: BERTH_DOCKER_HOST must look like tcp://IP:2376, got ${JSON.stringify(host)}\n`);
        }
    });
});
