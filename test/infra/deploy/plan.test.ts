// The deploy plan from literal config: what each container is, how it is replaced, and the cutover.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import {
    dumpScript,
    KEEP_DUMPS,
    planDeployment,
    PlanInput,
    ROUTE_MARKER,
    SECRET_SETTING_INPUTS,
    SLOTS,
    type TargetSettings,
} from "../../../infra/deploy/plan";
import { SECRET_CAPABLE_KEYS } from "../../../infra/config/parse";
import { renderNginxConfig } from "../../../infra/deploy/nginx";
import { appEnvironment, maskWords, stepFailure } from "../../../infra/deploy/spec";
import { one, parseNginx } from "../../support/nginx/parse";
import { leaves } from "../../support/program";

/** Target aws's settings (infra/targets/aws.ts) for an arm64 instance. */
const AWS: TargetSettings = {
    platform: "linux/arm64",
    mysqlStorage: { hostPath: "/opt/data/mysql" },
    routeStorage: { hostPath: "/opt/data/berth/route" },
    dumpStorage: { hostPath: "/opt/data/berth/dumps" },
    publish: { port: 80 },
};

const INPUT: PlanInput = {
    ...AWS,
    stack: "Dev",
    appVersion: 7,
    appDir: "./app",
    appPort: 3000,
    healthPath: "/up",
    healthTimeout: 120,
    stopGraceSeconds: 30,
    migrateTimeout: 1800,
    keepImages: 3,
    createCommand: ["npm", "run", "db:create"],
    migrateCommand: ["npm", "run", "db:migrate"],
    appEnv: { RAILS_ENV: "production" },
    mysqlImage: "mysql:8.4",
    nginxImage: "nginx:1.30.0-alpine",
    mysqlUser: "app",
    mysqlDatabase: "app",
    maxBodySize: 65536,
    clientTimeout: 20,
    connLimitPerClient: 80,
    rateLimitPerClient: 400,
    contextDigest: "0123456789abcdef0123456789abcdef",
};

const NODE_PROBE = `fetch("http://127.0.0.1:3000/up").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`;

