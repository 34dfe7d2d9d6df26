#!/usr/bin/env node
// Restores the app's database from one of the dumps taken before each migration, while the app serves.
//
//   npm run restore                 # lists the dumps, newest first
//   npm run restore -- <dump.sql>   # restores that one
//
// (npm runs `pulumi stack output --json --show-secrets | node scripts/restore.js [dump]`.)
//
// It reaches the stack's engine as the cutover does (mutual TLS from the stack's outputs, or for target
// local the engine of DOCKER_HOST or the default socket), finds MySQL and the dumps directory from the
// running containers, and runs a one-shot container of the MySQL image on the database network:
//   1. the dump is loaded into a scratch database `<db>_restore`;
//   2. one RENAME TABLE swaps every table at once (atomic in MySQL): the restored tables take the live
//      names, and the tables they replace move to `<db>_before_restore_<time>`, kept, so nothing is lost
//      (drop that database once you are sure);
//   3. the scratch database is dropped.
// The app keeps serving: its queries see the old tables, then the restored ones. Writes made after the
// dump was taken are in the kept database. The MySQL root password comes from MySQL's container over the
// engine API and is never printed.
"use strict";
const fs = require("fs");
const { engineTarget, call, enc, demux, request, inspect } = require("./engine-api");

const DUMPS = "/dumps";

function fail(message, code = 1) {
    console.error(`restore: ${message}`);
    process.exit(code);
}

/** The bash run in the one-shot container; DUMP names the file in /dumps. */
const RESTORE_SCRIPT = [
    "set -euo pipefail",
    'export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"',
    'db="$MYSQL_DATABASE"; f="/dumps/$DUMP"',
    '[ -s "$f" ] || { echo "no dump named $DUMP in the dumps directory (npm run restore lists them)" >&2; exit 2; }',
    'm() { mysql -h mysql -u root --batch --skip-column-names "$@"; }',
    'tmp="${db}_restore"; old="${db}_before_restore_$(date -u +%Y%m%dT%H%M%SZ)"',
    'm -e "DROP DATABASE IF EXISTS \\`$tmp\\`; CREATE DATABASE \\`$tmp\\`"',
    'm "$tmp" < "$f"',
    "q=\"SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema =\"",
    "restored=$(m -e \"$q '$tmp'\"); live=$(m -e \"$q '$db'\")",
    '[ -n "$restored" ] || { echo "$DUMP holds no table: nothing restored, nothing changed" >&2; m -e "DROP DATABASE \\`$tmp\\`"; exit 3; }',
    'renames=""',
    'for t in $live; do renames="$renames, \\`$db\\`.\\`$t\\` TO \\`$old\\`.\\`$t\\`"; done',
    'for t in $restored; do renames="$renames, \\`$tmp\\`.\\`$t\\` TO \\`$db\\`.\\`$t\\`"; done',
    'm -e "CREATE DATABASE \\`$old\\`; RENAME TABLE ${renames#, }"',
    'm -e "DROP DATABASE \\`$tmp\\`"',
    'echo "restored $db from $DUMP ($(echo $restored | wc -w) tables); the tables it replaced are kept in the database $old (DROP DATABASE \\`$old\\` once you are sure)"',
].join("\n");

async function main() {
    const dump = process.argv[2];
    if (dump !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*\.sql$/.test(dump)) {
        fail(
            `the dump must be a file name from the list (npm run restore), such as v3-20260101T030000Z.sql, got ${JSON.stringify(dump)}`,
            2,
        );
    }
    let outputs;
    try {
        outputs = JSON.parse(fs.readFileSync(0, "utf8"));
    } catch (err) {
        fail(`stdin must be the JSON of \`pulumi stack output --json --show-secrets\` (${err.message})`, 2);
    }
    if (typeof outputs.appContainer !== "string") fail("the stack output appContainer is missing: has the stack been deployed?", 2);
    const host = outputs.dockerHost || process.env.DOCKER_HOST || "unix:///var/run/docker.sock";
    const target = engineTarget(host, () => {
        for (const k of ["dockerCaCert", "dockerClientCert", "dockerClientKey"]) {
            if (typeof outputs[k] !== "string" || outputs[k] === "[secret]")
                fail(`the stack output ${k} is missing (pass --show-secrets)`, 2);
        }
        return { ca: outputs.dockerCaCert, cert: outputs.dockerClientCert, key: outputs.dockerClientKey };
    });

    // MySQL: the container answering to "mysql" on the app's database network.
    const app = await inspect(target, outputs.appContainer);
    let mysql;
    let network;
    for (const net of Object.keys(app.NetworkSettings.Networks)) {
        const members = (await call(target, "GET", `/containers/json?filters=${enc(JSON.stringify({ network: [net] }))}`)).json || [];
        for (const c of members) {
            const info = await inspect(target, c.Id);
            if ((info.NetworkSettings.Networks[net]?.Aliases || []).includes("mysql")) {
                mysql = info;
                network = net;
            }
        }
    }
    if (!mysql) fail(`no MySQL container on the networks of ${outputs.appContainer}`);
    // The dumps: where the newest dump step of this deployment wrote them.
    const steps =
        (await call(target, "GET", `/containers/json?all=1&filters=${enc(JSON.stringify({ label: ["berth.step=dump"] }))}`)).json || [];
    const ours = [];
    for (const c of steps) {
        const info = await inspect(target, c.Id);
        if (info.NetworkSettings.Networks[network]) ours.push(info);
    }
    ours.sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created));
    const mount = ours[0]?.Mounts.find((m) => m.Destination === DUMPS);
    if (!mount) fail("no dump has been taken yet on this stack: dumps are taken before each migration");
    const bind = mount.Type === "volume" ? `${mount.Name}:${DUMPS}:ro` : `${mount.Source}:${DUMPS}:ro`;
    const pick = (name) => mysql.Config.Env.find((e) => e.startsWith(`${name}=`));

    const script = dump === undefined ? `ls -1t ${DUMPS} | grep '\\.sql$' || echo "(no dumps yet)"` : RESTORE_SCRIPT;
    const created = await call(target, "POST", "/containers/create", {
        Image: mysql.Image,
        Entrypoint: ["bash", "-c", script],
        Env: dump === undefined ? [] : [pick("MYSQL_ROOT_PASSWORD"), pick("MYSQL_DATABASE"), `DUMP=${dump}`],
        Labels: { "berth.step": "restore" },
        HostConfig: { Binds: [bind], NetworkMode: network },
    });
    const id = created.json.Id;
    try {
        await call(target, "POST", `/containers/${enc(id)}/start`);
        const waited = await request(target, "POST", `/containers/${enc(id)}/wait`, undefined, 60 * 60_000);
        const code = JSON.parse(waited.body.toString("utf8")).StatusCode;
        const logs = await request(target, "GET", `/containers/${enc(id)}/logs?stdout=1&stderr=1`);
        process.stdout.write(demux(logs.body));
        if (code !== 0)
            fail(
                dump === undefined ? "listing the dumps failed" : `${dump} was not restored (exit ${code}); the live tables are untouched`,
            );
    } finally {
        await call(target, "DELETE", `/containers/${enc(id)}?force=1`).catch(() => undefined);
    }
}

main().catch((err) => fail(err.message));
