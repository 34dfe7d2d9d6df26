/**
 * The planner's engine rules on literal resources: each rule the step generator applies to Berth,
 * with the situation that makes it matter.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { DockerResource, freshState, Kind, outputsAfterUpdate, planUpdate, Prior, showStep, Step } from "./plan";

/** A resource; `propertyDeps` also count as dependencies, as the SDK sends them. */
function res(kind: Kind, name: string, inputs: Record<string, unknown>, extra: Partial<DockerResource> = {}): DockerResource {
    const propertyDeps = extra.propertyDeps ?? {};
    const deps = [...new Set([...(extra.deps ?? []), ...Object.values(propertyDeps).flat()])];
    return {
        kind,
        name,
        urn: `urn:pulumi:dev::berth::${kind}::${name}`,
        inputs,
        deleteBeforeReplace: undefined,
        ignoreChanges: [],
        replaceOnChanges: [],
        ...extra,
        deps,
        propertyDeps,
    };
}
const container = (name: string, inputs: Record<string, unknown>, extra: Partial<DockerResource> = {}) =>
    res("container", name, { image: "sha256:aaa", ...inputs }, extra);
const show = (steps: Step[]) => steps.map(showStep);
const plan = (before: DockerResource[], after: DockerResource[]) => show(planUpdate(freshState(before), after));