describe("planDeployment", () => {
    const plan = planDeployment(INPUT);

    it("builds the app image for the host's CPU, tagged with the version and the code's digest", () => {
        assert.deepEqual(plan.image, {
            name: "berth-dev-app:v7-0123456789ab",
            context: "./app",
            dockerfile: "./app/Dockerfile",
            platform: "linux/arm64",
            pinned: false,
        });
        assert.equal(plan.rollback, false);
    });

    it("runs MySQL on the data volume, health-checked, replaced delete-first", () => {
        assert.deepEqual(plan.containers.mysql, {
            image: "mysql",
            env: "mysql",
            networks: [{ network: "backend", aliases: ["mysql"] }],
            healthcheck: {
                tests: ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 -P 3306 --silent"],
                interval: "5s",
                timeout: "5s",
                retries: 10,
                startPeriod: "2m0s",
            },
            waitSeconds: 300,
            oneShot: false,
            restart: "always",
            stopTimeout: 120,
            destroyGraceSeconds: 120,
            volumes: [{ hostPath: "/opt/data/mysql", containerPath: "/var/lib/mysql" }],
            ports: [],
            labels: {},
            uploads: [],
            createTimeoutSeconds: 600,
            ignoreChanges: [],
            replace: { deleteBeforeReplace: true, why: "two MySQL servers must never open the same data directory" },
        });
    });

    it("runs create once and migrate per version as one-shots replaced create-first, within migrateTimeout", () => {
        const oneShotWhy = "a finished one-shot holds nothing: the new one runs beside it, so no replacement cascades into the app";
        assert.deepEqual(plan.containers.migrate, {
            image: "app",
            command: ["npm", "run", "db:migrate"],
            env: "app",
            networks: [{ network: "backend", aliases: [] }],
            oneShot: true,
            restart: "no",
            volumes: [],
            ports: [],
            labels: { "berth.step": "migrate" },
            uploads: [],
            cpuShares: 256,
            createTimeoutSeconds: 2100,
            ignoreChanges: [],
            replace: { deleteBeforeReplace: false, why: oneShotWhy },
        });
        assert.deepEqual(plan.containers.dbCreate, {
            ...plan.containers.migrate,
            command: ["npm", "run", "db:create"],
            labels: { "berth.step": "db-create" },
            ignoreChanges: ["image", "envs", "command", "networksAdvanced", "labels"],
        });
    });

    it("starts the app beside the old one on the backend only, waited healthy, drained on delete", () => {
        assert.deepEqual(plan.containers.app, {
            image: "app",
            command: undefined,
            env: "app",
            networks: [{ network: "backend", aliases: [] }],
            healthcheck: { tests: ["CMD", "node", "-e", NODE_PROBE], interval: "5s", timeout: "4s", retries: 3, startPeriod: "30s" },
            waitSeconds: 120,
            oneShot: false,
            restart: "unless-stopped",
            stopSignal: "SIGTERM",
            stopTimeout: 30,
            destroyGraceSeconds: 30,
            volumes: [],
            ports: [],
            labels: { "berth.version": "7" },
            uploads: [],
            cpuShares: 256,
            createTimeoutSeconds: 420,
            ignoreChanges: ["cpuShares"],
            replace: {
                deleteBeforeReplace: false,
                why: "the new version starts beside the old one, which serves until the cutover and is deleted at the end of the update",
            },
        });
    });

    it("runs nginx on the front network only, publishing 80, with the route marker on the data volume", () => {
        const { uploads, ...rest } = plan.containers.nginx;
        assert.deepEqual(rest, {
            image: "nginx",
            env: "none",
            networks: [{ network: "front", aliases: [] }],
            oneShot: false,
            restart: "always",
            stopTimeout: 30,
            destroyGraceSeconds: 30,
            volumes: [{ hostPath: "/opt/data/berth/route", containerPath: "/etc/nginx/berth-route" }],
            ports: [{ internal: 80, external: 80 }],
            labels: {},
            createTimeoutSeconds: 1200,
            ignoreChanges: [],
            replace: { deleteBeforeReplace: true, why: "one host port 80: the new nginx can only bind it once the old one is gone" },
        });
        assert.deepEqual(uploads, [
            {
                file: "/etc/nginx/conf.d/default.conf",
                content: renderNginxConfig({
                    slots: SLOTS,
                    appPort: 3000,
                    routeDir: "/etc/nginx/berth-route",
                    probePort: 8081,
                    clientMaxBodySize: "64k",
                    clientTimeout: "20s",
                    connLimitPerClient: 80,
                    rateLimitPerClient: 400,
                }),
            },
        ]);
        assert.equal(ROUTE_MARKER, "/etc/nginx/berth-route/live-app-green");
    });

    it("hands the cutover its settings", () => {
        assert.deepEqual(plan.cutover, {
            script: "scripts/cutover.js",
            env: {
                BERTH_SLOTS: "app-blue,app-green",
                BERTH_APP_PORT: "3000",
                BERTH_HEALTH_PATH: "/up",
                BERTH_ROUTE_DIR: "/etc/nginx/berth-route",
                BERTH_PROBE_PORT: "8081",
                BERTH_CUTOVER_TIMEOUT: "120",
                BERTH_DRAIN_SECONDS: "2",
                BERTH_SERVING_CPU_SHARES: "1024",
                BERTH_APP_IMAGE_REPO: "berth-dev-app",
                BERTH_APP_VERSION: "7",
                BERTH_KEEP_APP_IMAGES: "3",
                BERTH_BUILD_CACHE_KEEP_BYTES: String(1024 ** 3),
            },
        });
        assert.deepEqual(plan.appEnvNames, [
            "APP_VERSION",
            "MAX_BODY_SIZE",
            "MYSQL_DATABASE",
            "MYSQL_HOST",
            "MYSQL_PASSWORD",
            "MYSQL_PORT",
            "MYSQL_USER",
            "PORT",
            "RAILS_ENV",
            "SECRET_KEY_BASE",
        ]);
    });

    it("follows the config: a shell app command, a custom health check, another port and path", () => {
        const p = planDeployment({
            ...INPUT,
            platform: "linux/amd64",
            appPort: 9999,
            healthPath: "/",
            appCommand: ["sh", "-c", "bundle exec puma -p 9999"],
            healthCheckCommand: "curl -fsS http://127.0.0.1:9999/ >/dev/null",
            healthTimeout: 600,
            migrateTimeout: 7200,
        });
        assert.equal(p.image.platform, "linux/amd64");
        assert.deepEqual(p.containers.app.command, ["sh", "-c", "bundle exec puma -p 9999"]);
        assert.deepEqual(p.containers.app.healthcheck?.tests, ["CMD-SHELL", "curl -fsS http://127.0.0.1:9999/ >/dev/null"]);
        assert.equal(p.containers.app.createTimeoutSeconds, 900);
        assert.equal(p.containers.migrate.createTimeoutSeconds, 7500);
        assert.equal(p.cutover.env.BERTH_APP_PORT, "9999");
        assert.equal(p.cutover.env.BERTH_HEALTH_PATH, "/");
        assert.match(p.containers.nginx.uploads[0]?.content ?? "", /server app-blue:9999 resolve;/);
    });

    it("gives nginx and the app the same body limit in bytes, so nginx never passes on a body the app refuses", () => {
        for (const maxBodySize of [1024, 65536, 1000, 1024 ** 2, 3 * 1024 ** 2 + 1, 1024 ** 3]) {
            const p = planDeployment({ ...INPUT, maxBodySize });
            const server = parseNginx(p.containers.nginx.uploads[0]?.content ?? "").find((d) => d.name === "server")?.block ?? [];
            const [nginxLimit] = one(server, "client_max_body_size").args;
            const units: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
            const m = /^(\d+)([kmg]?)$/.exec(nginxLimit ?? "");
            assert.ok(m, `client_max_body_size ${nginxLimit}`);
            assert.equal(Number(m[1]) * (units[m[2] ?? ""] ?? 1), maxBodySize, `nginx's ${nginxLimit}`);
            const env = appEnvironment({ ...INPUT, maxBodySize, mysqlPassword: "", secretKeyBase: "" });
            assert.ok(env.includes(`MAX_BODY_SIZE=${maxBodySize}`), env.join(" "));
        }
    });

    it("creates no Docker volume: the host keeps the files on its data volume", () => {
        assert.deepEqual(plan.volumes, []);
    });

    it("is deterministic", () => {
        assert.deepEqual(planDeployment(INPUT), planDeployment({ ...INPUT }));
    });
});

