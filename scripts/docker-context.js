#!/usr/bin/env node
// Creates (or updates) a local docker context for a Berth stack from its outputs, so that
// `docker --context berth-<stack> ps` talks to the host over mutual TLS.
//
//   pulumi stack output --json --show-secrets | node scripts/docker-context.js berth-<stack>
//
// Reads dockerHost, dockerCaCert, dockerClientCert and dockerClientKey from the JSON on stdin and
// writes them under ~/.docker/berth/<context>/ (the key readable by you only).
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

function fail(message) {
    console.error(`docker-context: ${message}`);
    process.exit(1);
}

const name = process.argv[2];
if (!name || !/^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$/.test(name)) fail("usage: node scripts/docker-context.js <context-name> < outputs.json");

let outputs;
try {
    outputs = JSON.parse(fs.readFileSync(0, "utf8"));
} catch (err) {
    fail(`stdin must be the JSON of \`pulumi stack output --json --show-secrets\` (${err.message})`);
}
const need = ["dockerHost", "dockerCaCert", "dockerClientCert", "dockerClientKey"];
for (const k of need) {
    if (typeof outputs[k] !== "string" || outputs[k] === "" || outputs[k] === "[secret]") {
        fail(`the stack output ${k} is missing${outputs[k] === "[secret]" ? " (pass --show-secrets)" : ""}`);
    }
}

const home = process.env.BERTH_DOCKER_CERTS_DIR || path.join(os.homedir(), ".docker", "berth");
const dir = path.join(home, name);
fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
const files = { ca: "ca.pem", cert: "cert.pem", key: "key.pem" };
fs.writeFileSync(path.join(dir, files.ca), outputs.dockerCaCert, { mode: 0o644 });
fs.writeFileSync(path.join(dir, files.cert), outputs.dockerClientCert, { mode: 0o644 });
fs.writeFileSync(path.join(dir, files.key), outputs.dockerClientKey, { mode: 0o600 });
fs.chmodSync(path.join(dir, files.key), 0o600);

const endpoint = [
    `host=${outputs.dockerHost}`,
    `ca=${path.join(dir, files.ca)}`,
    `cert=${path.join(dir, files.cert)}`,
    `key=${path.join(dir, files.key)}`,
].join(",");
const docker = process.env.BERTH_DOCKER_CLI || "docker";
const exists = spawnSync(docker, ["context", "inspect", name], { stdio: "ignore" }).status === 0;
const res = spawnSync(
    docker,
    ["context", exists ? "update" : "create", name, "--description", "Berth host (mutual TLS)", "--docker", endpoint],
    {
        stdio: "inherit",
    },
);
if (res.error) fail(`could not run ${docker}: ${res.error.message}`);
if (res.status !== 0) process.exit(res.status || 1);
console.log(`docker context ${name} ${exists ? "updated" : "created"}: try  docker --context ${name} ps`);
