#!/usr/bin/env node
// Waits until the Docker daemon answers GET /_ping over mutual TLS. Run by Pulumi before the
// Docker provider is used. Plain Node.js, no dependencies, so it runs the same on Linux, macOS and
// Windows.
//
// Environment: BERTH_DOCKER_HOST (tcp://IP:2376), BERTH_DOCKER_CA, BERTH_DOCKER_CERT, BERTH_DOCKER_KEY
// (PEM text), BERTH_WAIT_TIMEOUT (seconds, default 600), BERTH_WAIT_INTERVAL (seconds, default 5).
// Optional, only to say what to look at when the daemon never answers: BERTH_INSTANCE_ID,
// BERTH_SECURITY_GROUP_ID, BERTH_ADMIN_CIDRS (comma-separated).
"use strict";
const https = require("https");
const tls = require("tls");

/** How many of the last attempts the final message lists. */
const SHOWN_ATTEMPTS = 5;

function env(name) {
    const v = process.env[name];
    if (!v) {
        console.error(`wait-for-docker: ${name} is not set`);
        process.exit(2);
    }
    return v;
}

/**
 * One GET of the URL on a fresh connection. Resolves with { body } on HTTP 200, or with
 * { kind, text } saying how far it got: "refused", "unreachable" or "no-connection" before a TCP
 * connection; "no-answer" when a connection opened but nothing answered on it in time; "tls" when
 * the handshake failed or the daemon closed the connection right after it; "http" when the daemon
 * answered with another status.
 */
function ping(url, material, timeoutMs) {
    return new Promise((resolve) => {
        let stage = "tcp";
        const seconds = `${timeoutMs / 1000}s`;
        const req = https.get(url, { ...material, agent: false, timeout: timeoutMs }, (res) => {
            stage = "http";
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () =>
                resolve(res.statusCode === 200 ? { body: body.trim() } : { kind: "http", text: `HTTP ${res.statusCode}: ${body.trim()}` }),
            );
        });
        req.on("socket", (socket) => {
            socket.once("connect", () => (stage = "tls"));
            socket.once("secureConnect", () => (stage = "sent"));
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "BERTH_TIMEOUT" })));
        req.on("error", (err) => {
            if (err.code === "BERTH_TIMEOUT") {
                const what = {
                    tcp: "no TCP connection",
                    tls: "TLS handshake not finished",
                    sent: "no HTTP answer",
                    http: "HTTP answer not finished",
                }[stage];
                return resolve({ kind: stage === "tcp" ? "no-connection" : "no-answer", text: `${what} within ${seconds}` });
            }
            if (stage === "tcp") {
                if (err.code === "ECONNREFUSED") return resolve({ kind: "refused", text: `connection refused (${err.message})` });
                if (err.code === "ETIMEDOUT") return resolve({ kind: "no-connection", text: `no TCP connection (${err.message})` });
                if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH") {
                    return resolve({ kind: "unreachable", text: `host unreachable (${err.message})` });
                }
                return resolve({ kind: "error", text: err.message });
            }
            if (stage === "tls") return resolve({ kind: "tls", text: `TLS error: ${err.message}` });
            // With TLS 1.3 the client's side of the handshake ends before the server has checked the
            // client certificate: a daemon that refuses it closes the connection at this point.
            if (stage === "sent") {
                return resolve({ kind: "tls", text: `TLS error: closed after the handshake, before any HTTP answer (${err.message})` });
            }
            resolve({ kind: "http", text: err.message });
        });
    });
}

/** What the last answer most likely means, first in the list of things to look at. */
function likely(kind, target) {
    switch (kind) {
        case "refused":
            return `${target} refuses connections: the host is up but Docker's TLS socket is not listening. The boot log says why (cloud-config, the data volume, Docker).`;
        case "no-connection":
        case "unreachable":
            return `nothing came back from ${target}: the security group does not admit this machine's address on that port, or the instance is not running yet.`;
        case "no-answer":
            // systemd listens on the socket unit's behalf and queues connections until docker.service
            // has started, so a daemon that is slow to start, or never does, looks like this.
            return `${target} accepts connections but nothing answers on them: Docker is still starting, or failing to (waiting for the data volume?). The boot log says why.`;
        case "tls":
            return `${target} answers, but not with the stack's certificate, or it refuses the stack's client certificate: is this the stack's host, and did its cloud-config run?`;
        case "http":
            return "the daemon answers over mutual TLS, but not with 200: it is starting or unwell (`journalctl -u docker` on the host).";
        default:
            return `the last attempt failed before reaching ${target}.`;
    }
}