describe("planDeployment for target local", () => {
    /** Target local's settings (infra/targets/local.ts) on an x64 machine, localPort 8080, localKeepData true. */
    const LOCAL: TargetSettings = {
        platform: "linux/amd64",
        mysqlStorage: { volume: { keep: true } },
        routeStorage: { volume: { keep: false } },
        dumpStorage: { volume: { keep: true } },
        publish: { port: 8080, ip: "127.0.0.1" },
    };
    const aws = planDeployment(INPUT);
    const local = planDeployment({ ...INPUT, ...LOCAL });

    it("builds the image for this machine's CPU", () => {
        assert.deepEqual(local.image, { ...aws.image, platform: "linux/amd64" });
    });

    it("keeps MySQL's data, the route marker and the dumps in named volumes, the data and dumps kept on destroy", () => {
        assert.deepEqual(local.volumes, [
            { role: "mysql", keep: true, labels: { "berth.stack": "Dev", "berth.volume": "mysql" } },
            { role: "route", keep: false, labels: { "berth.stack": "Dev", "berth.volume": "route" } },
            { role: "dumps", keep: true, labels: { "berth.stack": "Dev", "berth.volume": "dumps" } },
        ]);
        assert.deepEqual(local.containers.dump.volumes, [{ volume: "dumps", containerPath: "/dumps" }]);
        assert.deepEqual(aws.containers.dump.volumes, [{ hostPath: "/opt/data/berth/dumps", containerPath: "/dumps" }]);
        assert.deepEqual(local.containers.mysql, {
            ...aws.containers.mysql,
            volumes: [{ volume: "mysql", containerPath: "/var/lib/mysql" }],
        });
        assert.deepEqual(planDeployment({ ...INPUT, ...LOCAL, mysqlStorage: { volume: { keep: false } } }).volumes[0], {
            role: "mysql",
            keep: false,
            labels: { "berth.stack": "Dev", "berth.volume": "mysql" },
        });
    });

    it("publishes nginx on localPort of 127.0.0.1 only, with the same config", () => {
        assert.deepEqual(local.containers.nginx, {
            ...aws.containers.nginx,
            volumes: [{ volume: "route", containerPath: "/etc/nginx/berth-route" }],
            ports: [{ internal: 80, external: 8080, ip: "127.0.0.1" }],
            replace: { deleteBeforeReplace: true, why: "one host port 8080: the new nginx can only bind it once the old one is gone" },
        });
        assert.deepEqual(planDeployment({ ...INPUT, ...LOCAL, publish: { port: 9090, ip: "127.0.0.1" } }).containers.nginx.ports, [
            { internal: 80, external: 9090, ip: "127.0.0.1" },
        ]);
    });

    it("changes nothing else: the one-shots, the app and the cutover are the same as on aws", () => {
        assert.deepEqual(local.containers.dbCreate, aws.containers.dbCreate);
        assert.deepEqual(local.containers.migrate, aws.containers.migrate);
        assert.deepEqual(local.containers.app, aws.containers.app);
        assert.deepEqual(local.cutover, aws.cutover);
        assert.deepEqual(local.appEnvNames, aws.appEnvNames);
    });
});

