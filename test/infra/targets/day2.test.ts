// The day-2 keys reach what they configure, through the whole program under mocks: the log group's
// retention, the dumps' bucket (and its output), the backup schedule, and the alerts' address.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BASE_CONFIG, byType, one, output, runProgram } from "../../support/program";

describe("berth day-2 keys, under mocks", () => {
    it("defaults: logs kept 14 days, no dumps bucket, daily snapshots kept 7, no email subscription", async () => {
        const r = await runProgram({ config: BASE_CONFIG });
        assert.equal(r.error, undefined, r.error);
        assert.equal(one(r, "aws:cloudwatch/logGroup:LogGroup").inputs.retentionInDays, 14);
        assert.deepEqual(byType(r, "aws:s3/bucket:Bucket"), []);
        assert.equal(r.outputs.dumpBucket, undefined);
        assert.ok(output(r, "backupPolicyId"));
        assert.deepEqual(byType(r, "aws:sns/topicSubscription:TopicSubscription"), []);
    });

    it("berth:logRetentionDays 30, berth:dumpBucket true, berth:backupSchedule off, berth:alertEmail: each takes effect", async () => {
        const r = await runProgram({
            config: { ...BASE_CONFIG, logRetentionDays: 30, dumpBucket: true, backupSchedule: "off", alertEmail: "ops@example.com" },
        });
        assert.equal(r.error, undefined, r.error);
        assert.equal(one(r, "aws:cloudwatch/logGroup:LogGroup").inputs.retentionInDays, 30);
        assert.equal(byType(r, "aws:s3/bucket:Bucket").length, 1);
        assert.ok(output(r, "dumpBucket").value, "the bucket's name is an output");
        assert.deepEqual(byType(r, "aws:dlm/lifecyclePolicy:LifecyclePolicy"), [], "no scheduled snapshots when off");
        assert.equal(r.outputs.backupPolicyId, undefined);
        const sub = one(r, "aws:sns/topicSubscription:TopicSubscription").inputs;
        assert.deepEqual({ protocol: sub.protocol, endpoint: sub.endpoint }, { protocol: "email", endpoint: "ops@example.com" });
    });

    it("refuses the day-2 keys on target local, naming each", async () => {
        const r = await runProgram({ config: { target: "local", appVersion: 1, logRetentionDays: 30, dumpBucket: true } });
        assert.match(r.error ?? "", /berth:dumpBucket only applies to target aws/);
        assert.match(r.error ?? "", /berth:logRetentionDays only applies to target aws/);
        assert.deepEqual(r.resources, []);
    });
});
