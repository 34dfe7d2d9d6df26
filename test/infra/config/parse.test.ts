import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { architectureOf, parseConfig } from "../../../infra/config/parse";
import { CIDR_FORM, CTX, errorOf, parse, refused, refusedWithVersion, withVersion } from "./expect";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2xVb5Vv8E3J0Qkq0V0r9Uu4m3tXb9aZ4zQm5pK1c2d me@laptop";

function assertDeeplyFrozen(value: unknown, where: string): void {
    if (value === null || typeof value !== "object") return;
    assert.ok(Object.isFrozen(value), `${where} is not frozen`);
    for (const [k, v] of Object.entries(value)) assertDeeplyFrozen(v, `${where}.${k}`);
}

const COMMAND_FORM = 'a list of strings such as ["npm", "run", "db:migrate"], or one shell command line';
const APP_ENV_FORM =
    'a map of environment variable names to strings, such as {"RAILS_ENV": "production"}, ' +
    "without PORT, APP_VERSION, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE, SECRET_KEY_BASE, MAX_BODY_SIZE";

describe("parseConfig defaults", () => {
    it("gives every documented default from a raw holding only appVersion", () => {
        assert.deepStrictEqual(
            { ...parse({ appVersion: "3" }) },
            {
                project: "berth",
                stack: "dev",
                appVersion: 3,
                appDir: "./app",
                appPort: 3000,
                healthPath: "/up",
                healthTimeout: 120,
                migrateTimeout: 1800,
                stopGraceSeconds: 30,
                keepImages: 3,
                appCommand: undefined,
                createCommand: ["npm", "run", "db:create"],
                migrateCommand: ["npm", "run", "db:migrate"],
                healthCheckCommand: undefined,
                appEnv: {},
                target: "aws",
                localPort: 8080,
                localKeepData: true,
                instanceType: "t3.small",
                architecture: "x86_64",
                instanceName: "berth-dev",
                adminCidrs: undefined,
                allowPublicAdmin: false,
                sshPublicKey: undefined,
                keyName: undefined,
                rootVolumeSize: 20,
                dataVolumeSize: 10,
                availabilityZone: undefined,
                subnetId: undefined,
                dataSnapshotId: undefined,
                amiId: undefined,
                mysqlImage: "mysql:8.4",
                nginxImage: "nginx:1.30-alpine",
                maxBodySize: 1048576,
                clientTimeout: 15,
                connLimitPerClient: 100,
                rateLimitPerClient: 500,
                mysqlUser: "app",
                mysqlDatabase: "app",
                updateStrategy: "reboot",
                https: undefined,
                day2: {
                    backupSchedule: { kind: "every", hours: 24, at: "03:00" },
                    backupRetain: 7,
                    dumpBucket: false,
                    alertEmail: undefined,
                    logRetentionDays: 14,
                },
                appImage: undefined,
            },
        );
    });

    it("treats an empty string like an unset key", () => {
        const cfg = withVersion({ appPort: "", instanceType: "", appEnv: "", adminCidrs: "" });
        assert.equal(cfg.appPort, 3000);
        assert.equal(cfg.instanceType, "t3.small");
        assert.deepEqual(cfg.appEnv, {});
        assert.equal(cfg.adminCidrs, undefined);
    });

    it("names the instance after the project and stack it is given", () => {
        assert.equal(parseConfig({ appVersion: "1" }, { project: "shop", stack: "prod" }).instanceName, "shop-prod");
    });

    it("uses every value that is set instead of its default", () => {
        const cfg = withVersion({
            appDir: "./rails",
            appPort: "8080",
            healthPath: "/health?full=1",
            healthTimeout: "300",
            stopGraceSeconds: "5",
            appCommand: '["bin/rails", "server"]',
            healthCheckCommand: "curl -fsS localhost:8080/health",
            instanceType: "t4g.medium",
            instanceName: "shop.prod_1",
            adminCidrs: '["203.0.113.7/32"]',
            sshPublicKey: ED25519,
            keyName: "my key",
            rootVolumeSize: "30",
            dataVolumeSize: "50",
            availabilityZone: "eu-west-1b",
            subnetId: "subnet-0123abcd",
            amiId: "ami-0123456789abcdef0",
            mysqlImage: "mysql:8.0",
            nginxImage: `registry.example.com:5000/nginx@sha256:${"ab".repeat(32)}`,
            mysqlUser: "shop_user",
            mysqlDatabase: "shop",
            updateStrategy: "off",
        });
        assert.equal(cfg.appDir, "./rails");
        assert.equal(cfg.appPort, 8080);
        assert.equal(cfg.healthPath, "/health?full=1");
        assert.equal(cfg.healthTimeout, 300);
        assert.equal(cfg.stopGraceSeconds, 5);
        assert.deepEqual(cfg.appCommand, ["bin/rails", "server"]);
        assert.equal(cfg.healthCheckCommand, "curl -fsS localhost:8080/health");
        assert.equal(cfg.instanceType, "t4g.medium");
        assert.equal(cfg.architecture, "arm64");
        assert.equal(cfg.instanceName, "shop.prod_1");
        assert.deepEqual(cfg.adminCidrs, ["203.0.113.7/32"]);
        assert.equal(cfg.sshPublicKey, ED25519);
        assert.equal(cfg.keyName, "my key");
        assert.equal(cfg.rootVolumeSize, 30);
        assert.equal(cfg.dataVolumeSize, 50);
        assert.equal(cfg.availabilityZone, "eu-west-1b");
        assert.equal(cfg.subnetId, "subnet-0123abcd");
        assert.equal(cfg.amiId, "ami-0123456789abcdef0");
        assert.equal(cfg.mysqlImage, "mysql:8.0");
        assert.equal(cfg.nginxImage, `registry.example.com:5000/nginx@sha256:${"ab".repeat(32)}`);
        assert.equal(cfg.mysqlUser, "shop_user");
        assert.equal(cfg.mysqlDatabase, "shop");
        assert.equal(cfg.updateStrategy, "off");
    });

    it("returns a deeply frozen object", () => {
        const cfg = withVersion({
            adminCidrs: '["203.0.113.7/32", "2001:db8::/48"]',
            appEnv: '{"RAILS_ENV": "production"}',
            appCommand: "bin/start",
        });
        assertDeeplyFrozen(cfg, "config");
        assert.throws(() => {
            (cfg as { appPort: number }).appPort = 1;
        }, TypeError);
        assert.throws(() => {
            (cfg.adminCidrs as string[]).push("0.0.0.0/0");
        }, TypeError);
        assert.throws(() => {
            (cfg.appEnv as Record<string, string>).MYSQL_PASSWORD = "x";
        }, TypeError);
        assert.throws(() => {
            (cfg.createCommand as string[])[0] = "rm";
        }, TypeError);
        assert.deepEqual(cfg.adminCidrs, ["203.0.113.7/32", "2001:db8::/48"]);
    });

    it("does not carry secret keys into the result", () => {
        const cfg = parseConfig(
            {
                appVersion: "1",
                mysqlPassword: "hunter2-db-password",
                mysqlRootPassword: "hunter2-root-password",
                secretKeyBase: "hunter2-skb".repeat(3),
            },
            { ...CTX, secretKeys: ["mysqlPassword", "mysqlRootPassword", "secretKeyBase"] },
        );
        assert.doesNotMatch(JSON.stringify(cfg), /hunter2/);
    });

    it("treats Pulumi.yaml's empty defaults, as the CLI passes them on, like unset keys", () => {
        const defaults = {
            appCommand: "",
            healthCheckCommand: "",
            appEnv: "",
            instanceName: "",
            adminCidrs: "[]",
            sshPublicKey: "",
            keyName: "",
            availabilityZone: "",
            subnetId: "",
            amiId: "",
            mysqlPassword: "",
            mysqlRootPassword: "",
            secretKeyBase: "",
        };
        assert.deepStrictEqual(withVersion(defaults), parse({ appVersion: "1" }));
    });

    it("is deterministic: the same raw twice gives deep-equal results", () => {
        const raw = {
            appVersion: "7",
            adminCidrs: '["198.51.100.0/24", "2001:db8::/32", "198.51.100.0/24"]',
            appEnv: '{"ZED": "1", "ALPHA": "2", "MID": "3"}',
            createCommand: "bin/rails db:prepare",
        };
        const a = parse(raw);
        const b = parse({ ...raw });
        assert.notEqual(a, b);
        assert.deepStrictEqual(a, b);
        assert.equal(JSON.stringify(a), JSON.stringify(b));
    });
});

