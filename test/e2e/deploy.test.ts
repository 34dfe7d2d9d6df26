/**
 * End to end on a real Docker engine: what the program declares (read from a mocks run) is deployed
 * over the program's own mutual TLS, in Pulumi's order, then updated under load and put through
 * failure drills. In CI a missing engine fails the suite; elsewhere it skips with the reason.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ContainerInfo } from "./apply/api";
import type { ApplyEvent } from "./apply/apply";
import { run, waitFor } from "./harness/proc";
import { failures, LoadResult } from "./support/load";
import { E2eEnv, setupE2e } from "./support/env";
import { BROKEN, drill, NEVER_HEALTHY, reportDrill } from "./support/drills";
import { planUpdate, showStep } from "./apply/plan";
import { KEEP_DUMPS } from "../../infra/deploy/plan";

const verbose = process.env.BERTH_E2E_VERBOSE === "1";
const log = (line: string) => {
    if (verbose) process.stderr.write(`${line}\n`);
};

/**
 * No request in a drill may take this long: the first design's stall after a failed deploy (two dead
 * cached addresses, 1 s connect timeout each). 1 s was too tight here: a CI run saw one 1002 ms burst,
 * every connection at once while the migrate container started and v1 alone served, CPU, not routing.
 */
const STALL_MS = 2000;

