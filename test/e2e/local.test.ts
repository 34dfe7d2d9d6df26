/**
 * Target local end to end: what the program declares with `target: local` (read from a mocks run,
 * DOCKER_HOST naming the engine) is deployed to a Docker engine over its unix socket, in Pulumi's
 * order, then switched under load, refused a failed migration, and destroyed. Visitors come the way
 * they come on a laptop: to the port nginx publishes on 127.0.0.1. In CI a missing engine fails the
 * suite; elsewhere it skips with the reason.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { failures, LoadResult } from "./support/load";
import { E2eEnv, setupLocalE2e } from "./support/env";
import { BROKEN, drill, reportDrill } from "./support/drills";

const verbose = process.env.BERTH_E2E_VERBOSE === "1";
const log = (line: string) => {
    if (verbose) process.stderr.write(`${line}\n`);
};

/** No request in a drill may take this long: a stall, not noise (the connect timeout is 1 s). */
const STALL_MS = 1000;

interface VolumeInfo {
    Name: string;
    Labels: Record<string, string> | null;
    Mountpoint: string;
}

describe("target local on a real Docker engine, over its unix socket", () => {
    let env: E2eEnv | undefined;
    let base = "";
    const skip = process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to start a private dockerd" : false;

    const get = async (path: string) => {
        const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(15_000) });
        return { status: res.status, version: res.headers.get("x-app-version"), text: await res.text() };
    };
    const volumes = async () =>
        (await env!.api.call<{ Volumes: VolumeInfo[] | null }>("GET", "/volumes")).Volumes?.filter((v) =>
            v.Name.startsWith(`berth-e2e-${process.pid}-`),
        ) ?? [];
    const noFailures = (r: LoadResult) =>
        assert.equal(failures(r), 0, `${failures(r)} failed requests: ${JSON.stringify({ bad: r.bad, errors: r.errors })}`);
    /** Nothing failed and nothing stalled, under enough load (POSTs included) to mean something. */
    const invisible = (d: Awaited<ReturnType<typeof drill>>) => {
        noFailures(d.load);
        assert.ok(d.window.requests > 200, `too little load in the window: ${d.window.requests}`);
        assert.ok(d.window.posts > 40, `too few POSTs: ${d.window.posts}`);
        assert.ok(d.window.longest < STALL_MS, `a request took ${d.window.longest.toFixed(0)} ms in the deploy window`);
    };
    /** Every row a POST was told was created is in MySQL. */
    const rowsKept = async (emails: string[]) => {
        const sql = 'mysql -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "SELECT email FROM users"';
        const r = await env!.engine.docker(["exec", env!.applier.engineName("berth-mysql"), "sh", "-c", sql], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        const stored = new Set(r.stdout.split("\n").map((l) => l.trim()));
        const missing = emails.filter((e) => !stored.has(e));
        assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${emails.length} created rows are missing`);
    };

    before(async () => {
        if (skip) return;
        env = await setupLocalE2e(log);
    });
    after(async () => {
        await env?.close();
    });

    it("1. first deployment: named volumes, nginx on 127.0.0.1 only, v1 serves and keeps a user", { skip }, async () => {
        const declared = await env!.declare({ appVersion: 1 });
        assert.deepEqual(
            declared.filter((r) => r.kind === "volume").map((r) => r.name),
            ["berth-mysql-data", "berth-route-data", "berth-dumps-data"],
        );
        await env!.up(declared);
        const cut = env!.cutovers[0];
        assert.ok(cut && cut.code === 0 && cut.switched, `the cutover ran over the unix socket and switched:\n${cut?.output}`);

        const made = await volumes();
        assert.deepEqual(made.map((v) => v.Labels?.["berth.volume"]).sort(), ["dumps", "mysql", "route"]);
        assert.ok(made.every((v) => v.Labels?.["berth.stack"] === "dev"));
        const mysql = (await env!.applier.inspect("berth-mysql")) as unknown as {
            Mounts: { Type: string; Name: string; Destination: string }[];
        };
        assert.deepEqual(
            mysql.Mounts.map((m) => [m.Type, m.Name, m.Destination]),
            [["volume", env!.applier.engineName("berth-mysql-data"), "/var/lib/mysql"]],
        );
        const nginx = await env!.applier.inspect("berth-nginx");
        const binding = nginx.NetworkSettings.Ports?.["80/tcp"];
        assert.equal(binding?.length, 1);
        const published = binding[0]!;
        assert.equal(published.HostIp, "127.0.0.1", "published on loopback only");
        base = `http://127.0.0.1:${published.HostPort}`;

        const page = await get("/");
        assert.equal(page.status, 200);
        assert.equal(page.version, "1");
        const created = await fetch(`${base}/users.json`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email: "local@example.com" }),
        });
        assert.equal(created.status, 201);
    });

    it("2. v1 to v2 under load: the cutover switches at once, and no request fails", { skip }, async () => {
        const v2 = await env!.declare({ appVersion: 2 });
        const d = await drill(`${base}/`, () => env!.up(v2));
        reportDrill("local v1 -> v2 switch", d);
        assert.equal(d.error, undefined);
        invisible(d);
        const run = env!.cutovers.at(-1);
        assert.ok(run?.switching && run.switched, "the cutover ran and switched");
        const at = (ms: number) => d.load.startedAt + ms;
        const before = new Set(d.load.samples.filter((x) => at(x.end) < run.switching! && x.status > 0).map((x) => x.version));
        const after = new Set(d.load.samples.filter((x) => at(x.start) > run.switched! && x.status > 0).map((x) => x.version));
        assert.deepEqual([...before], ["1"], "only v1 answered before the cutover");
        assert.deepEqual([...after], ["2"], "only v2 answered after the cutover");
        assert.equal((await get("/")).version, "2");
        await rowsKept([...d.load.created, "local@example.com"]);
    });

    it("3. a v3 whose migration fails: up fails with its output, v2 serves throughout", { skip }, async () => {
        const bad = await env!.declare({ appVersion: 3, ...BROKEN.failedMigration });
        const runsBefore = env!.cutovers.length;
        const d = await drill(`${base}/`, () => env!.up(bad));
        reportDrill("local failed migration", d);
        assert.match(d.error?.message ?? "(no error)", /exited with code 3[\s\S]*migration 0003 failed: no such column/);
        invisible(d);
        assert.deepEqual(Object.keys(d.load.versions), ["2"], "only v2 answered");
        assert.equal(env!.cutovers.length, runsBefore, "no cutover ran");
        await rowsKept(d.load.created);
    });

    it(
        "4. destroy removes the containers, networks and the route volume, and keeps MySQL's and the dumps' volumes with their data",
        { skip },
        async () => {
            const mysqlVolume = env!.applier.engineName("berth-mysql-data");
            const dumpsVolume = env!.applier.engineName("berth-dumps-data");
            const mysqlImage = env!.applier.state.get("berth-mysql-image")!.id;
            await env!.up([]);
            assert.deepEqual(env!.applier.current(), [], "nothing is left in the state");
            const containers = await env!.api.call<{ Names: string[] }[]>("GET", "/containers/json?all=1");
            assert.deepEqual(
                containers.filter((c) => c.Names.some((n) => n.includes(`berth-e2e-${process.pid}-`))),
                [],
            );
            const left = await volumes();
            assert.deepEqual(
                left.map((v) => v.Name).sort(),
                [mysqlVolume, dumpsVolume].sort(),
                "only the MySQL and dumps volumes are kept",
            );
            // The dumps taken before v2's and v3's migrations are there too.
            const dumps = await env!.engine.docker(
                ["run", "--rm", "--network", "none", "-v", `${dumpsVolume}:/dumps:ro`, "--entrypoint", "ls", mysqlImage, "/dumps"],
                { timeoutMs: 60_000 },
            );
            assert.equal(dumps.code, 0, dumps.stderr);
            assert.match(dumps.stdout, /^v2-\d{8}T\d{6}Z\.sql$/m);
            // Its files are still there: the app's database directory among them.
            const ls = await env!.engine.docker(
                ["run", "--rm", "--network", "none", "-v", `${mysqlVolume}:/data:ro`, "--entrypoint", "ls", mysqlImage, "/data"],
                { timeoutMs: 60_000 },
            );
            assert.equal(ls.code, 0, ls.stderr);
            assert.ok(ls.stdout.split("\n").includes("app"), `the app's database is kept: ${ls.stdout}`);
        },
    );
});