describe("parseConfig appVersion", () => {
    it("is required", () => {
        refused({}, "appVersion", "berth:appVersion is required: an integer >= 1 (pulumi config set appVersion 1)");
        refused({ appVersion: "" }, "appVersion", "berth:appVersion is required: an integer >= 1 (pulumi config set appVersion 1)");
    });

    for (const bad of ["0", "-1", "1.5", "abc", "1e3", "0x10", "99999999999999999999"]) {
        it(`refuses ${JSON.stringify(bad)}`, () => {
            refused({ appVersion: bad }, "appVersion", `berth:appVersion must be an integer >= 1, got ${JSON.stringify(bad)}`);
        });
    }

    it("accepts a positive integer, surrounding spaces ignored", () => {
        assert.equal(parse({ appVersion: "42" }).appVersion, 42);
        assert.equal(parse({ appVersion: " 2 " }).appVersion, 2);
    });
});

describe("parseConfig integers with bounds", () => {
    it("refuses appPort 70000 and 0", () => {
        refusedWithVersion({ appPort: "70000" }, "appPort", 'berth:appPort must be an integer from 1 to 65535, got "70000"');
        refusedWithVersion({ appPort: "0" }, "appPort", 'berth:appPort must be an integer from 1 to 65535, got "0"');
    });

    it("accepts the bounds of appPort", () => {
        assert.equal(withVersion({ appPort: "1" }).appPort, 1);
        assert.equal(withVersion({ appPort: "65535" }).appPort, 65535);
    });

    it("accepts the bounds of the timeouts", () => {
        assert.equal(withVersion({ healthTimeout: "5" }).healthTimeout, 5);
        assert.equal(withVersion({ healthTimeout: "3600" }).healthTimeout, 3600);
        assert.equal(withVersion({ migrateTimeout: "60" }).migrateTimeout, 60);
        assert.equal(withVersion({ migrateTimeout: "86400" }).migrateTimeout, 86400);
    });

    it("refuses values outside the other keys' ranges", () => {
        refusedWithVersion({ healthTimeout: "4" }, "healthTimeout", 'berth:healthTimeout must be an integer from 5 to 3600, got "4"');
        refusedWithVersion({ healthTimeout: "3601" }, "healthTimeout", 'berth:healthTimeout must be an integer from 5 to 3600, got "3601"');
        refusedWithVersion(
            { migrateTimeout: "59" },
            "migrateTimeout",
            'berth:migrateTimeout must be an integer from 60 to 86400, got "59"',
        );
        refusedWithVersion(
            { migrateTimeout: "86401" },
            "migrateTimeout",
            'berth:migrateTimeout must be an integer from 60 to 86400, got "86401"',
        );
        refusedWithVersion(
            { stopGraceSeconds: "3601" },
            "stopGraceSeconds",
            'berth:stopGraceSeconds must be an integer from 1 to 3600, got "3601"',
        );
        refusedWithVersion({ keepImages: "0" }, "keepImages", 'berth:keepImages must be an integer from 1 to 100, got "0"');
        refusedWithVersion({ rootVolumeSize: "7" }, "rootVolumeSize", 'berth:rootVolumeSize must be an integer from 8 to 16384, got "7"');
        refusedWithVersion(
            { dataVolumeSize: "ten" },
            "dataVolumeSize",
            'berth:dataVolumeSize must be an integer from 1 to 16384, got "ten"',
        );
    });
});

