import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, byType, one, ProgramResult, RecordedResource, runProgram } from "../../support/program";

const APP_DIR = "test/fixtures/rails-app";
const CONTAINER = "docker:index/container:Container";
const v = (appVersion: number, extra: Record<string, unknown> = {}) => ({
    config: { ...BASE_CONFIG, appDir: APP_DIR, appVersion, ...extra },
});

function changedKeys(a: RecordedResource, b: RecordedResource): string[] {
    const keys = new Set([...Object.keys(a.inputs), ...Object.keys(b.inputs)]);
    return [...keys].filter((k) => JSON.stringify(a.inputs[k]) !== JSON.stringify(b.inputs[k])).sort();
}

describe("the deployment under mocks", () => {
    let v1: ProgramResult;
    let v2: ProgramResult;
    before(async () => {
        [v1, v2] = await Promise.all([runProgram(v(1)), runProgram(v(2))]);
        assert.equal(v1.error, undefined);
        assert.equal(v2.error, undefined);
    });

    it("orders mysql healthy, then create, then migrate, then the app, then the cutover; the image before migrate", () => {
        const mysql = one(v1, CONTAINER, "-mysql");
        const create = one(v1, CONTAINER, "-db-create");
        const migrate = one(v1, CONTAINER, "-migrate");
        const app = one(v1, CONTAINER, "-app");
        const nginx = one(v1, CONTAINER, "-nginx");
        const image = one(v1, "docker:index/image:Image");
        assert.equal(mysql.inputs.wait, true, "mysql is waited on until healthy");
        assert.ok(Array.isArray((mysql.inputs.healthcheck as { tests: string[] }).tests));
        assert.ok(create.dependencies.includes(mysql.urn));
        assert.ok(migrate.dependencies.includes(mysql.urn) && migrate.dependencies.includes(create.urn));
        assert.ok(migrate.dependencies.includes(image.urn), "the image is built before migrate");
        assert.ok(app.dependencies.includes(migrate.urn));
        // nginx is the same for every version: it waits for nothing of the app's.
        assert.ok(!nginx.dependencies.includes(app.urn));
        // destroy removes the app before the front network the cutover joined it to.
        assert.ok(app.dependencies.includes(one(v1, "docker:index/network:Network", "-front").urn));
        const cutover = one(v1, "command:local:Command", "-cutover");
        assert.ok(cutover.dependencies.includes(app.urn) && cutover.dependencies.includes(nginx.urn));
        for (const step of [create, migrate]) {
            assert.equal(step.inputs.attach, true, `${step.name} runs to completion`);
            assert.equal(step.inputs.mustRun, false);
        }
        assert.equal(app.inputs.wait, true);
        assert.equal(app.inputs.waitTimeout, 120);
    });

    it("states every container's replace policy: only mysql and nginx delete-before-replace", () => {
        // The provider's default for a container is delete-before-replace (pulumi-docker
        // provider/resources.go), which cascades into dependents: no container may rely on it.
        for (const c of byType(v1, CONTAINER)) assert.notEqual(c.deleteBeforeReplace, undefined, `${c.name} states its policy`);
        const dbr = byType(v1, CONTAINER)
            .filter((c) => c.deleteBeforeReplace)
            .map((c) => c.name)
            .sort();
        assert.deepEqual(dbr, ["berth-mysql", "berth-nginx"]);
        // Nothing on the version-bump path takes a delete-before-replace container's outputs.
        const dbrUrns = new Set(
            byType(v1, CONTAINER)
                .filter((c) => c.deleteBeforeReplace)
                .map((c) => c.urn),
        );
        for (const name of ["-db-create", "-migrate", "-app"]) {
            const c = one(v1, CONTAINER, name);
            const propertyDeps = Object.values(c.propertyDependencies ?? {}).flat();
            assert.ok(!propertyDeps.some((u) => dbrUrns.has(u)), `${c.name} takes no input from mysql or nginx`);
        }
        const app = one(v1, CONTAINER, "-app").inputs;
        assert.equal(app.restart, "unless-stopped");
        assert.equal(app.stopTimeout, 30);
        assert.equal(app.destroyGraceSeconds, 30, "the old version drains on delete too");
        for (const net of byType(v1, "docker:index/network:Network")) assert.equal(net.inputs.driver, "bridge");
        // The app joins the front network only through the cutover, once healthy.
        assert.deepEqual(app.networksAdvanced, [{ name: "berth-net-1234567", aliases: [] }]);
        assert.deepEqual(one(v1, CONTAINER, "-nginx").inputs.networksAdvanced, [{ name: "berth-front-1234567", aliases: [] }]);
        assert.equal(one(v1, CONTAINER, "-mysql").inputs.restart, "always");
        assert.ok(Number(one(v1, CONTAINER, "-mysql").inputs.stopTimeout) >= 60, "InnoDB gets time to shut down");
    });

    it("bumping appVersion changes the image, migrate and app, but not nginx, mysql or the network", () => {
        const pairs = (type: string) => byType(v1, type).map((a) => [a, byType(v2, type).find((b) => b.name === a.name)!] as const);
        const changed = new Map<string, string[]>();
        for (const type of [
            CONTAINER,
            "docker:index/image:Image",
            "docker:index/network:Network",
            "docker:index/remoteImage:RemoteImage",
        ]) {
            for (const [a, b] of pairs(type)) changed.set(a.name, changedKeys(a, b));
        }
        assert.deepEqual(changed.get("berth-app-image"), ["imageName"]);
        assert.ok(changed.get("berth-migrate")!.includes("image"));
        assert.ok(changed.get("berth-app")!.includes("image") && changed.get("berth-app")!.includes("envs"));
        for (const same of ["berth-nginx", "berth-mysql", "berth-net", "berth-front", "berth-mysql-image", "berth-nginx-image"]) {
            assert.deepEqual(changed.get(same), [], `${same} is untouched`);
        }
        // create runs on the first deployment only: whatever differs is ignored.
        const create = one(v2, CONTAINER, "-db-create");
        for (const k of changed.get("berth-db-create")!) assert.ok(create.ignoreChanges.includes(k), `db-create ignores ${k}`);
        assert.match(String(one(v2, "docker:index/image:Image").inputs.imageName), /^berth-dev-app:v2-[0-9a-f]{12}$/);
        assert.equal(v2.outputs.appVersion.value, 2);
    });

    it("a code change at the same version gives a new image, migrate and app", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-app-"));
        try {
            fs.cpSync(APP_DIR, dir, { recursive: true });
            const before = await runProgram(v(3, { appDir: dir }));
            fs.appendFileSync(path.join(dir, "Dockerfile"), "# changed\n");
            fs.writeFileSync(path.join(dir, ".dockerignore"), "ignored.txt\n");
            const after = await runProgram(v(3, { appDir: dir }));
            fs.writeFileSync(path.join(dir, "ignored.txt"), "not in the build context\n");
            const ignored = await runProgram(v(3, { appDir: dir }));
            const name = (r: ProgramResult) => one(r, "docker:index/image:Image").inputs.imageName;
            assert.notEqual(name(before), name(after));
            assert.equal(name(after), name(ignored), ".dockerignore'd files do not count");
            assert.notDeepEqual(one(before, CONTAINER, "-app").inputs.image, one(after, CONTAINER, "-app").inputs.image);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("keeps every password and key secret, in inputs and outputs", () => {
        for (const c of ["-mysql", "-db-create", "-migrate", "-app"]) {
            const r = one(v1, CONTAINER, c);
            assert.ok(r.secretInputs.includes("envs"), `${c} envs are secret`);
        }
        const app = one(v1, CONTAINER, "-app").inputs.envs as string[];
        const passwords = app.filter((e) => /^(MYSQL_PASSWORD|SECRET_KEY_BASE)=/.test(e)).map((e) => e.split("=")[1]);
        assert.equal(passwords.length, 2);
        assert.ok(passwords.every((p) => p.length >= 32));
        const mysqlEnv = one(v1, CONTAINER, "-mysql").inputs.envs as string[];
        assert.ok(mysqlEnv.some((e) => e.startsWith("MYSQL_ROOT_PASSWORD=") && e.length > 40));
        const plain = JSON.stringify(
            Object.values(v1.outputs)
                .filter((o) => !o.secret)
                .map((o) => o.value),
        );
        for (const p of passwords) assert.ok(!plain.includes(p), "no password in a plain output");
        assert.doesNotMatch(plain, /PRIVATE KEY/);
        for (const r of v1.resources.filter((x) => x.type !== CONTAINER)) {
            assert.ok(
                !JSON.stringify(r.inputs).includes(passwords[0]) || r.secretInputs.length > 0,
                `${r.name} holds a password in plain inputs`,
            );
        }
    });

    it("gives the app the contract's environment and publishes only nginx's port", () => {
        const env = Object.fromEntries(
            (one(v1, CONTAINER, "-app").inputs.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
        );
        assert.deepEqual(Object.keys(env).sort(), [
            "APP_VERSION",
            "MYSQL_DATABASE",
            "MYSQL_HOST",
            "MYSQL_PASSWORD",
            "MYSQL_PORT",
            "MYSQL_USER",
            "PORT",
            "SECRET_KEY_BASE",
        ]);
        assert.equal(env.MYSQL_HOST, "mysql");
        assert.equal(env.MYSQL_USER, "app");
        assert.equal(env.APP_VERSION, "1");
        for (const c of byType(v1, CONTAINER)) {
            if (c.name.endsWith("-nginx")) assert.deepEqual(c.inputs.ports, [{ internal: 80, external: 80 }]);
            else assert.equal(c.inputs.ports, undefined, `${c.name} publishes nothing`);
        }
        const upload = (one(v1, CONTAINER, "-nginx").inputs.uploads as { file: string; content: string }[])[0];
        assert.equal(upload.file, "/etc/nginx/conf.d/default.conf");
        assert.match(upload.content, /resolver 127\.0\.0\.11/);
        assert.match(upload.content, /server app-blue:3000 resolve;/);
    });

    it("prints ready-to-paste commands", () => {
        const name = v1.outputs.appContainer.value;
        assert.equal(v1.outputs.logsCommand.value, `docker --context berth-dev logs --follow ${name}`);
        assert.equal(v1.outputs.execCommand.value, `docker --context berth-dev exec -it ${name} <command>`);
        assert.match(String(v1.outputs.dockerContextCommand.value), /node scripts\/docker-context\.js berth-dev$/);
        assert.match(String(v1.outputs.url.value), /^http:\/\/ec2-.*\/$/);
    });
});

describe("failing steps", () => {
    it("a failing migration fails the deployment with its output, and no app container is declared", async () => {
        const r = await runProgram({ ...v(2), failingCommands: ["npm run db:migrate"] });
        assert.match(r.error ?? "", /migrate \(npm run db:migrate\) failed: container .* exited with code 1/);
        assert.match(r.error ?? "", /migration 0002 failed: Unknown column 'nope'/);
        assert.match(r.error ?? "", /pulumi up --replace '.*berth-migrate'/);
        assert.equal(byType(r, CONTAINER).filter((c) => c.name.endsWith("-app")).length, 0);
        assert.equal(byType(r, "command:local:Command").filter((c) => c.name.endsWith("-cutover")).length, 0, "no cutover");
    });

    it("a failing db:create stops before migrate's result is used", async () => {
        const r = await runProgram({ ...v(1), failingCommands: ["npm run db:create"] });
        assert.match(r.error ?? "", /db-create \(npm run db:create\) failed/);
        assert.equal(byType(r, CONTAINER).filter((c) => c.name.endsWith("-app")).length, 0);
    });
});

describe("the original Rails app, by config alone", () => {
    it("deploys with the README's settings", async () => {
        const r = await runProgram({
            config: {
                ...BASE_CONFIG,
                appDir: APP_DIR,
                mysqlImage: "mysql:5.7",
                mysqlDatabase: "devops_production",
                appPort: 9999,
                healthPath: "/",
                appCommand: ["bundle", "exec", "puma", "-p", "9999"],
                createCommand: ["bundle", "exec", "rake", "db:create"],
                migrateCommand: ["bundle", "exec", "rake", "db:migrate"],
                healthCheckCommand: "curl -fsS http://127.0.0.1:9999/ >/dev/null",
                appEnv: { RAILS_ENV: "production", RAILS_SERVE_STATIC_FILES: "1" },
            },
        });
        assert.equal(r.error, undefined);
        assert.equal(one(r, "docker:index/remoteImage:RemoteImage", "-mysql-image").inputs.name, "mysql:5.7");
        const app = one(r, CONTAINER, "-app").inputs;
        assert.deepEqual(app.command, ["bundle", "exec", "puma", "-p", "9999"]);
        assert.deepEqual((app.healthcheck as { tests: string[] }).tests, ["CMD-SHELL", "curl -fsS http://127.0.0.1:9999/ >/dev/null"]);
        assert.ok((app.envs as string[]).includes("RAILS_ENV=production"));
        assert.ok((app.envs as string[]).includes("MYSQL_DATABASE=devops_production"));
        assert.deepEqual(one(r, CONTAINER, "-migrate").inputs.command, ["bundle", "exec", "rake", "db:migrate"]);
        assert.match((one(r, CONTAINER, "-nginx").inputs.uploads as { content: string }[])[0].content, /server app-green:9999 resolve;/);
    });
});
