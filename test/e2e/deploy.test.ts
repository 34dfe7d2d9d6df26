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
import { run, sleep, waitFor } from "./harness/proc";
import { failures, LoadResult, runLoad } from "./support/load";
import { E2eEnv, setupE2e } from "./support/env";

const verbose = process.env.BERTH_E2E_VERBOSE === "1";
const log = (line: string) => {
    if (verbose) process.stderr.write(`${line}\n`);
};

function report(what: string, r: LoadResult): void {
    process.stdout.write(
        `# ${what}: ${r.requests} requests in ${(r.durationMs / 1000).toFixed(1)} s, ${failures(r)} failed, ` +
            `longest ${r.longestMs.toFixed(0)} ms, versions ${JSON.stringify(r.versions)}\n`,
    );
}

/** Runs `during` under load and returns the load's result once both are done (plus a tail). */
async function underLoad<T>(url: string, connections: number, minDurationMs: number, during: () => Promise<T>) {
    let release!: () => void;
    const stop = new Promise<void>((r) => (release = r));
    const load = runLoad({ url, connections, stop, minDurationMs });
    await sleep(2000);
    let outcome: { value?: T; error?: Error };
    try {
        outcome = { value: await during() };
    } catch (e) {
        outcome = { error: e as Error };
    }
    await sleep(3000);
    release();
    return { ...outcome, load: await load };
}

describe("Berth on a real Docker engine", () => {
    let env: E2eEnv | undefined;
    let base = "";
    const skip = process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to start a private dockerd" : false;

    const events = (name: string, what: ApplyEvent["what"]) => env!.applier.events.filter((e) => e.name === name && e.what === what);
    /** Position of the last such event: the applier's events are in the order things happened. */
    const at = (name: string, what: ApplyEvent["what"], version?: string) => {
        const found = events(name, what).filter((e) => version === undefined || e.version === version);
        assert.ok(found.length > 0, `no ${what} event for ${name} ${version ?? ""}`);
        return env!.applier.events.indexOf(found[found.length - 1]);
    };
    const get = async (path: string) => {
        const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(15_000) });
        return { status: res.status, version: res.headers.get("x-app-version"), text: await res.text() };
    };
    const refreshBase = async () => {
        base = `http://127.0.0.1:${await env!.applier.publishedPort("berth-nginx", 80)}`;
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
        "1. first deployment: mysql healthy, then create, migrate, the app healthy, then nginx; v1 serves and keeps users",
        { skip },
        async () => {
            await env!.up(await env!.declare({ appVersion: 1 }));
            assert.ok(at("berth-mysql", "healthy") < at("berth-db-create", "started"), "mysql healthy before db-create");
            assert.ok(at("berth-db-create", "exited") <= at("berth-migrate", "started"), "db-create done before migrate");
            assert.ok(at("berth-migrate", "exited") <= at("berth-app", "started"), "migrate done before the app starts");
            assert.ok(at("berth-app", "healthy") <= at("berth-nginx", "started"), "the app healthy before nginx");
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

    it("2. v1 to v2 under load: new container healthy before the old one stops; zero failed requests", { skip }, async () => {
        const v2 = await env!.declare({ appVersion: 2 });
        const { error, load } = await underLoad(`${base}/`, 50, 20_000, () => env!.up(v2));
        report("v1 -> v2 switch", load);
        assert.equal(error, undefined);
        await noFailures(load);
        assert.ok(load.requests > 500, `too little load to mean anything: ${load.requests}`);
        assert.ok(load.versions["1"] > 0 && load.versions["2"] > 0, "both versions served during the run");
        assert.ok(at("berth-app", "healthy", "2") < at("berth-app", "stopping", "1"), "v2 healthy before v1 is stopped");
        assert.equal((await get("/")).version, "2");
        assert.match((await get("/users.json")).text, /first@example\.com/);
        const apps = await appContainers();
        assert.deepEqual(
            apps.map((c) => c.Labels["berth.version"]),
            ["2"],
            "v1 was removed",
        );
    });

    it("3. a v3 whose migration fails: v3 never starts, v2 keeps serving, the output is reported", { skip }, async () => {
        const bad = await env!.declare({
            appVersion: 3,
            migrateCommand: '["sh", "-c", "echo migration 0003 failed: no such column >&2; exit 3"]',
        });
        const { error, load } = await underLoad(`${base}/`, 10, 5_000, () => env!.up(bad));
        report("failed migration", load);
        assert.match(error?.message ?? "", /exited with code 3/);
        assert.match(error?.message ?? "", /migration 0003 failed: no such column/);
        await noFailures(load);
        assert.deepEqual(Object.keys(load.versions), ["2"]);
        assert.deepEqual(
            (await appContainers()).map((c) => c.Labels["berth.version"]),
            ["2"],
            "no v3 app container",
        );
    });

    it("4. a v3 that never turns healthy: the wait times out, v2 keeps serving; a fixed v3 then rolls out", { skip }, async () => {
        const hung = await env!.declare({ appVersion: 3, appCommand: '["node", "-e", "setInterval(() => {}, 1000)"]', healthTimeout: 15 });
        const failed = await underLoad(`${base}/`, 20, 5_000, () => env!.up(hung));
        report("never-healthy v3", failed.load);
        assert.match(failed.error?.message ?? "", /did not become healthy within 15 s/);
        await noFailures(failed.load);
        assert.deepEqual(Object.keys(failed.load.versions), ["2"]);

        const fixed = await env!.declare({ appVersion: 3 });
        const { error, load } = await underLoad(`${base}/`, 20, 5_000, () => env!.up(fixed));
        report("fixed v3 roll-out", load);
        assert.equal(error, undefined);
        await noFailures(load);
        assert.equal((await get("/")).version, "3");
        const apps = await appContainers();
        assert.deepEqual(
            apps.map((c) => c.Labels["berth.version"]),
            ["3"],
            "the hung v3 and the old v2 are gone",
        );
    });

    it("5. the app process crashes: the restart policy brings it back and it serves again", { skip }, async () => {
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
        assert.equal(page.version, "3");
    });

    it("6. dockerd restarts: every container comes back and the users are still there", { skip }, async () => {
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
        assert.match((await get("/users.json")).text, /first@example\.com/);
    });

    it("7. MySQL restarts: /up goes 503, then 200 again, and no data is lost", { skip }, async () => {
        const mysql = env!.applier.engineName("berth-mysql");
        await env!.api.call("POST", `/containers/${mysql}/stop?t=120`, undefined, 180_000);
        await waitFor("/up to answer 503", 60_000, async () => ((await get("/up")).status === 503 ? true : undefined));
        await env!.api.call("POST", `/containers/${mysql}/start`);
        await waitFor("/up to answer 200", 120_000, async () => ((await get("/up")).status === 200 ? true : undefined));
        assert.match((await get("/users.json")).text, /first@example\.com/);
    });
});