describe("parseConfig adminCidrs", () => {
    it("refuses a prefix longer than the address", () => {
        refusedWithVersion({ adminCidrs: '["1.2.3.4/99"]' }, "adminCidrs", `berth:adminCidrs must be ${CIDR_FORM}, got "1.2.3.4/99"`);
        refusedWithVersion(
            { adminCidrs: '["2001:db8::/129"]' },
            "adminCidrs",
            `berth:adminCidrs must be ${CIDR_FORM}, got "2001:db8::/129"`,
        );
    });

    it("refuses a CIDR whose address is not the network address and suggests the canonical one", () => {
        refusedWithVersion(
            { adminCidrs: '["1.2.3.4/24"]' },
            "adminCidrs",
            'berth:adminCidrs must be CIDRs whose address is the network address (did you mean "1.2.3.0/24"?), got "1.2.3.4/24"',
        );
        refusedWithVersion(
            { adminCidrs: '["2001:db8::1/64"]' },
            "adminCidrs",
            'berth:adminCidrs must be CIDRs whose address is the network address (did you mean "2001:db8::/64"?), got "2001:db8::1/64"',
        );
    });

    it("refuses very wide ranges (halves of the internet) unless allowPublicAdmin is true", () => {
        assert.throws(() => parseConfig({ appVersion: "1", adminCidrs: '["0.0.0.0/1", "128.0.0.0/1"]' }, CTX), {
            message:
                'berth:adminCidrs must be CIDRs no wider than /8: 0.0.0.0/1 opens SSH and the Docker API to a large part of the internet (set berth:allowPublicAdmin true to allow it), got "0.0.0.0/1"',
        });
        assert.throws(() => parseConfig({ appVersion: "1", adminCidrs: '["2000::/3"]' }, CTX), /no wider than \/16/);
        assert.deepEqual(parseConfig({ appVersion: "1", adminCidrs: '["10.0.0.0/8", "2001:db8::/32"]' }, CTX).adminCidrs, [
            "10.0.0.0/8",
            "2001:db8::/32",
        ]);
        assert.deepEqual(parseConfig({ appVersion: "1", allowPublicAdmin: "true", adminCidrs: '["0.0.0.0/1"]' }, CTX).adminCidrs, [
            "0.0.0.0/1",
        ]);
    });

    it("refuses the whole internet, IPv4 and IPv6, unless allowPublicAdmin is true", () => {
        refusedWithVersion(
            { adminCidrs: '["0.0.0.0/0"]' },
            "adminCidrs",
            "berth:adminCidrs must be CIDRs narrower than the whole internet: 0.0.0.0/0 opens SSH and the Docker API " +
                'to everyone (set berth:allowPublicAdmin true to allow it), got "0.0.0.0/0"',
        );
        refusedWithVersion(
            { adminCidrs: '["203.0.113.7/32", "::/0"]' },
            "adminCidrs",
            "berth:adminCidrs must be CIDRs narrower than the whole internet: ::/0 opens SSH and the Docker API " +
                'to everyone (set berth:allowPublicAdmin true to allow it), got "::/0"',
        );
        refusedWithVersion(
            { adminCidrs: '["0.0.0.0/0"]', allowPublicAdmin: "false" },
            "adminCidrs",
            "berth:adminCidrs must be CIDRs narrower than the whole internet: 0.0.0.0/0 opens SSH and the Docker API " +
                'to everyone (set berth:allowPublicAdmin true to allow it), got "0.0.0.0/0"',
        );
    });

    it("accepts the whole internet with allowPublicAdmin true", () => {
        const cfg = withVersion({ adminCidrs: '["0.0.0.0/0", "::/0"]', allowPublicAdmin: "true" });
        assert.deepEqual(cfg.adminCidrs, ["0.0.0.0/0", "::/0"]);
        assert.equal(cfg.allowPublicAdmin, true);
    });

    it("refuses an allowPublicAdmin that is not true or false", () => {
        refusedWithVersion({ allowPublicAdmin: "yes" }, "allowPublicAdmin", 'berth:allowPublicAdmin must be true or false, got "yes"');
    });

    it("refuses a value that is not JSON, a list of non-strings, and a map", () => {
        refusedWithVersion({ adminCidrs: '["1.2.3.4/32"' }, "adminCidrs", `berth:adminCidrs must be ${CIDR_FORM}, got "[\\"1.2.3.4/32\\""`);
        refusedWithVersion({ adminCidrs: "[1, 2]" }, "adminCidrs", `berth:adminCidrs must be ${CIDR_FORM}, got "[1, 2]"`);
        refusedWithVersion(
            { adminCidrs: '{"a": "1.2.3.4/32"}' },
            "adminCidrs",
            `berth:adminCidrs must be ${CIDR_FORM}, got "{\\"a\\": \\"1.2.3.4/32\\"}"`,
        );
        refusedWithVersion({ adminCidrs: "my office" }, "adminCidrs", `berth:adminCidrs must be ${CIDR_FORM}, got "my office"`);
    });

    it("treats an empty list (Pulumi.yaml's default) like unset: the operator's address is detected", () => {
        assert.equal(withVersion({ adminCidrs: "[]" }).adminCidrs, undefined);
    });

    it("refuses a bare address and says which single-host CIDR to write", () => {
        refusedWithVersion(
            { adminCidrs: '["203.0.113.7"]' },
            "adminCidrs",
            `berth:adminCidrs must be ${CIDR_FORM}, got "203.0.113.7" (did you mean 203.0.113.7/32?)`,
        );
        refusedWithVersion(
            { adminCidrs: '["198.51.100.0/24", "2001:DB8::1"]' },
            "adminCidrs",
            `berth:adminCidrs must be ${CIDR_FORM}, got "2001:DB8::1" (did you mean 2001:db8::1/128?)`,
        );
        refusedWithVersion(
            { adminCidrs: "203.0.113.7" },
            "adminCidrs",
            `berth:adminCidrs must be ${CIDR_FORM}, got "203.0.113.7" (did you mean 203.0.113.7/32?)`,
        );
    });

    it("refuses legacy IPv4 spellings that would change its meaning, without guessing a CIDR", () => {
        // "010.0.0.0/8" would otherwise be read as octal, i.e. 8.0.0.0/8; "10.1/32" as 10.0.0.1/32.
        for (const text of ["010.0.0.0/8", "10.1/32", "0x0a.0.0.0/8", "256.0.0.0/8", "010.0.0.1", "256.1.1.1"]) {
            refusedWithVersion(
                { adminCidrs: JSON.stringify([text]) },
                "adminCidrs",
                `berth:adminCidrs must be ${CIDR_FORM}, got ${JSON.stringify(text)}`,
            );
        }
    });

    it("accepts one CIDR given as a plain string", () => {
        assert.deepEqual(withVersion({ adminCidrs: "203.0.113.7/32" }).adminCidrs, ["203.0.113.7/32"]);
    });

    it("accepts IPv6 CIDRs and returns them in canonical form", () => {
        assert.deepEqual(withVersion({ adminCidrs: '["2001:db8::/32", "2001:DB8:0:0:0:0:0:1/128"]' }).adminCidrs, [
            "2001:db8::/32",
            "2001:db8::1/128",
        ]);
    });

    it("drops duplicates, also those that differ only in spelling, keeping the first order", () => {
        assert.deepEqual(
            withVersion({
                adminCidrs: '["198.51.100.0/24", "203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32", "2001:0DB8::/32"]',
            }).adminCidrs,
            ["198.51.100.0/24", "203.0.113.7/32", "2001:db8::/32"],
        );
    });
});

