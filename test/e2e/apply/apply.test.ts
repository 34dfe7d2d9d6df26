/**
 * The applier's bookkeeping against a fake Docker API: an update stops at its first failed step,
 * leaves what it created in the state and its create-before-delete old objects as pending deletes,
 * which the next update deletes at its end. No engine needed.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { Engine } from "../harness/engine";
import type { DockerApi } from "./api";
import { Applier, CommandOp } from "./apply";
import { DockerResource, Kind, planUpdate, showStep } from "./plan";

/** Records the Engine API calls; a container whose command contains "fail" exits 3. */
function fakeApi() {
    const calls: string[] = [];
    const cmd = new Map<string, string[]>();
    const api = {
        async call(method: string, path: string, body?: { Cmd?: string[] }) {
            calls.push(`${method} ${path.replace(/\?.*$/, "")}`);
            const created = /^\/containers\/create\?name=(.+)$/.exec(path)?.[1];
            if (created !== undefined) {
                const id = decodeURIComponent(created);
                cmd.set(id, body?.Cmd ?? []);
                return { Id: id };
            }
            const waited = /^\/containers\/([^/]+)\/wait/.exec(path)?.[1];
            if (waited !== undefined) return { StatusCode: cmd.get(waited)!.some((c) => c.includes("fail")) ? 3 : 0 };
            if (/\/json$/.test(path)) return { State: { Status: "running", Health: { Status: "healthy" } } };
            return {};
        },
    };
    const engine = { docker: async () => ({ code: 0, stdout: "", stderr: "" }) };
    return { api: api as unknown as DockerApi, engine: engine as unknown as Engine, calls };
}

function res(kind: Kind, name: string, inputs: Record<string, unknown>, extra: Partial<DockerResource> = {}): DockerResource {
    const propertyDeps = extra.propertyDeps ?? {};
    return {
        kind,
        name,
        urn: `urn:${name}`,
        inputs,
        deleteBeforeReplace: undefined,
        ignoreChanges: [],
        replaceOnChanges: [],
        ...extra,
        deps: [...new Set([...(extra.deps ?? []), ...Object.values(propertyDeps).flat()])],
        propertyDeps,
    };
}

/** A release: the image, a one-shot migrate, the app whose label takes migrate's outcome, a cutover. */
function release(version: number, migrate = ["migrate"], migratePolicy: boolean | undefined = false): DockerResource[] {
    const image = { image: `sha256:v${version}` };
    return [
        res("image", "image", { imageName: `app:v${version}`, build: { context: "app", dockerfile: "app/Dockerfile" } }),
        res(
            "container",
            "migrate",
            { ...image, command: migrate, attach: true, mustRun: false, labels: [{ label: "v", value: String(version) }] },
            {
                propertyDeps: { image: ["image"] },
                deleteBeforeReplace: migratePolicy,
            },
        ),
        res(
            "container",
            "app",
            {
                ...image,
                labels: [
                    { label: "berth.version", value: String(version) },
                    { label: "ok", value: "migrate-1" },
                ],
            },
            {
                propertyDeps: { image: ["image"], labels: ["migrate"] },
                deps: ["migrate"],
                deleteBeforeReplace: false,
            },
        ),
        res(
            "command",
            "cutover",
            { create: "node cutover.js", triggers: [`app-v${version}`] },
            { replaceOnChanges: ["triggers[*]"], propertyDeps: { triggers: ["app"] } },
        ),
    ];
}

async function deployed(commands: { name: string; op: CommandOp }[] = []) {
    const fake = fakeApi();
    const applier = new Applier({
        api: fake.api,
        engine: fake.engine,
        dataDir: "/nonexistent",
        prefix: "t",
        runCommand: async (r, op) => void commands.push({ name: r.name, op }),
    });
    await applier.apply(planUpdate(applier.current(), release(1)));
    return { applier, ...fake };
}