describe("Berth on a real Docker engine", () => {
    let env: E2eEnv | undefined;
    let base = "";
    /**
     * nginx by its address on the front network: traffic from outside a host reaches the published
     * port through the kernel's DNAT, while a loopback connection to it goes through docker-proxy, a
     * userland copy the real path does not have. The drills load this one; `base` checks the published port.
     */
    let front = "";
    const skip = process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to start a private dockerd" : false;

    const events = (name: string, what: ApplyEvent["what"]) => env!.applier.events.filter((e) => e.name === name && e.what === what);
    /** Position of the last such event: the applier's events are in the order things happened. */
    const at = (name: string, what: ApplyEvent["what"], version?: string) => {
        const last = events(name, what)
            .filter((e) => version === undefined || e.version === version)
            .at(-1);
        assert.ok(last, `no ${what} event for ${name} ${version ?? ""}`);
        return env!.applier.events.indexOf(last);
    };
    const get = async (path: string) => {
        const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(15_000) });
        return { status: res.status, version: res.headers.get("x-app-version"), text: await res.text() };
    };
    const refreshBase = async () => {
        base = `http://127.0.0.1:${await env!.applier.publishedPort("berth-nginx", 80)}`;
        const info = (await env!.applier.inspect("berth-nginx")) as unknown as {
            NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
        };
        const ip = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress;
        assert.ok(ip, "nginx has an address on the front network");
        front = `http://${ip}:80`;
    };
    const appContainers = async () => {
        const list = await env!.api.call<{ Names: string[]; Labels: Record<string, string>; State: string }[]>(
            "GET",
            `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ["berth.version"] }))}`,
        );
        return list.filter((c) => c.Names.some((n) => n.includes(`berth-e2e-${process.pid}-berth-app-`)));
    };

    /** nginx's own account of failed requests, for the failure message. */
    const nginxProblems = async () => {
        const logs = await env!.engine.docker(["logs", env!.applier.engineName("berth-nginx")], { timeoutMs: 30_000 });
        const lines = (logs.stdout + logs.stderr).split("\n");
        return lines
            .filter((l) => /" 5\d\d |\[(error|crit|alert)\]/.test(l) && !/Connection refused/.test(l))
            .slice(-8)
            .join("\n");
    };
    const noFailures = async (r: LoadResult) => {
        if (failures(r) === 0) return;
        assert.fail(
            `${failures(r)} failed requests: ${JSON.stringify({ bad: r.bad, errors: r.errors })}\nnginx says:\n${await nginxProblems()}`,
        );
    };

    before(async () => {
        if (skip) return;
        env = await setupE2e(log);
    });
    after(async () => {
        await env?.close();
    });

    it(
        "1. first deployment: mysql healthy, then create, migrate, the app healthy, then the cutover; v1 serves and keeps users",
        { skip },
        async () => {
            await env!.up(await env!.declare({ appVersion: 1 }));
            assert.ok(at("berth-mysql", "healthy") < at("berth-db-create", "started"), "mysql healthy before db-create");
            assert.ok(at("berth-db-create", "exited") <= at("berth-migrate", "started"), "db-create done before migrate");
            assert.ok(at("berth-migrate", "exited") <= at("berth-app", "started"), "migrate done before the app starts");
            const cut = env!.cutovers[0];
            assert.ok(cut && cut.code === 0 && cut.switched, "the cutover ran and switched");
            assert.ok(events("berth-app", "healthy")[0]!.at <= cut.started, "the app healthy before the cutover");
            assert.ok(events("berth-nginx", "started")[0]!.at <= cut.started, "nginx up before the cutover");
            await refreshBase();
            const page = await get("/");
            assert.equal(page.status, 200);
            assert.equal(page.version, "1");
            const created = await fetch(`${base}/users.json`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ email: "first@example.com" }),
            });
            assert.equal(created.status, 201);
            const users = await get("/users.json");
            assert.match(users.text, /first@example\.com/);
        },
    );

    it("the stack's docker context command gives a CLI that reaches the engine over mutual TLS", { skip }, async () => {
        const home = await fs.mkdtemp(path.join(os.tmpdir(), "berth-ctx-"));
        try {
            const cliEnv: NodeJS.ProcessEnv = {
                ...process.env,
                DOCKER_CONFIG: path.join(home, "docker"),
                BERTH_DOCKER_CERTS_DIR: path.join(home, "certs"),
            };
            // The context alone must lead the CLI to the engine.
            for (const k of ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]) delete cliEnv[k];
            const script = path.resolve(__dirname, "../../scripts/docker-context.js");
            const made = await run(process.execPath, [script, "berth-e2e"], { env: cliEnv, input: JSON.stringify(env!.outputs) });
            assert.equal(made.code, 0, made.stderr);
            assert.match(made.stdout, /docker context berth-e2e created/);
            assert.equal((await fs.stat(path.join(home, "certs", "berth-e2e", "key.pem"))).mode & 0o777, 0o600);
            const ps = await run("docker", ["--context", "berth-e2e", "ps", "--format", "{{.Names}}"], { env: cliEnv });
            assert.equal(ps.code, 0, ps.stderr);
            assert.match(ps.stdout, new RegExp(env!.applier.engineName("berth-app")));
            const again = await run(process.execPath, [script, "berth-e2e"], { env: cliEnv, input: JSON.stringify(env!.outputs) });
            assert.match(again.stdout, /updated/);
            const hidden = await run(process.execPath, [script, "berth-e2e"], {
                env: cliEnv,
                input: JSON.stringify({ ...env!.outputs, dockerClientKey: "[secret]" }),
            });
            assert.equal(hidden.code, 1);
            assert.match(hidden.stderr, /dockerClientKey is missing \(pass --show-secrets\)/);
        } finally {
            await fs.rm(home, { recursive: true, force: true });
        }
    });

    /** Versions whose answers ended before the route flip, and those that started after it. */
    const aroundCutover = (d: Awaited<ReturnType<typeof drill>>) => {
        const run = env!.cutovers[env!.cutovers.length - 1];
        assert.ok(run?.switching && run.switched, "the cutover ran and switched");
        const at = (ms: number) => d.load.startedAt + ms;
        const before = d.load.samples.filter((x) => at(x.end) < run.switching! && x.status > 0).map((x) => x.version);
        const after = d.load.samples.filter((x) => at(x.start) > run.switched! && x.status > 0).map((x) => x.version);
        return { before: new Set(before), after: new Set(after), run };
    };
    /**
     * The switch is invisible: nothing failed, and no request waited on a dead or unready upstream (the
     * first design's signature: requests held for the 1 s connect timeout, 2 s after a failed deploy).
     * The latency targets themselves (longest under 500 ms, p99 within 2x of steady state) are figures
     * for `npm run bench`, measured side by side on a quiet machine; the report line prints them here.
     */
    const invisible = async (d: Awaited<ReturnType<typeof drill>>) => {
        await noFailures(d.load);
        assert.ok(d.window.requests > 200, `too little load in the window to mean anything: ${d.window.requests}`);
        assert.ok(d.window.posts > 40, `too few POSTs: ${d.window.posts}`);
        assert.ok(d.window.longest < STALL_MS, `a request took ${d.window.longest.toFixed(0)} ms in the deploy window`);
    };
    /** Every row a POST was told was created is there. */
    const rowsKept = async (emails: string[]) => {
        assert.ok(emails.length > 0, "some POSTs created rows");
        const sql = 'mysql -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "SELECT email FROM users"';
        const r = await env!.engine.docker(["exec", env!.applier.engineName("berth-mysql"), "sh", "-c", sql], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        const stored = new Set(r.stdout.split("\n").map((l) => l.trim()));
        const missing = emails.filter((e) => !stored.has(e));
        assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${emails.length} created rows are missing`);
    };
    const currentVersion = async () => (await get("/")).version;
    /** Every user's email, from MySQL itself, sorted. */
    const allEmails = async () => {
        const sql = 'mysql -N -u"$MYSQL_USER" -p"$MYSQL_PASSWORD" "$MYSQL_DATABASE" -e "SELECT email FROM users ORDER BY email"';
        const r = await env!.engine.docker(["exec", env!.applier.engineName("berth-mysql"), "sh", "-c", sql], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        return r.stdout
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean);
    };
    /** What the applier and the cutover did, for drill reports. */
    const marks = () =>
        [
            ...env!.applier.events.map((e) => ({ what: `${e.name}${e.version ? `@${e.version}` : ""} ${e.what}`, at: e.at })),
            ...env!.cutovers.flatMap((c) => [
                { what: "cutover start", at: c.started },
                ...(c.switching ? [{ what: "cutover switching", at: c.switching }] : []),
                { what: "cutover end", at: c.ended },
            ]),
        ].sort((a, b) => a.at - b.at);

    it("2. v1 to v2 under load: v2 gets nothing before its cutover, v1 nothing after; invisible to clients", { skip }, async () => {
        const v2 = await env!.declare({ appVersion: 2 });
        const d = await drill(`${front}/`, () => env!.up(v2));
        reportDrill("v1 -> v2 switch", d, marks());
        assert.equal(d.error, undefined);
        await invisible(d);
        const { before, after, run } = aroundCutover(d);
        assert.deepEqual([...before], ["1"], "only v1 answered before the cutover");
        assert.deepEqual([...after], ["2"], "only v2 answered after the cutover");
        assert.ok(at("berth-app", "healthy", "2") < at("berth-app", "stopping", "1"), "v2 healthy before v1 is stopped");
        const stopping = events("berth-app", "stopping").find((e) => e.version === "1");
        assert.ok(stopping && stopping.at >= run.ended, "v1 is stopped only after the cutover ended");
        assert.equal(await currentVersion(), "2");
        const live = (await env!.applier.inspect("berth-app")) as unknown as { HostConfig: { CpuShares: number } };
        assert.equal(live.HostConfig.CpuShares, 1024, "the cutover gave the live version the serving CPU weight");
        await rowsKept(d.load.created);
        await rowsKept(["first@example.com"]);
        assert.deepEqual(
            (await appContainers()).map((c) => c.Labels["berth.version"]),
            ["2"],
            "v1 was removed",
        );
        // v2 migrated only after a dump of the database, taken while v1 served: whole, with the users.
        const dumps = await fs.readdir(env!.hostPath!("/opt/data/berth/dumps"));
        const v2dump = dumps.find((f) => /^v2-\d{8}T\d{6}Z\.sql$/.test(f));
        assert.ok(v2dump, `a dump before v2's migration: ${dumps.join(", ")}`);
        assert.ok(!dumps.some((f) => f.endsWith(".partial")), "no partial dump left");
        const sql = await fs.readFile(path.join(env!.hostPath!("/opt/data/berth/dumps"), v2dump), "utf8");
        assert.match(sql, /CREATE TABLE `users`/);
        assert.match(sql, /first@example\.com/);
        assert.ok(at("berth-dump", "exited") < at("berth-migrate", "started"), "the dump before the migration");
    });

    /** A v3 that must never serve: the deploy fails, v2 serves throughout, and no v3 app is routed. */
    const refusedDrill = async (what: string, config: Record<string, unknown>, why: RegExp) => {
        const bad = await env!.declare({ appVersion: 3, ...config });
        const runsBefore = env!.cutovers.length;
        const d = await drill(`${front}/`, () => env!.up(bad));
        reportDrill(what, d, marks());
        assert.match(d.error?.message ?? "(no error)", why);
        await invisible(d);
        assert.deepEqual(Object.keys(d.load.versions), ["2"], "only v2 answered");
        assert.equal(env!.cutovers.length, runsBefore, "no cutover ran");
        assert.equal(await currentVersion(), "2");
        await rowsKept(d.load.created);
    };

    it("3. a v3 whose migration fails: v3 never starts, v2 keeps serving, the output is reported", { skip }, async () => {
        await refusedDrill("failed migration", BROKEN.failedMigration, /exited with code 3[\s\S]*migration 0003 failed: no such column/);
        assert.deepEqual(
            (await appContainers()).map((c) => c.Labels["berth.version"]),
            ["2"],
            "no v3 app container",
        );
    });

    it("4. a v3 that listens but answers 500 everywhere never gets a request", { skip }, async () => {
        await refusedDrill("v3 answers 500", BROKEN.answers500, NEVER_HEALTHY);
    });

    it("5. a v3 whose port is open but never answers never gets a request", { skip }, async () => {
        await refusedDrill("v3 hangs", BROKEN.hangs, NEVER_HEALTHY);
    });

    it("6. a v3 that crashes in a loop never gets a request", { skip }, async () => {
        await refusedDrill("v3 crash loop", BROKEN.crashLoop, NEVER_HEALTHY);
    });

    it("7. a v3 that answers 500 for its first 10 s rolls out once healthy, invisibly", { skip }, async () => {
        const v3 = await env!.declare({ appVersion: 3, ...BROKEN.slowStart });
        const d = await drill(`${front}/`, () => env!.up(v3));
        reportDrill("v3 healthy after 10 s", d, marks());
        assert.equal(d.error, undefined);
        await invisible(d);
        const { before, after } = aroundCutover(d);
        assert.deepEqual([...before], ["2"]);
        assert.deepEqual([...after], ["3"]);
        await rowsKept(d.load.created);
    });

    it("8. the new app container killed as the cutover starts: it restarts, then takes over, invisibly", { skip }, async () => {
        const v4 = await env!.declare({ appVersion: 4 });
        env!.cutoverHooks.before = async () => {
            env!.cutoverHooks.before = undefined;
            // The process dies as in a crash or an OOM kill (an API kill would count as a manual stop).
            const info = (await env!.applier.inspect("berth-app")) as ContainerInfo & { State: { Pid: number } };
            process.kill(info.State.Pid, "SIGKILL");
        };
        const d = await drill(`${front}/`, () => env!.up(v4));
        reportDrill("v4 killed at cutover", d, marks());
        assert.equal(d.error, undefined);
        await invisible(d);
        const info = (await env!.applier.inspect("berth-app")) as ContainerInfo & { RestartCount: number };
        assert.ok(info.RestartCount > 0, "the killed container was restarted by its policy");
        const { before, after } = aroundCutover(d);
        assert.deepEqual([...before], ["3"]);
        assert.deepEqual([...after], ["4"]);
        await rowsKept(d.load.created);
    });

    it("9. dockerd restarts right after a cutover: nginx serves the new version once it is back", { skip }, async () => {
        await env!.up(await env!.declare({ appVersion: 5 }));
        await env!.restartEngine();
        await refreshBase();
        await waitFor("nginx to serve v5 again", 180_000, async () =>
            (await get("/").catch(() => undefined))?.version === "5" ? true : undefined,
        );
        // Served by v5 only, and steadily.
        const versions = new Set<string | null>();
        for (let i = 0; i < 20; i++) versions.add((await get("/")).version);
        assert.deepEqual([...versions], ["5"]);
        await rowsKept(["first@example.com"]);
    });

    it("10. the app process crashes: the restart policy brings it back and it serves again", { skip }, async () => {
        const before = await env!.applier.inspect("berth-app");
        const pid = (before as ContainerInfo & { State: { Pid: number } }).State.Pid;
        assert.ok(pid > 0);
        process.kill(pid, "SIGKILL");
        await waitFor("the app to be restarted and healthy", 120_000, async () => {
            const info = (await env!.applier.inspect("berth-app")) as ContainerInfo & { RestartCount: number };
            return info.RestartCount > 0 && info.State.Health?.Status === "healthy" ? true : undefined;
        });
        const page = await get("/");
        assert.equal(page.status, 200);
        assert.equal(page.version, "5");
    });

    it("11. dockerd restarts: every container comes back and the users are still there", { skip }, async () => {
        await env!.restartEngine();
        for (const name of ["berth-mysql", "berth-app", "berth-nginx"]) {
            await waitFor(`${name} to run again`, 180_000, async () => {
                const info = await env!.applier.inspect(name).catch(() => undefined);
                const healthy = !info?.State.Health || info.State.Health.Status === "healthy";
                return info?.State.Running && healthy ? true : undefined;
            });
        }
        await refreshBase();
        await waitFor("the app to answer through nginx", 60_000, async () =>
            (await get("/").catch(() => undefined))?.status === 200 ? true : undefined,
        );
        await rowsKept(["first@example.com"]);
    });

    it("12. MySQL restarts: /up goes 503, then 200 again, and no data is lost", { skip }, async () => {
        const mysql = env!.applier.engineName("berth-mysql");
        await env!.api.call("POST", `/containers/${mysql}/stop?t=120`, undefined, 180_000);
        await waitFor("/up to answer 503", 60_000, async () => ((await get("/up")).status === 503 ? true : undefined));
        await env!.api.call("POST", `/containers/${mysql}/start`);
        await waitFor("/up to answer 200", 120_000, async () => ((await get("/up")).status === 200 ? true : undefined));
        await rowsKept(["first@example.com"]);
    });

    it("13. the planner's cascade rule bites: with migrate delete-before-replace, the switch fails requests", { skip }, async () => {
        // The first wave's bug, on purpose: the engine deletes the app (whose labels take migrate's
        // result) before the new migrate runs (calculateDependentReplacements). This proves the e2e
        // switch is judged on the engine's real rules: made delete-before-replace, it fails.
        const live = await currentVersion();
        const next = await env!.declare({ appVersion: Number(live) + 1 });
        const broken = next.map((r) => (r.name === "berth-migrate" ? { ...r, deleteBeforeReplace: true } : r));
        const d = await drill(`${front}/`, () => env!.up(broken));
        reportDrill("migrate made delete-before-replace", d, marks());
        assert.equal(d.error, undefined, "the update itself succeeds");
        assert.ok(failures(d.load) > 0, "requests failed while no app was running");
        assert.ok(
            at("berth-app", "removed", live!) < at("berth-migrate", "started", undefined),
            "the running app was deleted before the new migrate started",
        );
        await waitFor("the new version to serve", 60_000, async () =>
            (await currentVersion()) === String(Number(live) + 1) ? true : undefined,
        );
    });

    it("13b. after many deploys only the newest app images remain on the engine (and any in use)", { skip }, async () => {
        const filters = encodeURIComponent(JSON.stringify({ reference: ["berth-dev-app"] }));
        const images = await env!.api.call<{ Id: string; RepoTags: string[] | null }[]>("GET", `/images/json?filters=${filters}`);
        const used = new Set((await env!.api.call<{ ImageID: string }[]>("GET", "/containers/json?all=1")).map((c) => c.ImageID));
        const unused = images.filter((i) => !used.has(i.Id));
        assert.ok(env!.cutovers.length >= 6, `enough deploys to prune: ${env!.cutovers.length}`);
        // keepImages (default 3): the live one and the two before it, and beside them only an image a
        // container still holds (db-create's: the one-shot of the first deployment stays, exited).
        const held = images.filter((i) => used.has(i.Id)).length;
        assert.ok(unused.length <= 2, `${unused.length} unused app images kept: ${unused.map((i) => i.RepoTags?.join(",")).join("; ")}`);
        assert.ok(images.length <= 3 + Math.max(0, held - 1), `${images.length} app images kept, ${held} in use`);
        // The dumps taken before each migration: the newest KEEP_DUMPS, each one whole.
        const dumps = await fs.readdir(env!.hostPath!("/opt/data/berth/dumps"));
        assert.ok(dumps.length >= 2 && dumps.length <= KEEP_DUMPS, `${dumps.length} dumps kept: ${dumps.join(", ")}`);
        assert.ok(
            dumps.every((f) => /^v\d+-\d{8}T\d{6}Z\.sql$/.test(f)),
            dumps.join(", "),
        );
        // The unused build cache is pruned with them: the cutover says what it removed.
        assert.match(env!.cutovers[env!.cutovers.length - 1]!.output, /build cache: removed \d+ unused entr\(ies\)/);
    });

    it("13c. the instance is replaced: a fresh engine given the data directory serves the same users", { skip }, async () => {
        const live = await currentVersion();
        const users = await allEmails();
        assert.ok(users.includes("first@example.com") && users.length > 100, `users before the replacement: ${users.length}`);
        const oldEngine = env!.engine.host;
        // The old instance stops (its containers get their grace), the data directory moves to a new
        // dockerd with an empty data root; `pulumi up` runs with the new instance's id.
        await env!.replaceHost!();
        assert.notEqual(env!.engine.host, oldEngine);
        const next = await env!.declare({ appVersion: Number(live) }, { instanceGeneration: 2 });
        const steps = planUpdate(env!.applier.current(), next).map(showStep);
        for (const name of ["berth-net", "berth-front", "berth-mysql", "berth-app", "berth-nginx", "berth-app-image"])
            assert.ok(
                steps.some((x) => x.startsWith(`replace-create ${name} `)),
                `${name} is created again:\n${steps.join("\n")}`,
            );
        await env!.up(next);
        await refreshBase();
        const page = await get("/");
        assert.equal(page.status, 200);
        assert.equal(page.version, live, "the same version serves");
        const after = await allEmails();
        assert.equal(after.length, users.length, "as many users as before");
        assert.deepEqual(after, users, "the same users, from the moved data");
        assert.equal((await get("/users.json")).status, 200);
        // Writes work on the new host.
        const created = await fetch(`${base}/users.json`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email: "after-replace@example.com" }),
        });
        assert.equal(created.status, 201);
        // Only the new engine's objects are in the state.
        for (const d of env!.applier.current().filter((x) => x.resource.kind === "container" && !x.resource.inputs.attach)) {
            const info = await env!.applier.inspect(d.resource.name);
            assert.ok(info.State.Running, `${d.resource.name} runs on the new engine`);
        }
    });

    it("14. destroy: everything goes in the engine's order, the app before the front network it was joined to", { skip }, async () => {
        await env!.up([]);
        assert.deepEqual(await appContainers(), [], "no app container left");
        const nets = await env!.api.call<{ Name: string }[]>("GET", "/networks");
        assert.deepEqual(
            nets.filter((n) => n.Name.startsWith(`berth-e2e-${process.pid}-`)).map((n) => n.Name),
            [],
            "no network left",
        );
        assert.ok(env!.applier.events.some((e) => e.name === "berth-app" && e.what === "removed"));
    });
});
