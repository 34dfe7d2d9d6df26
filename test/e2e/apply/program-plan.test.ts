/**
 * The planner on what the program really declares (a mocks run): the second `pulumi up`, the
 * version bump, and the replacement policies that keep the running version serving.
 */
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { declare, declareLocal } from "../support/env";
import { canonicalGoDuration } from "./go-duration";
import { DockerResource, freshState, planUpdate, showStep, Step } from "./plan";

type Declared = DockerResource[];
const names = (steps: Step[], pred: (s: Step) => boolean) => steps.filter(pred).map(showStep);
/** The readiness gate: its environment and triggers hold the TLS material. */
const GATE = "docker-ready";

describe("the planner on the declared program", () => {
    let v1: Declared;
    let v2: Declared;
    before(async () => {
        // One after the other: the first run makes the TLS material (kept as the engine keeps it in its
        // state), the second finds it, as a second `pulumi up` does.
        v1 = (await declare({ appVersion: 1 })).resources;
        v2 = (await declare({ appVersion: 2 })).resources;
    });

    it("health check durations are written as the provider reads them back (Go's Duration.String())", () => {
        for (const r of v1.filter((x) => x.kind === "container" && x.inputs.healthcheck)) {
            const hc = r.inputs.healthcheck as Record<string, unknown>;
            for (const k of ["interval", "timeout", "startPeriod", "startInterval"]) {
                const duration = hc[k];
                if (duration === undefined) continue;
                assert.ok(typeof duration === "string", `${r.name} healthcheck.${k} is a duration text`);
                assert.equal(
                    duration,
                    canonicalGoDuration(duration),
                    `${r.name} healthcheck.${k} reads back differently: a perpetual diff`,
                );
            }
        }
    });

    it("a second `pulumi up` with nothing changed is a no-op: only same steps", () => {
        const steps = planUpdate(freshState(v1), v1);
        assert.deepEqual(
            names(steps, (s) => s.op !== "same"),
            [],
        );
        assert.equal(steps.length, v1.length);
    });

    it("v1 -> v2: migrate and the app are created beside the old ones, which are deleted at the end", () => {
        const steps = planUpdate(freshState(v1), v2);
        const show = steps.map(showStep);
        const at = (text: string) => {
            const i = show.indexOf(text);
            assert.ok(i >= 0, `no "${text}" in:\n${show.join("\n")}`);
            return i;
        };
        at("update berth-app-image (imageName)");
        const migrate = at("replace-create berth-migrate (cbd: envs, image)");
        const app = at("replace-create berth-app (cbd: envs, image, labels)");
        assert.ok(migrate < app);
        // A new dump step for the new version, before its migration.
        assert.ok(at("replace-create berth-dump (cbd: command, labels)") < migrate);
        // Nothing is deleted before every create and update has run; the app goes before migrate.
        const firstDelete = steps.findIndex((s) => s.op === "delete");
        assert.ok(
            steps.slice(firstDelete).every((s) => s.op === "delete"),
            show.join("\n"),
        );
        assert.ok(at("delete berth-app (replaced)") < at("delete berth-migrate (replaced)"));
        // MySQL, nginx, the networks and db-create stay as they are.
        for (const name of [
            "berth-mysql",
            "berth-nginx",
            "berth-net",
            "berth-front",
            "berth-db-create",
            "berth-mysql-image",
            "berth-nginx-image",
        ])
            at(`same ${name}`);
        assert.deepEqual(
            names(steps, (s) => s.op === "delete" && s.reason !== "replaced"),
            [],
        );
        assert.deepEqual(
            names(
                steps,
                (s) => s.op !== "same" && s.resource.name !== GATE && !/berth-(dump|migrate|app|app-image|cutover)$/.test(s.resource.name),
            ),
            [],
        );
        // The gate stays: the same material, the same instance.
        assert.ok(steps.filter((s) => s.resource.name === GATE).every((s) => s.op === "same"));
    });

    it("with migrate made delete-before-replace again, the app is deleted before the new migrate runs", () => {
        // The first wave's bug: the provider's default for a container is delete-before-replace, and the
        // app's labels take migrate's outputs, so the engine deletes the app first.
        for (const policy of [true, undefined]) {
            const mutate = (list: Declared) => list.map((r) => (r.name === "berth-migrate" ? { ...r, deleteBeforeReplace: policy } : r));
            const steps = planUpdate(freshState(mutate(v1)), mutate(v2));
            const show = steps.map(showStep);
            const deleteApp = show.indexOf("delete berth-app (dependent)");
            const createMigrate = show.findIndex((s) => s.startsWith("replace-create berth-migrate (dbr"));
            assert.ok(deleteApp >= 0 && createMigrate > deleteApp, `policy ${policy}:\n${show.join("\n")}`);
            assert.ok(show.indexOf("delete berth-migrate (replace)") > deleteApp);
        }
    });

    it("replacing MySQL or nginx (delete-first) cascades into nothing on the version path", async () => {
        const [mysql, nginx] = await Promise.all([
            declare({ appVersion: 1, mysqlImage: "mysql:8.4.9" }).then((d) => d.resources),
            declare({ appVersion: 1, nginxImage: "nginx:1.99" }).then((d) => d.resources),
        ]);
        const cascade = (after: Declared) => names(planUpdate(freshState(v1), after), (s) => s.op === "delete" && s.reason === "dependent");
        assert.deepEqual(cascade(mysql), []);
        // The cutover only takes nginx's id as a trigger: deleting it runs nothing (it has no delete command).
        assert.deepEqual(cascade(nginx), ["delete berth-cutover (dependent)"]);
    });

    it("destroy deletes the app before the front network the cutover joined it to", () => {
        const steps = planUpdate(freshState(v1), []).map(showStep);
        const at = (name: string) => steps.findIndex((x) => x.startsWith(`delete ${name} `));
        assert.ok(at("berth-app") >= 0 && at("berth-front") >= 0, steps.join("\n"));
        assert.ok(at("berth-app") < at("berth-front"), steps.join("\n"));
    });
});

describe("the planner on the declared program, target local", () => {
    let v1: Declared;
    let v2: Declared;
    before(async () => {
        [v1, v2] = await Promise.all([
            declareLocal({ appVersion: 1 }, "unix:///var/run/docker.sock").then((d) => d.resources),
            declareLocal({ appVersion: 2 }, "unix:///var/run/docker.sock").then((d) => d.resources),
        ]);
    });

    it("a second `pulumi up` with nothing changed is a no-op, volumes included", () => {
        assert.deepEqual(
            names(planUpdate(freshState(v1), v1), (s) => s.op !== "same"),
            [],
        );
    });

    it("v1 -> v2 leaves the volumes, mysql and nginx alone", () => {
        const steps = planUpdate(freshState(v1), v2);
        for (const name of ["berth-mysql-data", "berth-route-data", "berth-mysql", "berth-nginx"]) {
            assert.deepEqual(
                names(steps, (s) => s.resource.name === name),
                [`same ${name}`],
            );
        }
    });

    it("destroy deletes MySQL after its volume's users, and the volumes last", () => {
        const steps = planUpdate(freshState(v1), []).map(showStep);
        const at = (name: string) => steps.findIndex((x) => x.startsWith(`delete ${name} `));
        assert.ok(at("berth-mysql") < at("berth-mysql-data") && at("berth-nginx") < at("berth-route-data"), steps.join("\n"));
    });
});
