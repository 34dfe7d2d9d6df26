// How bad config is reported: every key at once, one line each, unknown keys with a suggestion, and
// secrets never repeated.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ConfigError, parseConfig } from "../../../infra/config/parse";
import { CIDR_FORM, CTX, errorOf, refusedWithVersion } from "./expect";

describe("parseConfig unknown keys", () => {
    const KNOWN =
        "appVersion, appDir, appPort, healthPath, healthTimeout, migrateTimeout, stopGraceSeconds, keepImages, appCommand, createCommand, " +
        "migrateCommand, healthCheckCommand, appEnv, target, localPort, localKeepData, instanceType, instanceName, adminCidrs, allowPublicAdmin, " +
        "sshPublicKey, keyName, rootVolumeSize, dataVolumeSize, availabilityZone, subnetId, dataSnapshotId, amiId, mysqlImage, " +
        "nginxImage, maxBodySize, clientTimeout, connLimitPerClient, rateLimitPerClient, mysqlUser, mysqlDatabase, updateStrategy, domain, domainAliases, acmeEmail, acmeServer, acmeCaCertificate, acmeImage, hstsSeconds, route53ZoneId, backupSchedule, backupRetain, dumpBucket, alertEmail, logRetentionDays, appImage, mysqlPassword, mysqlRootPassword, secretKeyBase";

    it("never repeats the value of an unknown key: it may be a mistyped secret", () => {
        assert.throws(
            () => parseConfig({ appVersion: "1", mysqlPasword: "hunter2-very-secret" }, CTX),
            (e: Error) => e.message.startsWith("berth:mysqlPasword is not a known key") && !e.message.includes("hunter2"),
        );
    });

    it("suggests the nearest known key for a typo, whatever the case", () => {
        refusedWithVersion({ apPort: "3000" }, "apPort", "berth:apPort is not a known key: did you mean appPort?");
        refusedWithVersion(
            { AdminCidrs: '["203.0.113.7/32"]' },
            "AdminCidrs",
            "berth:AdminCidrs is not a known key: did you mean adminCidrs?",
        );
        refusedWithVersion({ mysqlPasword: "x" }, "mysqlPasword", "berth:mysqlPasword is not a known key: did you mean mysqlPassword?");
        refusedWithVersion({ healthTimout: "60" }, "healthTimout", "berth:healthTimout is not a known key: did you mean healthTimeout?");
    });

    it("lists the keys when none is within two edits", () => {
        refusedWithVersion({ region: "eu-west-1" }, "region", `berth:region is not a known key: the keys are ${KNOWN}`);
    });

    it("reports an unknown key first, and the required appVersion with it", () => {
        const err = errorOf({ appVersoin: "2" });
        assert.equal(
            err.message,
            "berth:appVersoin is not a known key: did you mean appVersion?\n" +
                "berth:appVersion is required: an integer >= 1 (pulumi config set appVersion 1)",
        );
    });
});

describe("parseConfig reports every bad key at once", () => {
    it("one line per bad key, in Pulumi.yaml's order, unknown keys first", () => {
        const err = errorOf({
            appVersion: "0",
            appPort: "abc",
            apPort: "3000",
            adminCidrs: '["203.0.113.7"]',
            updateStrategy: "never",
            healthTimeout: "7200",
        });
        assert.deepEqual(err.message.split("\n"), [
            "berth:apPort is not a known key: did you mean appPort?",
            'berth:appVersion must be an integer >= 1, got "0"',
            'berth:appPort must be an integer from 1 to 65535, got "abc"',
            'berth:healthTimeout must be an integer from 5 to 3600, got "7200"',
            `berth:adminCidrs must be ${CIDR_FORM}, got "203.0.113.7" (did you mean 203.0.113.7/32?)`,
            'berth:updateStrategy must be one of "reboot", "off", got "never"',
        ]);
        assert.deepEqual(
            err.errors.map((e) => (e as ConfigError).key),
            ["apPort", "appVersion", "appPort", "healthTimeout", "adminCidrs", "updateStrategy"],
        );
        assert.doesNotMatch(err.message, /^\s+at /m, "no stack frames");
    });

    it("one line even for a key with several bad entries, and for a value holding a newline", () => {
        const err = errorOf({ appVersion: "1", adminCidrs: '["1.2.3.4", "5.6.7.8", "x"]', instanceName: "a\nb" });
        assert.equal(err.errors.length, 2);
        assert.equal(err.message.split("\n").length, 2);
    });

    it("checks the app directory when given a way to, with the other keys", () => {
        const err = errorOf({ appVersion: "x", appDir: "./nowhere" }, { ...CTX, dockerfileExists: (dir) => dir === "./app" });
        assert.deepEqual(err.message.split("\n"), [
            'berth:appVersion must be an integer >= 1, got "x"',
            'berth:appDir must be a directory holding the app\'s Dockerfile, got "./nowhere"',
        ]);
        assert.equal(parseConfig({ appVersion: "1" }, { ...CTX, dockerfileExists: (dir) => dir === "./app" }).appDir, "./app");
    });
});