describe("parseConfig strings with a pattern", () => {
    it("refuses a bad instanceType", () => {
        for (const bad of ["t3small", "T3.small", "t3.", ".small", "t3.small "]) {
            refusedWithVersion(
                { instanceType: bad },
                "instanceType",
                `berth:instanceType must be an EC2 instance type such as "t3.small", got ${JSON.stringify(bad)}`,
            );
        }
    });

    it("refuses a healthPath without a leading slash", () => {
        refusedWithVersion({ healthPath: "up" }, "healthPath", 'berth:healthPath must be a URL path starting with "/", got "up"');
        refusedWithVersion({ healthPath: "/up now" }, "healthPath", 'berth:healthPath must be a URL path starting with "/", got "/up now"');
    });

    it("refuses an sshPublicKey that is not one OpenSSH public key line", () => {
        const form = 'an OpenSSH public key line such as "ssh-ed25519 AAAA... me@laptop"';
        for (const bad of [
            "garbage",
            "ssh-dss AAAAB3NzaC1kc3M= old@box",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            `${ED25519}\nssh-ed25519 AAAAC3Nza injected@key`,
        ]) {
            refusedWithVersion({ sshPublicKey: bad }, "sshPublicKey", `berth:sshPublicKey must be ${form}, got ${JSON.stringify(bad)}`);
        }
    });

    it("accepts ed25519, RSA and ECDSA keys, with or without a comment", () => {
        for (const key of [
            ED25519,
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= work laptop",
        ]) {
            assert.equal(withVersion({ sshPublicKey: key }).sshPublicKey, key);
        }
    });

    it("refuses bad AWS identifiers", () => {
        refusedWithVersion(
            { availabilityZone: "eu-west-1" },
            "availabilityZone",
            'berth:availabilityZone must be an availability zone such as "eu-west-1a", got "eu-west-1"',
        );
        refusedWithVersion(
            { subnetId: "subnet-XYZ" },
            "subnetId",
            'berth:subnetId must be a subnet id such as "subnet-0123abcd", got "subnet-XYZ"',
        );
        refusedWithVersion({ amiId: "ami-123" }, "amiId", 'berth:amiId must be an AMI id such as "ami-0123456789abcdef0", got "ami-123"');
        refusedWithVersion(
            { instanceName: "-leading-dash" },
            "instanceName",
            "berth:instanceName must be 1-63 letters, digits, '.', '_' or '-', got \"-leading-dash\"",
        );
        refusedWithVersion(
            { mysqlImage: "MySQL:8" },
            "mysqlImage",
            'berth:mysqlImage must be an image reference such as "mysql:8.4", got "MySQL:8"',
        );
        refusedWithVersion(
            { nginxImage: "nginx latest" },
            "nginxImage",
            'berth:nginxImage must be an image reference such as "nginx:1.30-alpine", got "nginx latest"',
        );
    });
});