const up = (applier: Applier, declared: DockerResource[]) => applier.apply(planUpdate(applier.current(), declared));
/** What the state holds, by name: live objects, and pending deletes marked. */
const stateOf = (applier: Applier) =>
    applier
        .current()
        .map(
            (d) =>
                `${d.resource.name}${d.pendingDelete ? " (pending delete)" : ""}: ${JSON.stringify(d.resource.inputs.command ?? d.resource.inputs.imageName ?? d.resource.inputs.triggers)}`,
        )
        .sort();

describe("the applier carries out the plan as `pulumi up` does", () => {
    it("creates named volumes, and on destroy deletes only those without retainOnDelete", async () => {
        const fake = fakeApi();
        const applier = new Applier({ api: fake.api, engine: fake.engine, dataDir: "/nonexistent", prefix: "t" });
        const volumes = [res("volume", "data", { labels: [] }, { retainOnDelete: true }), res("volume", "scratch", { labels: [] })];
        await up(applier, volumes);
        assert.deepEqual(fake.calls, ["POST /volumes/create", "POST /volumes/create"]);
        const scratch = applier.state.get("scratch")!.id;
        await up(applier, []);
        assert.deepEqual(fake.calls.slice(2), [`DELETE /volumes/${scratch}`], "the kept volume gets no delete");
        assert.deepEqual(
            applier.retained.map((d) => d.resource.name),
            ["data"],
        );
        assert.deepEqual(applier.current(), [], "both are gone from the state");
    });

    it("runs command resources through the hook: create, then a replacement's create", async () => {
        const commands: { name: string; op: CommandOp }[] = [];
        const { applier } = await deployed(commands);
        await up(applier, release(2));
        assert.deepEqual(commands, [
            { name: "cutover", op: "create" },
            { name: "cutover", op: "create" },
        ]);
    });

    it("without a hook a command step only changes the state, and says so", async () => {
        const fake = fakeApi();
        const applier = new Applier({ api: fake.api, engine: fake.engine, dataDir: "/nonexistent", prefix: "t" });
        await up(applier, release(1));
        assert.deepEqual(
            applier.events.filter((e) => e.name === "cutover").map((e) => e.what),
            ["skipped"],
        );
    });

    it("stops at the first failed step: no later create, and the old objects wait as pending deletes", async () => {
        const { applier, calls } = await deployed();
        const from = calls.length;
        await assert.rejects(up(applier, release(2, ["fail"])), /exited with code 3/);
        const after = calls.slice(from);
        assert.deepEqual(
            after.filter((c) => c.startsWith("POST /containers/create")),
            ["POST /containers/create"],
            "only the new migrate was created",
        );
        assert.ok(!after.some((c) => c.startsWith("DELETE")), "nothing deleted");
        assert.deepEqual(stateOf(applier), [
            "app: undefined",
            'cutover: ["app-v1"]',
            'image: "app:v2"',
            'migrate (pending delete): ["migrate"]',
            'migrate: ["fail"]',
        ]);

        // The next update replaces the failed step and deletes both old migrate objects at its end.
        const steps = planUpdate(applier.current(), release(2));
        assert.deepEqual(steps.map(showStep), [
            "same image",
            "replace-create migrate (cbd: command)",
            "replace-create app (cbd: image, labels)",
            "replace-create cutover (cbd: )",
            "delete cutover (replaced)",
            "delete app (replaced)",
            "delete migrate (pending)",
            "delete migrate (replaced)",
        ]);
        await applier.apply(steps);
        assert.deepEqual(stateOf(applier), ["app: undefined", 'cutover: ["app-v2"]', 'image: "app:v2"', 'migrate: ["migrate"]']);
    });

    it("a delete-first migrate that fails has already taken the app with it", async () => {
        const { applier } = await deployed();
        // Same program, but migrate replaced delete-first: the cascade deletes cutover and app first.
        await assert.rejects(up(applier, release(2, ["fail"], true)), /exited with code 3/);
        assert.deepEqual(stateOf(applier), ['image: "app:v2"', 'migrate: ["fail"]']);
        assert.deepEqual(
            applier.events.filter((e) => e.what === "removed").map((e) => e.name),
            ["app", "migrate"],
        );
    });
});