describe("parseConfig secrets and plain values", () => {
    it("refuses a secret key stored in plain text, without repeating it", () => {
        const err = errorOf({ appVersion: "1", mysqlPassword: "hunter2", secretKeyBase: "hunter3" });
        assert.deepEqual(err.message.split("\n"), [
            "berth:mysqlPassword must be stored as a secret: pulumi config set --secret mysqlPassword <value>",
            "berth:secretKeyBase must be stored as a secret: pulumi config set --secret secretKeyBase <value>",
        ]);
        assert.doesNotMatch(err.message, /hunter/);
    });

    it("accepts a secret key stored as a secret, and an empty one (the default) in plain text", () => {
        parseConfig(
            { appVersion: "1", mysqlPassword: "hunter2-hunter2", mysqlRootPassword: "" },
            { ...CTX, secretKeys: ["mysqlPassword"] },
        );
    });

    it("refuses a key stored as a secret where Berth cannot keep it secret, without repeating or parsing it", () => {
        const err = errorOf(
            { appVersion: "1", adminCidrs: '["10.9.8.7/32"]', instanceName: "bad name!" },
            { ...CTX, secretKeys: ["adminCidrs", "instanceName"] },
        );
        const why =
            "is stored as a secret, but Berth shows it in plain text (tags, resource ids, stack outputs or resource options): set it without --secret";
        assert.deepEqual(err.message.split("\n"), [`berth:instanceName ${why}`, `berth:adminCidrs ${why}`]);
        assert.doesNotMatch(err.message, /10\.9\.8\.7|bad name/);
    });

    it("accepts the deployment's keys stored as secrets, and describes a bad one without its value", () => {
        const secretKeys = ["appEnv", "appCommand", "mysqlUser", "healthPath", "stopGraceSeconds"];
        const cfg = parseConfig(
            { appVersion: "1", appEnv: '{"API_KEY": "sk-live-0123"}', appCommand: "node s3cr3t.js", mysqlUser: "shop_x" },
            { ...CTX, secretKeys },
        );
        assert.deepEqual(cfg.appEnv, { API_KEY: "sk-live-0123" });
        assert.deepEqual(cfg.appCommand, ["sh", "-c", "node s3cr3t.js"]);
        const err = errorOf(
            { appVersion: "1", appCommand: '["node", 7]', mysqlUser: "root", healthPath: "no-slash-s3cr3t", stopGraceSeconds: "9s3cr3t" },
            { ...CTX, secretKeys },
        );
        const hidden = "(the value is not shown: it is stored as a secret)";
        assert.deepEqual(err.message.split("\n"), [
            `berth:healthPath must be a URL path starting with "/" ${hidden}`,
            `berth:stopGraceSeconds must be an integer from 1 to 3600 ${hidden}`,
            `berth:appCommand must be a list of strings such as ["npm", "run", "db:migrate"], or one shell command line ${hidden}`,
            "berth:mysqlUser must be a user name other than root, mysql.sys, mysql.session, mysql.infoschema " +
                `(the app never gets root or an account MySQL keeps for itself) ${hidden}`,
        ]);
        assert.doesNotMatch(err.message, /s3cr3t|"root"|, 7/);
    });
});