describe("parseConfig MySQL names", () => {
    it("refuses root as the app's MySQL user", () => {
        refusedWithVersion(
            { mysqlUser: "root" },
            "mysqlUser",
            "berth:mysqlUser must be a user name other than root, mysql.sys, mysql.session, mysql.infoschema " +
                '(the app never gets root or an account MySQL keeps for itself), got "root"',
        );
        assert.match(errorOf({ appVersion: "1", mysqlUser: "Root" }).message, /^berth:mysqlUser must be a user name other than root/);
    });

    it("refuses MySQL's own schemas as the app's database, whatever the case", () => {
        for (const db of ["mysql", "sys", "information_schema", "performance_schema", "MySQL", "SYS", "Performance_Schema"]) {
            refusedWithVersion(
                { mysqlDatabase: db },
                "mysqlDatabase",
                "berth:mysqlDatabase must be a database other than MySQL's own mysql, sys, information_schema, performance_schema " +
                    `(the app user gets all privileges on it), got ${JSON.stringify(db)}`,
            );
        }
        assert.equal(withVersion({ mysqlDatabase: "mysql_app" }).mysqlDatabase, "mysql_app");
        assert.equal(withVersion({ mysqlDatabase: "system" }).mysqlDatabase, "system");
    });

    it("refuses names that would need quoting or are too long", () => {
        refusedWithVersion({ mysqlUser: "app-user" }, "mysqlUser", "berth:mysqlUser must be 1-32 letters, digits or '_', got \"app-user\"");
        refusedWithVersion(
            { mysqlUser: "u".repeat(33) },
            "mysqlUser",
            `berth:mysqlUser must be 1-32 letters, digits or '_', got "${"u".repeat(33)}"`,
        );
        refusedWithVersion(
            { mysqlDatabase: "app`; DROP" },
            "mysqlDatabase",
            "berth:mysqlDatabase must be 1-64 letters, digits or '_', got \"app`; DROP\"",
        );
        assert.equal(withVersion({ mysqlUser: "u".repeat(32) }).mysqlUser, "u".repeat(32));
    });
});