describe("settings stored as secrets", () => {
    // A value per setting that may be a secret, recognisable wherever the plan puts it.
    const VALUES: Record<(typeof SECRET_CAPABLE_KEYS)[number], { value: unknown; needle: RegExp }> = {
        appPort: { value: 3917, needle: /(^|[^0-9])3917([^0-9]|$)/ },
        healthPath: { value: "/s3cr3t-health", needle: /s3cr3t-health/ },
        stopGraceSeconds: { value: 2917, needle: /(^|[^0-9])2917([^0-9]|$)/ },
        appCommand: { value: ["node", "s3cr3t-app.js"], needle: /s3cr3t-app/ },
        createCommand: { value: ["node", "s3cr3t-create.js"], needle: /s3cr3t-create/ },
        migrateCommand: { value: ["sh", "-c", "node s3cr3t-migrate.js"], needle: /s3cr3t-migrate/ },
        healthCheckCommand: { value: "curl -fsS http://127.0.0.1:3000/s3cr3t-probe", needle: /s3cr3t-probe/ },
        appEnv: { value: { API_KEY: "s3cr3t-api-key" }, needle: /s3cr3t-api-key/ },
        mysqlUser: { value: "s3cr3t_user", needle: /s3cr3t_user/ },
        mysqlDatabase: { value: "s3cr3t_db", needle: /s3cr3t_db/ },
    };

    for (const key of SECRET_CAPABLE_KEYS) {
        it(`lists every plan field that holds ${key}, so the component makes it a secret`, () => {
            const { value, needle } = VALUES[key];
            const plan = planDeployment({ ...INPUT, [key]: value });
            const found: string[] = [];
            for (const [role, c] of Object.entries(plan.containers)) {
                for (const [field, v] of Object.entries(c)) {
                    if (!leaves(v).some((l) => needle.test(l))) continue;
                    found.push(`${role}.${field}`);
                    const listed = SECRET_SETTING_INPUTS.containers[role as keyof typeof plan.containers][field as "command"];
                    assert.ok(listed?.includes(key), `containers.${role}.${field} holds ${key} but is not listed`);
                }
            }
            if (leaves(plan.cutover.env).some((l) => needle.test(l))) {
                found.push("cutover.env");
                assert.ok(SECRET_SETTING_INPUTS.cutoverEnv.includes(key), `cutover.env holds ${key} but is not listed`);
            }
            for (const part of [plan.image, plan.volumes, plan.appEnvNames]) {
                assert.ok(!leaves(part).some((l) => needle.test(l)), `${key} reaches a part of the plan no secret input covers`);
            }
            // What the plan does not show lands in the environment only, which is always a secret.
            if (found.length === 0) assert.ok(["appEnv", "mysqlUser", "mysqlDatabase"].includes(key), key);
        });
    }

    it("masks a secret command's words in a failing step's output", () => {
        const logs = "sh: 1: s3cr3t-tool: not found\nrunning s3cr3t-tool --token tok-123 failed\n";
        const masked = maskWords(logs, ["sh", "-c", "s3cr3t-tool --token tok-123"]);
        assert.doesNotMatch(masked, /s3cr3t|tok-123/);
        assert.match(masked, /^sh: 1: \*\*\*: not found\n/, "the shell's own words stay");
        const message = stepFailure("migrate (berth:migrateCommand, not shown: it is stored as a secret)", {
            container: "c",
            exitCode: 127,
            logs: masked,
            urn: "urn",
        });
        assert.doesNotMatch(message, /s3cr3t|tok-123/);
    });
});

describe("the dump before every migration", () => {
    const plan = planDeployment(INPUT);
    it("runs in the MySQL image with MySQL's environment, on the backend network, as a one-shot", () => {
        const d = plan.containers.dump;
        assert.equal(d.image, "mysql");
        assert.equal(d.env, "mysql");
        assert.equal(d.oneShot, true);
        assert.deepEqual(d.networks, [{ network: "backend", aliases: [] }]);
        assert.equal(d.replace.deleteBeforeReplace, false);
        assert.deepEqual(d.command?.slice(0, 2), ["bash", "-c"]);
    });
    it("is consistent, whole when present, keeps the newest KEEP_DUMPS, and never puts the password on a command line", () => {
        const script = dumpScript(7, 4);
        assert.match(script, /^set -euo pipefail$/m);
        assert.match(script, /mysqldump --single-transaction /);
        assert.match(script, /MYSQL_PWD="\$MYSQL_ROOT_PASSWORD" mysqldump/);
        assert.doesNotMatch(script, / -p/);
        assert.match(script, /f="\/dumps\/v7-\$\(date -u \+%Y%m%dT%H%M%SZ\)\.sql"/);
        assert.match(script, /> "\$f\.partial"\nmv "\$f\.partial" "\$f"/);
        assert.match(script, /tail -n \+5 /);
        assert.equal(KEEP_DUMPS, 10);
    });
});
