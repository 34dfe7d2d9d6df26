#!/usr/bin/env node
// Waits until the Docker daemon answers GET /_ping over mutual TLS. Run by Pulumi before the
// Docker provider is configured (the provider pings the daemon as soon as it is used).
// Plain Node.js, no dependencies, so it runs the same on Linux, macOS and Windows.
//
// Environment: BERTH_DOCKER_HOST (tcp://IP:2376), BERTH_DOCKER_CA, BERTH_DOCKER_CERT, BERTH_DOCKER_KEY
// (PEM text), BERTH_WAIT_TIMEOUT (seconds, default 600), BERTH_WAIT_INTERVAL (seconds, default 5).
"use strict";
const https = require("https");
const tls = require("tls");

function env(name) {
    const v = process.env[name];
    if (!v) {
        console.error(`wait-for-docker: ${name} is not set`);
        process.exit(2);
    }
    return v;
}

function ping(url, tls, timeoutMs) {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { ...tls, timeout: timeoutMs }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () =>
                res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}: ${body.trim()}`)),
            );
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
    });
}

async function main() {
    const host = env("BERTH_DOCKER_HOST");
    const m = /^tcp:\/\/([^/]+)$/.exec(host);
    if (!m) {
        console.error(`wait-for-docker: BERTH_DOCKER_HOST must look like tcp://IP:2376, got ${JSON.stringify(host)}`);
        process.exit(2);
    }
    const url = `https://${m[1]}/_ping`;
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
    const deadline = Date.now() + timeout * 1000;
    let attempts = 0;
    let last = "";
    for (;;) {
        attempts++;
        try {
            const body = await ping(url, material, Math.min(10000, interval * 2000));
            console.log(`Docker daemon at ${url} answered ${JSON.stringify(body)} after ${attempts} attempt(s)`);
            return;
        } catch (err) {
            if (err.message !== last) console.log(`waiting for ${url}: ${err.message}`);
            last = err.message;
        }
        if (Date.now() + interval * 1000 > deadline) break;
        await new Promise((r) => setTimeout(r, interval * 1000));
    }
    console.error(
        `wait-for-docker: the Docker daemon at ${url} did not answer within ${timeout}s (${attempts} attempts; last error: ${last}). ` +
            "Check that berth:adminCidrs includes your current address and read the instance's console output " +
            "(aws ec2 get-console-output) for cloud-config errors.",
    );
    process.exit(1);
}

main();