describe("parseConfig appEnv", () => {
    it("refuses a key the deployment sets itself", () => {
        for (const reserved of ["MYSQL_PASSWORD", "PORT", "SECRET_KEY_BASE"]) {
            const raw = JSON.stringify({ RAILS_ENV: "production", [reserved]: "x" });
            refusedWithVersion({ appEnv: raw }, "appEnv", `berth:appEnv must be ${APP_ENV_FORM} (${reserved} is set by Berth)`);
        }
    });

    it("refuses bad names, non-string values, lists and non-JSON", () => {
        for (const [raw, why] of [
            ['{"BAD-NAME": "x"}', '"BAD-NAME" is not a variable name'],
            ['{"1ST": "x"}', '"1ST" is not a variable name'],
            ['{"": "x"}', '"" is not a variable name'],
            ['{"PORT_NUMBER": 8080}', "the value of PORT_NUMBER is not a string"],
            ['{"A": null}', "the value of A is not a string"],
            ['["RAILS_ENV=production"]', "got a list"],
            ["null", "got null"],
            ['"RAILS_ENV"', "got a string"],
            ["RAILS_ENV=production", "not valid JSON"],
        ] as const) {
            refusedWithVersion({ appEnv: raw }, "appEnv", `berth:appEnv must be ${APP_ENV_FORM} (${why})`);
        }
    });

    it("names the variable at fault, never a value: the others may be credentials", () => {
        const raw = JSON.stringify({ API_KEY: "sk-live-hunter2", "BAD NAME": "x", TOKEN: "tok-hunter3" });
        const err = errorOf({ appVersion: "1", appEnv: raw });
        assert.match(err.message, /\("BAD NAME" is not a variable name\)$/);
        assert.doesNotMatch(err.message, /hunter|sk-live/);
        const notString = errorOf({ appVersion: "1", appEnv: '{"API_KEY": "sk-live-hunter2", "N": 5}' });
        assert.doesNotMatch(notString.message, /hunter|sk-live/);
        const badJson = errorOf({ appVersion: "1", appEnv: '{"API_KEY": "sk-live-hunter2",}' });
        assert.doesNotMatch(badJson.message, /hunter|sk-live/);
    });

    it("accepts good names, sorted by name", () => {
        const cfg = withVersion({
            appEnv: '{"RAILS_ENV": "production", "_DEBUG": "", "A1": "two words"}',
        });
        assert.deepStrictEqual(cfg.appEnv, { A1: "two words", RAILS_ENV: "production", _DEBUG: "" });
        assert.deepEqual(Object.keys(cfg.appEnv), ["A1", "RAILS_ENV", "_DEBUG"]);
    });
});

