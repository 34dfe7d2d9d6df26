// Rollback to a kept image and image pins (berth:appImage): the plan builds nothing, a rollback runs no
// migration, and under mocks the program declares a pulled/kept image in place of the build.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { KEPT_IMAGE, keptImageName, planDeployment, type PlanInput } from "../../../infra/deploy/plan";
import { BASE_CONFIG, byType, one, runProgram } from "../../support/program";

const INPUT: PlanInput = {
    platform: "linux/amd64",
    mysqlStorage: { hostPath: "/opt/data/mysql" },
    routeStorage: { hostPath: "/opt/data/berth/route" },
    dumpStorage: { hostPath: "/opt/data/berth/dumps" },
    publish: { port: 80 },
    stack: "Dev",
    appVersion: 3,
    appDir: "./app",
    appPort: 3000,
    healthPath: "/up",
    healthTimeout: 120,
    stopGraceSeconds: 30,
    migrateTimeout: 1800,
    keepImages: 3,
    createCommand: ["npm", "run", "db:create"],
    migrateCommand: ["npm", "run", "db:migrate"],
    appEnv: {},
    mysqlImage: "mysql:8.4",
    nginxImage: "nginx:1.30-alpine",
    mysqlUser: "app",
    mysqlDatabase: "app",
    maxBodySize: 1048576,
    clientTimeout: 15,
    connLimitPerClient: 100,
    rateLimitPerClient: 500,
    contextDigest: "0123456789abcdef0123456789abcdef",
};

describe("the plan with berth:appImage", () => {
    it("names the kept image of a version as the cutover tags it", () => {
        assert.equal(keptImageName("Dev", 3), "berth-dev-app:v3");
        // The cutover tags <BERTH_APP_IMAGE_REPO>:v<BERTH_APP_VERSION>: the same name.
        const c = planDeployment(INPUT).cutover.env;
        assert.equal(`${c.BERTH_APP_IMAGE_REPO}:v${c.BERTH_APP_VERSION}`, keptImageName("Dev", 3));
    });

    it('"kept": the kept image of appVersion, pinned, and a migrate step that runs no migration', () => {
        const plan = planDeployment({ ...INPUT, appImage: KEPT_IMAGE });
        assert.equal(plan.rollback, true);
        assert.deepEqual({ name: plan.image.name, pinned: plan.image.pinned }, { name: "berth-dev-app:v3", pinned: true });
        const m = plan.containers.migrate;
        assert.equal(m.image, "mysql", "not the app image: its migrator may refuse a schema ahead of it");
        assert.equal(m.env, "none", "no secret for a step that only reports");
        assert.equal(m.oneShot, true);
        assert.deepEqual(m.command?.slice(0, 2), ["bash", "-c"]);
        assert.match(m.command?.[2] ?? "", /^echo "rolling back to the kept image of v3: no migration runs/);
        // The dump is still taken first, and the app still runs the (pinned) app image.
        assert.equal(plan.containers.dump.image, "mysql");
        assert.equal(plan.containers.app.image, "app");
    });

    it("an image reference: pinned, no build, and the migration runs as usual", () => {
        const plan = planDeployment({ ...INPUT, appImage: "registry.example.com/shop:3.1" });
        assert.equal(plan.rollback, false);
        assert.deepEqual({ name: plan.image.name, pinned: plan.image.pinned }, { name: "registry.example.com/shop:3.1", pinned: true });
        assert.deepEqual(plan.containers.migrate.command, ["npm", "run", "db:migrate"]);
        assert.equal(plan.containers.migrate.image, "app");
    });

    it("unset: built from appDir as before", () => {
        const plan = planDeployment(INPUT);
        assert.equal(plan.image.pinned, false);
        assert.equal(plan.image.name, "berth-dev-app:v3-0123456789ab");
    });
});

describe("the program with berth:appImage, under mocks", () => {
    it('"kept" declares the kept image (kept on the engine afterwards) and no build; every app container runs it', async () => {
        const r = await runProgram({ config: { ...BASE_CONFIG, appVersion: 3, appImage: "kept" } });
        assert.equal(r.error, undefined, r.error);
        assert.deepEqual(byType(r, "docker:index/image:Image"), [], "nothing is built");
        const kept = one(r, "docker:index/remoteImage:RemoteImage", "-app-pinned-image");
        assert.equal(kept.inputs.name, "berth-dev-app:v3");
        assert.equal(kept.inputs.keepLocally, true);
        const app = one(r, "docker:index/container:Container", "berth-app");
        assert.ok((app.propertyDependencies.image ?? []).includes(kept.urn), "the app container's image comes from the kept image");
    });

    it("unset: the image is built, as before", async () => {
        const r = await runProgram({ config: { ...BASE_CONFIG, appVersion: 3 } });
        assert.equal(byType(r, "docker:index/image:Image").length, 1);
        assert.deepEqual(
            byType(r, "docker:index/remoteImage:RemoteImage").filter((x) => x.name.includes("app")),
            [],
        );
    });

    it("refuses a malformed image reference, naming the key", async () => {
        const r = await runProgram({ config: { ...BASE_CONFIG, appVersion: 3, appImage: "Not An Image" } });
        assert.match(r.error ?? "", /berth:appImage must be an image reference/);
        assert.deepEqual(r.resources, []);
    });
});