function giveUp(ctx) {
    const { url, target, timeout, interval, attempts, history, counts } = ctx;
    const last = history[history.length - 1];
    const instance = process.env.BERTH_INSTANCE_ID;
    const sg = process.env.BERTH_SECURITY_GROUP_ID;
    const cidrs = (process.env.BERTH_ADMIN_CIDRS || "").split(",").filter((c) => c !== "");
    const lines = [
        `wait-for-docker: the Docker daemon did not answer within ${timeout}s.`,
        `Checked: GET ${url} every ${interval}s (${attempts} attempts), with the stack's client certificate, trusting only the stack's CA.`,
        `Answers: ${Object.entries(counts)
            .map(([text, n]) => `${text} (x${n})`)
            .join("; ")}.`,
        `Last ${history.length} attempts:`,
        ...history.map((a) => `  #${a.n} at +${a.at}s: ${a.text}`),
        "Look at:",
        `  - likely: ${likely(last.kind, target)}`,
        `  - the boot log: aws ec2 get-console-output --instance-id ${instance || "<instance id>"} --latest --output text`,
        `  - the security group${sg ? ` ${sg}` : ""}: TCP ${target.split(":").pop()} must be open to this machine's public address; ` +
            (cidrs.length > 0
                ? `berth:adminCidrs is ${cidrs.join(", ")}: is this machine's current address inside it?`
                : "is it inside berth:adminCidrs?"),
    ];
    console.error(lines.join("\n"));
    process.exit(1);
}

async function main() {
    const host = env("BERTH_DOCKER_HOST");
    const m = /^tcp:\/\/([^/]+)$/.exec(host);
    if (!m) {
        console.error(`wait-for-docker: BERTH_DOCKER_HOST must look like tcp://IP:2376, got ${JSON.stringify(host)}`);
        process.exit(2);
    }
    const target = m[1];
    const url = `https://${target}/_ping`;
    const material = { ca: env("BERTH_DOCKER_CA"), cert: env("BERTH_DOCKER_CERT"), key: env("BERTH_DOCKER_KEY") };
    try {
        // Unreadable PEM never gets better by waiting: say so now.
        tls.createSecureContext(material);
    } catch (err) {
        console.error(`wait-for-docker: the TLS material in BERTH_DOCKER_CA/CERT/KEY is not usable: ${err.message}`);
        process.exit(2);
    }
    const seconds = (name, def) => {
        const raw = process.env[name] || String(def);
        const n = Number(raw);
        if (!Number.isFinite(n) || n <= 0) {
            console.error(`wait-for-docker: ${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
            process.exit(2);
        }
        return n;
    };
    const timeout = seconds("BERTH_WAIT_TIMEOUT", 600);
    const interval = seconds("BERTH_WAIT_INTERVAL", 5);
    const started = Date.now();
    const deadline = started + timeout * 1000;
    const history = [];
    const counts = {};
    let attempts = 0;
    let last = "";
    for (;;) {
        attempts++;
        const r = await ping(url, material, Math.min(10000, interval * 2000));
        if (r.body !== undefined) {
            console.log(`Docker daemon at ${url} answered ${JSON.stringify(r.body)} after ${attempts} attempt(s)`);
            return;
        }
        if (r.text !== last) console.log(`waiting for ${url}: ${r.text}`);
        last = r.text;
        // Counted by what answered, without the changing parts (ports, addresses) of one attempt.
        const summary = r.text.replace(/ \(.*\)$/, "");
        counts[summary] = (counts[summary] || 0) + 1;
        history.push({ n: attempts, at: Math.round((Date.now() - started) / 1000), kind: r.kind, text: r.text });
        if (history.length > SHOWN_ATTEMPTS) history.shift();
        if (Date.now() + interval * 1000 > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    }
    giveUp({ url, target, timeout, interval, attempts, history, counts });
}

main();
