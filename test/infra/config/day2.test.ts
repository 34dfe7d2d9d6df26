// The day-2 keys' forms: the backup schedule as DLM takes it, retention counts, CloudWatch Logs' retentions,
// the alerts' address, and appImage; every refusal names the key and the accepted form.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ConfigErrors, parseBackupSchedule, parseConfig } from "../../../infra/config";

const parse = (raw: Record<string, string>) => parseConfig({ appVersion: "1", ...raw }, { project: "berth", stack: "dev" });
const refused = (raw: Record<string, string>, re: RegExp) => {
    assert.throws(
        () => parse(raw),
        (e: unknown) => e instanceof ConfigErrors && re.test(e.message),
    );
};

describe("day-2 config", () => {
    it("reads the backup schedule in DLM's terms", () => {
        assert.deepEqual(parseBackupSchedule(undefined), { kind: "every", hours: 24, at: "03:00" });
        assert.deepEqual(parseBackupSchedule("daily at 01:30"), { kind: "every", hours: 24, at: "01:30" });
        assert.deepEqual(parseBackupSchedule("every 6 hours"), { kind: "every", hours: 6, at: "00:00" });
        assert.deepEqual(parseBackupSchedule("Every 1 hour"), { kind: "every", hours: 1, at: "00:00" });
        assert.deepEqual(parseBackupSchedule("off"), { kind: "off" });
        for (const bad of ["weekly", "every 5 hours", "daily at 24:00", "daily at 3:00", "cron(0 3 * * ? *)"]) {
            refused({ backupSchedule: bad }, /^berth:backupSchedule must be "daily" \(03:00 UTC\), "daily at HH:MM"/m);
        }
    });

    it("takes counts and retentions within their ranges only", () => {
        assert.equal(parse({ backupRetain: "30" }).day2.backupRetain, 30);
        refused({ backupRetain: "0" }, /berth:backupRetain must be an integer from 1 to 1000/);
        assert.equal(parse({ logRetentionDays: "90" }).day2.logRetentionDays, 90);
        refused({ logRetentionDays: "10" }, /berth:logRetentionDays must be one of CloudWatch Logs' retentions in days: 1, 3, 5, 7, 14/);
        refused({ dumpBucket: "yes" }, /berth:dumpBucket must be true or false/);
        refused({ alertEmail: "not-an-address" }, /berth:alertEmail must be an email address/);
        assert.equal(parse({ alertEmail: "ops@example.com" }).day2.alertEmail, "ops@example.com");
    });

    it("reports every bad day-2 key at once", () => {
        assert.throws(
            () => parse({ backupRetain: "0", logRetentionDays: "2" }),
            (e: unknown) => e instanceof ConfigErrors && e.errors.length === 2,
        );
    });

    it("takes appImage as an image reference or kept", () => {
        assert.equal(parse({ appImage: "kept" }).appImage, "kept");
        assert.equal(parse({ appImage: "registry.example.com/shop:3.1" }).appImage, "registry.example.com/shop:3.1");
        assert.equal(parse({}).appImage, undefined);
        refused({ appImage: "a b" }, /berth:appImage must be an image reference/);
    });
});
