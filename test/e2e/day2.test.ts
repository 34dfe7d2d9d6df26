/**
 * Day 2 on a real Docker engine: a rollback to a kept image under load (no build, no migration, the old
 * version's own image serves), and restores of a pre-migration dump with `npm run restore`'s script while
 * the app serves (rows deleted, then the table dropped).
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "./harness/proc";
import { failures, runLoad, type LoadResult } from "./support/load";
import { E2eEnv, setupE2e } from "./support/env";
import { drill, reportDrill } from "./support/drills";

const verbose = process.env.BERTH_E2E_VERBOSE === "1";
const log = (line: string) => {
    if (verbose) process.stderr.write(`${line}\n`);
};
const ROOT = path.resolve(__dirname, "../..");

describe("day 2 on a real Docker engine: rollback to a kept image, restore of a dump", () => {
    let env: E2eEnv | undefined;
    let front = "";
    let changedApp = "";
    const skip = process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to start a private dockerd" : false;

    const refreshFront = async () => {
        const info = (await env!.applier.inspect("berth-nginx")) as unknown as {
            NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
        };
        front = `http://${Object.values(info.NetworkSettings.Networks)[0]?.IPAddress}:80`;
    };
    const get = async (p: string) => {
        const res = await fetch(`${front}${p}`, { signal: AbortSignal.timeout(15_000) });
        return { status: res.status, version: res.headers.get("x-app-version"), text: await res.text() };
    };
    const post = async (email: string) => {
        const res = await fetch(`${front}/users.json`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email }),
            signal: AbortSignal.timeout(15_000),
        });
        assert.equal(res.status, 201, `POST ${email}`);
    };
    const liveImage = async () => ((await env!.applier.inspect("berth-app")) as unknown as { Image: string }).Image;
    const stepLogs = async (name: string) => {
        const r = await env!.engine.docker(["logs", env!.applier.engineName(name)], { timeoutMs: 30_000 });
        return r.stdout + r.stderr;
    };
    const noFailures = (r: LoadResult, what: string) =>
        assert.equal(failures(r), 0, `${what}: ${failures(r)} failed: ${JSON.stringify({ bad: r.bad, errors: r.errors })}`);
    const mysql = (sql: string) =>
        env!.engine.docker(
            [
                "exec",
                env!.applier.engineName("berth-mysql"),
                "sh",
                "-c",
                `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -N -B -u root "$MYSQL_DATABASE" -e "${sql}"`,
            ],
            { check: true, timeoutMs: 60_000 },
        );
    /** Whether the app's users table has this email (the list page shows only the newest users). */
    const hasUser = async (email: string) =>
        (await mysql(`SELECT COUNT(*) FROM users WHERE email = '${email}'`)).stdout.trim().split("\n").at(-1)?.trim() === "1";
    /** `npm run restore [-- dump]`: the script with the stack's outputs on stdin, as npm pipes them. */
    const restore = (dump?: string) =>
        run(process.execPath, [path.join(ROOT, "scripts/restore.js"), ...(dump ? [dump] : [])], {
            input: JSON.stringify({ ...env!.outputs, appContainer: env!.applier.engineName("berth-app") }),
            timeoutMs: 300_000,
        });

    before(async () => {
        if (skip) return;
        env = await setupE2e(log);
        // A copy of the app with a change, so v2's image differs from v1's.
        changedApp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-e2e-app-"));
        await fs.cp(path.join(ROOT, "app"), changedApp, { recursive: true, filter: (src) => !/\/(node_modules|dist)(\/|$)/.test(src) });
        await fs.appendFile(path.join(changedApp, "src", "server.ts"), "\n// v2: a change of code\n");
    });
    after(async () => {
        await env?.close();
        if (changedApp) await fs.rm(changedApp, { recursive: true, force: true });
    });

    it(
        "rollback: v1, then v2 (new code), then back to v1's kept image under load: no build, no migration, 0 failed",
        { skip },
        async () => {
            await env!.up(await env!.declare({ appVersion: 1 }));
            await refreshFront();
            const v1Image = await liveImage();
            await post("before-v2@example.com");
            await env!.up(await env!.declare({ appVersion: 2, appDir: changedApp }));
            const v2Image = await liveImage();
            assert.notEqual(v2Image, v1Image, "v2 runs an image of its own");
            assert.equal((await get("/")).version, "2");

            const back = await env!.declare({ appVersion: 1, appImage: "kept" });
            assert.ok(!back.some((r) => r.kind === "image"), "a rollback declares no build");
            const pinned = back.find((r) => r.kind === "remoteImage" && String(r.inputs.name).endsWith("-app:v1"));
            assert.ok(pinned, `the kept image of v1 is declared: ${back.map((r) => `${r.kind} ${r.name}`).join(", ")}`);
            const d = await drill(`${front}/`, () => env!.up(back));
            reportDrill("rollback v2 -> v1 (kept image)", d);
            assert.ifError(d.error);
            noFailures(d.load, "rollback");
            assert.equal(await liveImage(), v1Image, "v1's own image serves again");
            assert.equal((await get("/")).version, "1");
            assert.match(await stepLogs("berth-migrate"), /rolling back to the kept image of v1: no migration runs/);
            assert.ok(await hasUser("before-v2@example.com"), "the data stays");

            // Forward again: a normal deploy builds and migrates.
            await env!.up(await env!.declare({ appVersion: 3 }));
            assert.equal((await get("/")).version, "3");
            assert.doesNotMatch(await stepLogs("berth-migrate"), /no migration runs/);
        },
    );

    it(
        "rollback to a version whose image is gone fails before anything changes, and the live version keeps serving",
        { skip },
        async () => {
            const before = await liveImage();
            const gone = await env!.declare({ appVersion: 99, appImage: "kept" });
            await assert.rejects(env!.up(gone), /unable to pull image berth-\S+-app:v99/);
            assert.equal(await liveImage(), before);
            assert.equal((await get("/")).version, "3");
        },
    );

    it("restore under load: rows deleted by mistake come back from the newest dump, 0 failed requests", { skip }, async () => {
        await env!.up(await env!.declare({ appVersion: 3 }));
        await post("kept-1@example.com");
        await post("kept-2@example.com");
        // v4's dump step takes these rows.
        await env!.up(await env!.declare({ appVersion: 4 }));
        const listed = await restore();
        assert.equal(listed.code, 0, listed.stderr);
        const newest = listed.stdout.split("\n")[0] ?? "";
        assert.match(newest, /^v4-\d{8}T\d{6}Z\.sql$/, `the newest dump is v4's: ${listed.stdout}`);

        await mysql("DELETE FROM users");
        assert.equal(await hasUser("kept-1@example.com"), false);
        let release!: () => void;
        const load = runLoad({
            url: `${front}/users.json`,
            connections: 20,
            stop: new Promise<void>((r) => (release = r)),
            ratePerConnection: 10,
        });
        let restored;
        try {
            restored = await restore(newest);
        } finally {
            release();
        }
        noFailures(await load, "during the restore");
        assert.equal(restored.code, 0, restored.stdout + restored.stderr);
        assert.match(
            restored.stdout,
            /restored \w+ from v4-\S+\.sql \(\d+ tables\); the tables it replaced are kept in the database \w+_before_restore_\d{8}T\d{6}Z/,
        );
        for (const email of ["before-v2@example.com", "kept-1@example.com", "kept-2@example.com"]) assert.ok(await hasUser(email), email);
        assert.equal((await get("/users.json")).status, 200);
        assert.doesNotMatch(restored.stdout + restored.stderr, /MYSQL_ROOT_PASSWORD=|PWD=/, "no password printed");
    });

    it("restore after the table was dropped; a bad dump name is refused and changes nothing", { skip }, async () => {
        const newest = (await restore()).stdout.split("\n")[0] ?? "";
        await mysql("DROP TABLE users");
        assert.notEqual((await get("/users.json")).status, 200);
        const r = await restore(newest);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(await hasUser("kept-2@example.com"));
        assert.equal((await get("/users.json")).status, 200);

        const refused = await restore("../../etc/passwd");
        assert.equal(refused.code, 2);
        assert.match(refused.stderr, /the dump must be a file name from the list/);
        const missing = await restore("v1-20000101T000000Z.sql");
        assert.notEqual(missing.code, 0);
        assert.match(missing.stdout + missing.stderr, /no dump named v1-20000101T000000Z\.sql/);
        assert.ok(await hasUser("kept-2@example.com"), "a failed restore changes nothing");
    });
});
