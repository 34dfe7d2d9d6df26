import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, byType, leaves, one, output, ProgramResult, RecordedResource, runProgram } from "../../support/program";

const APP_DIR = "test/fixtures/rails-app";
const CONTAINER = "docker:index/container:Container";
const v = (appVersion: number, extra: Record<string, unknown> = {}) => ({
    config: { ...BASE_CONFIG, appDir: APP_DIR, appVersion, ...extra },
});

/** The file the nginx container is given: its one upload. */
function nginxUpload(r: ProgramResult): { file: string; content: string } {
    const [upload] = one(r, CONTAINER, "-nginx").inputs.uploads as { file: string; content: string }[];
    if (!upload) throw new Error("the nginx container has no upload");
    return upload;
}

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

    it("dumps the database before every migration: migrate waits for the dump and takes its outcome", () => {
        for (const r of [v1, v2]) {
            const dump = one(r, CONTAINER, "-dump");
            const migrate = one(r, CONTAINER, "-migrate");
            const image = one(r, "docker:index/image:Image");
            assert.ok(dump.dependencies.includes(one(r, CONTAINER, "-mysql").urn));
            assert.ok(dump.dependencies.includes(one(r, CONTAINER, "-db-create").urn), "the database exists first");
            assert.ok(migrate.dependencies.includes(dump.urn), "migrate runs after the dump");
            // A failed dump fails migrate's inputs, so migrate never starts (as the app never starts after a failed migrate).
            assert.ok(
                Object.values(migrate.propertyDependencies).some((urns) => urns.includes(dump.urn)),
                "migrate takes the dump's outcome",
            );
            // New with every app image, as migrate is: a deploy that migrates has dumped first.
            assert.ok(dump.propertyDependencies.labels?.includes(image.urn), "the dump step is new with every app image");
            assert.equal(dump.inputs.attach, true);
            assert.ok(dump.secretInputs.includes("envs"), "the MySQL passwords it reads stay secret");
            const script = (dump.inputs.command as string[]).join(" ");
            assert.doesNotMatch(script, /\s-p\S/, "no password on the client's command line");
        }
        const changed = changedKeys(one(v1, CONTAINER, "-dump"), one(v2, CONTAINER, "-dump"));
        assert.ok(changed.includes("labels") && changed.includes("command"), `a new dump step for v2: ${changed.join(", ")}`);
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
        assert.equal(output(v2, "appVersion").value, 2);
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
        const passwords = app.filter((e) => /^(MYSQL_PASSWORD|SECRET_KEY_BASE)=/.test(e)).map((e) => e.split("=")[1] ?? "");
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
                !JSON.stringify(r.inputs).includes(passwords[0]!) || r.secretInputs.length > 0,
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
            "MAX_BODY_SIZE",
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
        assert.equal(env.MAX_BODY_SIZE, "1048576", "berth:maxBodySize's default, 1m, in bytes: nginx's limit too");
        for (const c of byType(v1, CONTAINER)) {
            if (c.name.endsWith("-nginx")) assert.deepEqual(c.inputs.ports, [{ internal: 80, external: 80 }]);
            else assert.equal(c.inputs.ports, undefined, `${c.name} publishes nothing`);
        }
        const upload = nginxUpload(v1);
        assert.equal(upload.file, "/etc/nginx/conf.d/default.conf");
        assert.match(upload.content, /resolver 127\.0\.0\.11/);
        assert.match(upload.content, /server app-blue:3000 resolve;/);
    });

    it("prints ready-to-paste commands", () => {
        const name = String(output(v1, "appContainer").value);
        // Both ways: the engine's copy, then (after a shell comment, so `eval` runs the first) CloudWatch Logs.
        assert.equal(
            output(v1, "logsCommand").value,
            `docker --context berth-dev logs --follow ${name}  # or, from CloudWatch Logs: ${String(output(v1, "cloudWatchLogsCommand").value)}`,
        );
        assert.equal(output(v1, "execCommand").value, `docker --context berth-dev exec -it ${name} <command>`);
        assert.match(String(output(v1, "dockerContextCommand").value), /node scripts\/docker-context\.js berth-dev$/);
        assert.match(String(output(v1, "url").value), /^http:\/\/ec2-.*\/$/);
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

    it("a failing dump stops the deploy before the migration: no migrate, no app", async () => {
        const planned = await runProgram(v(2));
        const dumpCommand = (one(planned, CONTAINER, "-dump").inputs.command as string[]).join(" ");
        const r = await runProgram({ ...v(2), failingCommands: [dumpCommand] });
        assert.match(r.error ?? "", /dump \(mysqldump of the app's database\) failed: container .* exited with code 1/);
        assert.equal(byType(r, CONTAINER).filter((c) => c.name.endsWith("-migrate")).length, 0, "no migrate");
        assert.equal(byType(r, CONTAINER).filter((c) => c.name.endsWith("-app")).length, 0, "no app");
    });

    it("a failing db:create stops before migrate's result is used", async () => {
        const r = await runProgram({ ...v(1), failingCommands: ["npm run db:create"] });
        assert.match(r.error ?? "", /db-create \(npm run db:create\) failed/);
        assert.equal(byType(r, CONTAINER).filter((c) => c.name.endsWith("-app")).length, 0);
    });
});

describe("the original Rails app, by config alone", () => {
    it("gives nginx and the app the same body limit, and nginx the client limits, from the config", async () => {
        const r = await runProgram(v(1, { maxBodySize: "512k", clientTimeout: 25, connLimitPerClient: 0, rateLimitPerClient: 40 }));
        assert.equal(r.error, undefined);
        assert.ok((one(r, CONTAINER, "-app").inputs.envs as string[]).includes("MAX_BODY_SIZE=524288"));
        const conf = nginxUpload(r).content;
        assert.match(conf, /^ {4}client_max_body_size 512k;$/m);
        assert.match(conf, /^ {4}client_body_timeout 25s;$/m);
        assert.doesNotMatch(conf, /^\s*limit_conn/m);
        assert.match(conf, /^limit_req_zone \$binary_remote_addr zone=berth_req:10m rate=40r\/s;$/m);
    });

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
        assert.match(nginxUpload(r).content, /server app-green:9999 resolve;/);
    });
});

