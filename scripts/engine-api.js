// The Docker Engine API over mutual TLS (tcp://IP:2376) or a unix socket, for the scripts that reach
// the host's engine without the docker CLI: plain Node.js, no dependencies.
"use strict";
const http = require("http");
const https = require("https");

/**
 * The engine to talk to, from a DOCKER_HOST-style address: tcp://IP:PORT with PEM text for the CA, the
 * client certificate and its key, or unix:///path. Throws with the accepted forms.
 */
function engineTarget(host, tls) {
    const tcp = /^tcp:\/\/([^/:]+|\[[0-9a-fA-F:.]+\]):(\d+)$/.exec(host);
    const unix = /^unix:\/\/(\/.+)$/.exec(host);
    if (tcp) return { kind: "tls", host: tcp[1].replace(/^\[|\]$/g, ""), port: Number(tcp[2]), ...tls() };
    if (unix) return { kind: "unix", socketPath: unix[1] };
    throw new Error(`the engine's address must look like tcp://IP:2376 or unix:///path, got ${JSON.stringify(host)}`);
}

/** One Engine API call; resolves with status and body (a Buffer). */
function request(target, method, path, body, timeoutMs = 60_000) {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {};
    return new Promise((resolve, reject) => {
        const onRes = (res) => {
            const chunks = [];
            res.on("data", (c) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
            res.on("error", reject);
        };
        const req =
            target.kind === "tls"
                ? https.request(
                      { host: target.host, port: target.port, method, path, headers, ca: target.ca, cert: target.cert, key: target.key },
                      onRes,
                  )
                : http.request({ socketPath: target.socketPath, method, path, headers: { ...headers, Host: "docker" } }, onRes);
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(payload);
    });
}

async function call(target, method, path, body, okStatuses = [200, 201, 204]) {
    const res = await request(target, method, path, body);
    if (!okStatuses.includes(res.status)) {
        let message = res.body.toString("utf8").trim();
        try {
            message = JSON.parse(message).message || message;
        } catch {
            // not JSON
        }
        const err = new Error(`${method} ${path}: ${res.status} ${message}`);
        err.status = res.status;
        throw err;
    }
    const text = res.body.toString("utf8");
    return { status: res.status, json: text ? safeJson(text) : undefined };
}

function safeJson(text) {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

const enc = encodeURIComponent;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Docker's multiplexed stdout/stderr stream (no TTY) to text. */
function demux(buf) {
    let out = "";
    for (let i = 0; i + 8 <= buf.length;) {
        const size = buf.readUInt32BE(i + 4);
        out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
        i += 8 + size;
    }
    return out;
}

/** Runs a command in a running container; resolves with its exit code and output. */
async function exec(target, container, cmd) {
    const created = await call(target, "POST", `/containers/${enc(container)}/exec`, {
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        Cmd: cmd,
    });
    const id = created.json.Id;
    const res = await request(target, "POST", `/exec/${enc(id)}/start`, { Detach: false, Tty: false });
    if (res.status !== 200) throw new Error(`exec in ${container}: ${res.status} ${res.body.toString("utf8").trim()}`);
    const output = demux(res.body);
    for (let i = 0; i < 50; i++) {
        const info = (await call(target, "GET", `/exec/${enc(id)}/json`)).json;
        if (!info.Running) return { code: info.ExitCode, output };
        await sleep(100);
    }
    throw new Error(`exec in ${container} (${cmd.join(" ")}) did not finish`);
}

async function inspect(target, container) {
    return (await call(target, "GET", `/containers/${enc(container)}/json`)).json;
}

module.exports = { engineTarget, request, call, safeJson, enc, sleep, demux, exec, inspect };