describe("parseConfig commands", () => {
    it("takes a JSON list as the exec form", () => {
        assert.deepEqual(withVersion({ createCommand: '["bin/rails", "db:create"]' }).createCommand, ["bin/rails", "db:create"]);
        assert.deepEqual(withVersion({ migrateCommand: '  ["./migrate"]' }).migrateCommand, ["./migrate"]);
    });

    it("runs a plain string with sh -c", () => {
        assert.deepEqual(withVersion({ createCommand: "bin/rails db:create && echo done" }).createCommand, [
            "sh",
            "-c",
            "bin/rails db:create && echo done",
        ]);
        assert.deepEqual(withVersion({ appCommand: "node server.js" }).appCommand, ["sh", "-c", "node server.js"]);
    });

    it("refuses an empty list, empty strings, non-strings and broken JSON", () => {
        for (const raw of ["[]", '["npm", ""]', '["npm", 1]', '["npm", "run"', '[["npm"]]']) {
            refusedWithVersion(
                { createCommand: raw },
                "createCommand",
                `berth:createCommand must be ${COMMAND_FORM}, got ${JSON.stringify(raw)}`,
            );
        }
        refusedWithVersion({ migrateCommand: "[]" }, "migrateCommand", `berth:migrateCommand must be ${COMMAND_FORM}, got "[]"`);
    });
});

describe("parseConfig updateStrategy", () => {
    it("refuses a value other than reboot or off", () => {
        refusedWithVersion(
            { updateStrategy: "etcd-lock" },
            "updateStrategy",
            'berth:updateStrategy must be one of "reboot", "off", got "etcd-lock"',
        );
    });
});

describe("architectureOf", () => {
    const cases: [string, "x86_64" | "arm64"][] = [
        ["t3.small", "x86_64"],
        ["t4g.small", "arm64"],
        ["m7g.large", "arm64"],
        ["c6gn.large", "arm64"],
        ["a1.medium", "arm64"],
        ["m6gd.xlarge", "arm64"],
        ["g5g.xlarge", "arm64"],
        ["m5.large", "x86_64"],
        ["c7i.large", "x86_64"],
        ["m6a.large", "x86_64"],
        ["g5.xlarge", "x86_64"],
        ["m7i-flex.large", "x86_64"],
    ];
    for (const [type, arch] of cases) {
        it(`${type} is ${arch}`, () => {
            assert.equal(architectureOf(type), arch);
        });
    }

    it("is what parseConfig reports for the instance type", () => {
        assert.equal(withVersion({ instanceType: "c6gn.large" }).architecture, "arm64");
        assert.equal(withVersion({ instanceType: "c7i.large" }).architecture, "x86_64");
    });
});