describe("the engine's steps for an update", () => {
    it("creates everything on the first deployment, each after what it depends on", () => {
        const net = res("network", "net", { driver: "bridge" });
        const db = container("db", { networksAdvanced: [{ name: "net-1234567" }] }, { propertyDeps: { networksAdvanced: ["net"] } });
        assert.deepEqual(show(planUpdate(undefined, [db, net])), ["create net", "create db"]);
    });

    it("re-planning what was just deployed gives only same steps", () => {
        const declared = [
            res("network", "net", { driver: "bridge" }),
            container("db", {
                healthcheck: { tests: ["CMD", "true"], interval: "5s", timeout: "5s", retries: 3, startPeriod: "2m0s" },
                ports: [{ internal: 80, external: 80 }],
                restart: "always",
                envs: ["A=1"],
            }),
            res("command", "gate", { create: "node wait.js", triggers: ["i-1"] }, { replaceOnChanges: ["triggers[*]"] }),
        ];
        assert.deepEqual(plan(declared, declared), ["same net", "same db", "same gate"]);
    });

    it("decides same, update or replace from the provider's diff of the new inputs against its state", () => {
        const before = [
            container("restart", { restart: "always" }),
            container("health", { healthcheck: { tests: ["CMD", "true"], interval: "5s" } }),
            container("image", {}),
            container("labels", { labels: [{ label: "v", value: "1" }] }),
            res("image", "build", { imageName: "app:v1", build: { context: "app" } }),
            res("remoteImage", "keep", { name: "mysql:8.4", keepLocally: false }),
            res("remoteImage", "pull", { name: "mysql:8.4" }),
            res("network", "net", { driver: "bridge" }),
        ];
        const after = [
            container("restart", { restart: "unless-stopped" }),
            container("health", { healthcheck: { tests: ["CMD", "true"], interval: "10s" } }),
            container("image", { image: "sha256:bbb" }),
            container("labels", { labels: [{ label: "v", value: "2" }] }),
            res("image", "build", { imageName: "app:v2", build: { context: "app" } }),
            res("remoteImage", "keep", { name: "mysql:8.4", keepLocally: true }),
            res("remoteImage", "pull", { name: "mysql:9.0" }),
            res("network", "net", { driver: "overlay" }),
        ];
        assert.deepEqual(plan(before, after), [
            "update restart (restart)",
            "update health (healthcheck)",
            "delete image (replace)",
            "replace-create image (dbr: image)",
            "delete labels (replace)",
            "replace-create labels (dbr: labels)",
            // pulumi-docker's own Image never asks for a replacement: a new tag is a rebuild in place.
            "update build (imageName)",
            "update keep (keepLocally)",
            "replace-create pull (cbd: name)",
            "replace-create net (cbd: driver)",
            "delete net (replaced)",
            "delete pull (replaced)",
        ]);
    });

    it("compares against what the provider read back: Go durations and never-read fields", () => {
        const given = (startPeriod: string) =>
            container("db", {
                healthcheck: { tests: ["CMD", "true"], startPeriod },
                envs: ["B=2", "A=1"],
                uploads: [{ file: "/f", content: "x" }],
            });
        // "120s" was written back as "2m0s": the next plan sees a change (an in-place update).
        assert.deepEqual(plan([given("120s")], [given("120s")]), ["update db (healthcheck)"]);
        assert.deepEqual(plan([given("2m0s")], [given("2m0s")]), ["same db"]);
        // The update keeps the program's text (the provider's Update does not read back): stable afterwards.
        const db = given("120s");
        const [fresh] = freshState([db]);
        assert.ok(fresh?.outputs, "a fresh state holds the container's outputs");
        const updated: Prior = { resource: db, outputs: outputsAfterUpdate("container", fresh.outputs, db.inputs) };
        assert.deepEqual(show(planUpdate([updated], [db])), ["same db"]);
    });

    it("a one-shot left with must_run true drifts: Read set it false after the container exited", () => {
        const oneShot = (mustRun?: boolean) => container("migrate", { attach: true, command: ["migrate"], mustRun });
        assert.deepEqual(plan([oneShot()], [oneShot()]), ["update migrate (mustRun)"]);
        assert.deepEqual(plan([oneShot(false)], [oneShot(false)]), ["same migrate"]);
    });

    it("create-before-delete: the new one is created in order, the old one deleted after everything else", () => {
        const before = [container("migrate", { command: ["v1"] }), container("app", { command: ["v1"] }, { deps: ["migrate"] })];
        const after = [
            container("migrate", { command: ["v2"] }, { deleteBeforeReplace: false }),
            container("app", { command: ["v2"] }, { deps: ["migrate"], deleteBeforeReplace: false }),
            container("web", {}),
        ];
        assert.deepEqual(plan(before, after), [
            "replace-create migrate (cbd: command)",
            "replace-create app (cbd: command)",
            "create web",
            // Reverse dependency order among the deletes: the app depended on migrate.
            "delete app (replaced)",
            "delete migrate (replaced)",
        ]);
    });

    it("containers the program leaves to the provider are replaced delete-first; networks create-first", () => {
        const before = [res("network", "net", { driver: "bridge" }), container("db", { command: ["a"] })];
        const after = [res("network", "net", { driver: "overlay" }), container("db", { command: ["b"] })];
        assert.deepEqual(plan(before, after), [
            "replace-create net (cbd: driver)",
            "delete db (replace)",
            "replace-create db (dbr: command)",
            "delete net (replaced)",
        ]);
        // A network the program names itself cannot exist twice.
        const named = (driver: string) => res("network", "net", { name: "fixed", driver });
        assert.deepEqual(plan([named("bridge")], [named("overlay")]), ["delete net (replace)", "replace-create net (dbr: driver)"]);
    });

    it("delete-before-replace first deletes the dependents it would replace, through property dependencies only", () => {
        const before = [
            container("db", { command: ["v1"] }),
            // labels take the db's output, and labels force replacement: replaced with it.
            container(
                "app",
                { labels: [{ label: "db", value: "db-1" }] },
                { propertyDeps: { labels: ["db"] }, deleteBeforeReplace: false },
            ),
            // Transitively: its image comes from the app.
            container("sidecar", { image: "app-1" }, { propertyDeps: { image: ["app"] }, deleteBeforeReplace: false }),
            // A dependsOn-only edge makes nothing unknown.
            container("after", {}, { deps: ["db"] }),
            // The health check is updated in place: no replacement.
            container("probe", { healthcheck: { tests: ["CMD", "db-1"] } }, { propertyDeps: { healthcheck: ["db"] } }),
            // An ignored property does not count.
            container(
                "ignoring",
                { labels: [{ label: "db", value: "db-1" }] },
                { propertyDeps: { labels: ["db"] }, ignoreChanges: ["labels"] },
            ),
        ];
        const after = before.map((r) => (r.name === "db" ? { ...r, inputs: { ...r.inputs, command: ["v2"] } } : r));
        assert.deepEqual(plan(before, after), [
            "delete sidecar (dependent)",
            "delete app (dependent)",
            "delete db (replace)",
            "replace-create db (dbr: command)",
            "replace-create app (dbr: labels)",
            "replace-create sidecar (dbr: image)",
            "same after",
            "same probe",
            "same ignoring",
        ]);
    });

    it("ignoreChanges keeps the old inputs' values, on whole properties and nested paths", () => {
        const before = [
            container("once", { command: ["create"], labels: [{ label: "v", value: "1" }] }),
            container("hc", { healthcheck: { tests: ["CMD", "true"], interval: "5s", timeout: "5s" } }),
        ];
        const after = [
            container(
                "once",
                { image: "sha256:new", command: ["create"], labels: [{ label: "v", value: "2" }] },
                { ignoreChanges: ["image", "labels"] },
            ),
            container(
                "hc",
                { healthcheck: { tests: ["CMD", "true"], interval: "9s", timeout: "5s" } },
                { ignoreChanges: ["healthcheck.interval"] },
            ),
        ];
        const steps = planUpdate(freshState(before), after);
        assert.deepEqual(show(steps), ["same once", "same hc"]);
        // What the state records is the old value: the next update compares against it again.
        assert.equal(steps[0]!.resource.inputs.image, "sha256:aaa");
        assert.deepEqual((steps[1]!.resource.inputs.healthcheck as { interval: string }).interval, "5s");
    });

    it("a command is updated when its command or environment changes, and replaced when a trigger does", () => {
        const gate = (create: string, triggers: string[], sdkOption = true) =>
            res("command", "gate", { create, triggers }, { replaceOnChanges: sdkOption ? ["triggers[*]"] : [] });
        assert.deepEqual(plan([gate("node a.js", ["i-1"])], [gate("node b.js", ["i-1"])]), ["update gate (create)"]);
        // The replacement comes from the detailed diff ("triggers[0]"), so it blames no key, as the CLI
        // shows it: "replace [diff: ]" (pulumi/pulumi-command#855).
        assert.deepEqual(plan([gate("node a.js", ["i-1"])], [gate("node a.js", ["i-2"])]), [
            "replace-create gate (cbd: )",
            "delete gate (replaced)",
        ]);
        // The provider's schema alone only catches a change of the whole list, not of one element.
        assert.deepEqual(plan([gate("node a.js", ["i-1"], false)], [gate("node a.js", ["i-2"], false)]), ["update gate (triggers)"]);
        const bare = res("command", "gate", { create: "node a.js" });
        assert.deepEqual(plan([bare], [gate("node a.js", ["i-1"], false)]), ["replace-create gate (cbd: )", "delete gate (replaced)"]);
    });

    it("deletes what is no longer declared, dependents first, and earlier pending deletes, at the end", () => {
        const net = res("network", "net", {});
        const web = container("web", {}, { propertyDeps: { networksAdvanced: ["net"] } });
        const app = container("app", { command: ["v1"] });
        const prior: Prior[] = [...freshState([net, web, app]), { resource: container("app", { command: ["v0"] }), pendingDelete: true }];
        // web before net; the pending app and net have no order between them (one antichain, run in parallel).
        assert.deepEqual(show(planUpdate(prior, [app])), [
            "same app",
            "delete web (removed)",
            "delete app (pending)",
            "delete net (removed)",
        ]);
    });

    it("an object left with init errors by a failed create gets an update even when nothing changed", () => {
        const app = container("app", { wait: true });
        assert.deepEqual(show(planUpdate([{ resource: app, initErrors: true }], [app])), ["update app ()"]);
    });
});

describe("replacementTrigger (pulumi/pulumi step_generator.go, shouldTriggerReplace)", () => {
    const net = (trigger: unknown) => res("network", "net", { driver: "bridge" }, { replacementTrigger: trigger });
    const db = (trigger: unknown) => container("db", {}, { replacementTrigger: trigger, deleteBeforeReplace: true });

    it("a changed trigger replaces the resource though its inputs are the same, create-first by default", () => {
        assert.deepEqual(plan([net("i-1")], [net("i-2")]), ["replace-create net (cbd: #trigger)", "delete net (replaced)"]);
    });

    it("the program's delete-before-replace holds for a triggered replacement", () => {
        assert.deepEqual(plan([db("i-1")], [db("i-2")]), ["delete db (replace)", "replace-create db (dbr: #trigger)"]);
    });

    it("the same trigger, or none on either side, replaces nothing: a stack made before the trigger is not rebuilt on upgrade", () => {
        assert.deepEqual(plan([net("i-1")], [net("i-1")]), ["same net"]);
        assert.deepEqual(plan([net(undefined)], [net("i-1")]), ["same net"]);
        assert.deepEqual(plan([net("i-1")], [net(undefined)]), ["same net"]);
    });
});