describe("a setting stored with pulumi config set --secret stays secret wherever it goes", () => {
    // One value per key, recognisable wherever it lands; each key is stored as a secret on its own run.
    const SECRET_SETTINGS: Record<string, { stored: string; needle: RegExp }> = {
        appCommand: { stored: "node s3cr3t-app.js", needle: /s3cr3t-app/ },
        createCommand: { stored: '["node", "s3cr3t-create.js"]', needle: /s3cr3t-create/ },
        migrateCommand: { stored: "node s3cr3t-migrate.js", needle: /s3cr3t-migrate/ },
        healthCheckCommand: { stored: "curl -fsS http://127.0.0.1:3000/s3cr3t-probe", needle: /s3cr3t-probe/ },
        appEnv: { stored: '{"API_KEY": "s3cr3t-api-key"}', needle: /s3cr3t-api-key/ },
        mysqlUser: { stored: "s3cr3t_user", needle: /s3cr3t_user/ },
        mysqlDatabase: { stored: "s3cr3t_db", needle: /s3cr3t_db/ },
        healthPath: { stored: "/s3cr3t-health", needle: /s3cr3t-health/ },
        appPort: { stored: "3917", needle: /(^|[^0-9a-f])3917([^0-9a-f]|$)/ },
        stopGraceSeconds: { stored: "2917", needle: /(^|[^0-9a-f])2917([^0-9a-f]|$)/ },
    };
    const LOCAL = { appVersion: 1, target: "local", appDir: APP_DIR };
    const holds = (v: unknown, needle: RegExp) => leaves(v).some((l) => needle.test(l));

    const runs: Record<string, ProgramResult> = {};
    let plain: ProgramResult;
    before(async () => {
        const keys = Object.keys(SECRET_SETTINGS);
        const results = await Promise.all(
            keys.map((k) => runProgram({ config: LOCAL, secretConfig: { [k]: SECRET_SETTINGS[k]!.stored } })),
        );
        keys.forEach((k, i) => (runs[k] = results[i]!));
        plain = await runProgram({
            config: { ...LOCAL, ...Object.fromEntries(Object.entries(SECRET_SETTINGS).map(([k, s]) => [k, s.stored])) },
        });
    });

    for (const key of Object.keys(SECRET_SETTINGS)) {
        it(`${key}: every input holding it is a secret, and no plain output holds it`, () => {
            const r = runs[key]!;
            const { needle } = SECRET_SETTINGS[key]!;
            assert.equal(r.error, undefined);
            let reached = 0;
            for (const res of r.resources) {
                for (const [input, value] of Object.entries(res.inputs)) {
                    if (!holds(value, needle)) continue;
                    reached++;
                    assert.ok(res.secretInputs.includes(input), `${res.name}.${input} holds berth:${key} in plain text`);
                }
            }
            assert.ok(reached > 0, `berth:${key} reaches some input`);
            for (const [name, o] of Object.entries(r.outputs)) assert.ok(o.secret || !holds(o.value, needle), `output ${name}`);
        });
    }

    it("stored in plain text, the same values reach inputs that are not secrets (the check above can fail)", () => {
        assert.equal(plain.error, undefined);
        const app = one(plain, CONTAINER, "-app");
        assert.ok(holds(app.inputs.command, /s3cr3t-app/) && !app.secretInputs.includes("command"));
        assert.ok(holds(app.inputs.healthcheck, /s3cr3t-probe/) && !app.secretInputs.includes("healthcheck"));
    });

    it("a failing step whose command is a secret is named by its key, and its command is not shown", async () => {
        for (const [key, step] of [
            ["migrateCommand", "migrate"],
            ["createCommand", "db-create"],
        ] as const) {
            const stored = SECRET_SETTINGS[key]!.stored;
            const command = stored.startsWith("[") ? (JSON.parse(stored) as string[]) : ["sh", "-c", stored];
            const r = await runProgram({ config: LOCAL, secretConfig: { [key]: stored }, failingCommands: [command.join(" ")] });
            assert.match(r.error ?? "", new RegExp(`${step} \\(berth:${key}, not shown: it is stored as a secret\\) failed: container `));
            assert.doesNotMatch(r.error ?? "", SECRET_SETTINGS[key]!.needle);
        }
    });
});