describe("parseConfig targets", () => {
    const AWS_ONLY = {
        instanceType: "t3.large",
        instanceName: "shop",
        adminCidrs: '["203.0.113.7/32"]',
        allowPublicAdmin: "true",
        sshPublicKey: ED25519,
        keyName: "my key",
        rootVolumeSize: "30",
        dataVolumeSize: "50",
        availabilityZone: "eu-west-1b",
        subnetId: "subnet-0123abcd",
        amiId: "ami-0123456789abcdef0",
        updateStrategy: "off",
    };
    const only = (key: string, keyTarget: string, stackTarget: string) =>
        `berth:${key} only applies to target ${keyTarget}, and this stack's target is ${stackTarget}: remove it with pulumi config rm ${key}`;

    it("defaults to aws, and reads local's port and data policy", () => {
        assert.equal(withVersion({}).target, "aws");
        const cfg = withVersion({ target: "local", localPort: "9090", localKeepData: "false" });
        assert.equal(cfg.target, "local");
        assert.equal(cfg.localPort, 9090);
        assert.equal(cfg.localKeepData, false);
        const defaults = withVersion({ target: "local" });
        assert.equal(defaults.localPort, 8080);
        assert.equal(defaults.localKeepData, true);
    });

    it("refuses another target, and a bad port or boolean", () => {
        refusedWithVersion({ target: "gcp" }, "target", 'berth:target must be one of "aws", "local", got "gcp"');
        refusedWithVersion(
            { target: "local", localPort: "80000" },
            "localPort",
            'berth:localPort must be an integer from 1 to 65535, got "80000"',
        );
        refusedWithVersion(
            { target: "local", localKeepData: "yes" },
            "localKeepData",
            'berth:localKeepData must be true or false, got "yes"',
        );
    });

    it("refuses every AWS key set on a local stack, each naming the key, all at once", () => {
        const err = errorOf({ appVersion: "1", target: "local", ...AWS_ONLY });
        assert.deepEqual(
            err.message.split("\n"),
            Object.keys(AWS_ONLY).map((key) => only(key, "aws", "local")),
        );
        assert.ok(!err.message.includes("203.0.113.7") && !err.message.includes("AAAA"), "values are not repeated");
        refusedWithVersion({ target: "local", adminCidrs: '["203.0.113.7/32"]' }, "adminCidrs", only("adminCidrs", "aws", "local"));
        // A bad value too: what matters is that the key does not belong here.
        refusedWithVersion({ target: "local", instanceType: "huge" }, "instanceType", only("instanceType", "aws", "local"));
    });

    it("accepts the AWS keys' defaults on a local stack: the CLI passes them on to every stack", () => {
        const cfg = withVersion({
            target: "local",
            instanceType: "t3.small",
            instanceName: "",
            adminCidrs: "[]",
            allowPublicAdmin: "false",
            sshPublicKey: "",
            keyName: "",
            rootVolumeSize: "20",
            dataVolumeSize: "10",
            availabilityZone: "",
            subnetId: "",
            amiId: "",
            updateStrategy: "reboot",
        });
        assert.equal(cfg.target, "local");
        assert.equal(cfg.adminCidrs, undefined);
    });

    it("refuses local's keys set on an aws stack, and accepts their defaults there", () => {
        const err = errorOf({ appVersion: "1", localPort: "9090", localKeepData: "false" });
        assert.deepEqual(err.message.split("\n"), [only("localPort", "local", "aws"), only("localKeepData", "local", "aws")]);
        assert.equal(withVersion({ localPort: "8080", localKeepData: "true" }).target, "aws");
    });

    it("reports the other keys' problems with them, and no target-only error when the target itself is bad", () => {
        const err = errorOf({ appVersion: "0", target: "local", adminCidrs: '["203.0.113.7/32"]' });
        assert.deepEqual(err.message.split("\n"), [
            'berth:appVersion must be an integer >= 1, got "0"',
            only("adminCidrs", "aws", "local"),
        ]);
        const bad = errorOf({ appVersion: "1", target: "lokal", localPort: "9090" });
        assert.deepEqual(bad.message.split("\n"), ['berth:target must be one of "aws", "local", got "lokal"']);
    });
});
