// Scheduled snapshots of the data volume (Data Lifecycle Manager), under mocks: the policy targets the
// stack's data volume alone, on the configured schedule and retention, and its role may do what the
// policy does, on that volume and the region's snapshots, and delete only the snapshots it made.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BASE_CONFIG, byType, one, output, type ProgramResult, runProgram } from "../../support/program";
import { parseBackupSchedule } from "../../../infra/config";
import { dlmCreateRule, dlmDescription, partitionOf, type PolicyDocument } from "../../../infra/host/backups";

const DLM = "aws:dlm/lifecyclePolicy:LifecyclePolicy";
const ROLE = "aws:iam/role:Role";
const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";
const VOLUME = "aws:ebs/volume:Volume";
/** What the mocks answer for the provider's region and account (test/support/mocks.ts). */
const SNAPSHOTS = "arn:aws:ec2:eu-west-1::snapshot/*";
const volumeArn = (id: string) => `arn:aws:ec2:eu-west-1:123456789012:volume/${id}`;

/** The backups' own resources: the instance may have a role of its own. */
const backups = (r: ProgramResult, type: string) => byType(r, type).filter((x) => x.name.startsWith("backups-"));
const statements = (r: ProgramResult) =>
    backups(r, ROLE_POLICY).flatMap((p) => (JSON.parse(String(p.inputs.policy)) as PolicyDocument).Statement);
const dataVolumeId = (r: ProgramResult) => String(one(r, "aws:ec2/volumeAttachment:VolumeAttachment").inputs.volumeId);
const schedule = (r: ProgramResult) => (one(r, DLM).inputs.policyDetails as { schedules: Record<string, unknown>[] }).schedules;

describe("the schedule as DLM takes it", () => {
    for (const [text, rule] of [
        [undefined, { interval: 24, intervalUnit: "HOURS", times: "03:00" }],
        ["daily", { interval: 24, intervalUnit: "HOURS", times: "03:00" }],
        ["daily at 01:30", { interval: 24, intervalUnit: "HOURS", times: "01:30" }],
        ["every 6 hours", { interval: 6, intervalUnit: "HOURS", times: "00:00" }],
        ["every 1 hour", { interval: 1, intervalUnit: "HOURS", times: "00:00" }],
        ["off", undefined],
    ] as const) {
        it(`${text ?? "(unset)"}: ${JSON.stringify(rule)}`, () => {
            assert.deepEqual(dlmCreateRule(parseBackupSchedule(text)), rule);
        });
    }

    it("describes the policy with the characters DLM accepts only", () => {
        assert.equal(dlmDescription("shop.example"), "Berth shop-example data volume");
        assert.match(dlmDescription("a.b_c-D9"), /^[0-9A-Za-z _-]+$/);
    });

    it("reads the partition from an ARN", () => {
        assert.equal(partitionOf("arn:aws:iam::123456789012:user/x"), "aws");
        assert.equal(partitionOf("arn:aws-cn:iam::123456789012:role/y"), "aws-cn");
        assert.throws(() => partitionOf("123456789012"), /not an ARN/);
    });
});

describe("scheduled snapshots under mocks", () => {
    let daily: ProgramResult;
    let sixHours: ProgramResult;
    let night: ProgramResult;
    let off: ProgramResult;
    before(async () => {
        [daily, sixHours] = await Promise.all([
            runProgram({ config: BASE_CONFIG }),
            runProgram({ config: { ...BASE_CONFIG, backupSchedule: "every 6 hours" } }),
        ]);
        [night, off] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, backupSchedule: "daily at 01:30", backupRetain: "14", instanceName: "shop.example" } }),
            runProgram({ config: { ...BASE_CONFIG, backupSchedule: "off" } }),
        ]);
        for (const r of [daily, sixHours, night, off]) assert.equal(r.error, undefined);
    });

    it("targets the stack's data volume by its one Name tag, which no other volume of the stack carries", () => {
        for (const [r, name] of [
            [daily, "berth-dev"],
            [night, "shop.example"],
        ] as const) {
            const targets = (one(r, DLM).inputs.policyDetails as { targetTags: Record<string, string> }).targetTags;
            // DLM takes every volume with any one of the target tags: one tag, the data volume's own.
            assert.deepEqual(targets, { Name: `${name}-data` });
            assert.equal((one(r, VOLUME).inputs.tags as Record<string, string>).Name, targets.Name);
            const root = (one(r, "aws:ec2/instance:Instance").inputs.rootBlockDevice as { tags: Record<string, string> }).tags;
            for (const [k, v] of Object.entries(targets)) assert.notEqual(root[k], v, `the root volume's ${k} is not a target`);
        }
    });

    it("snapshots daily at 03:00 UTC by default, keeps 7, copies the volume's tags, on volumes only", () => {
        const details = one(daily, DLM).inputs.policyDetails as Record<string, unknown>;
        assert.equal(details.policyType, "EBS_SNAPSHOT_MANAGEMENT");
        assert.deepEqual(details.resourceTypes, ["VOLUME"]);
        assert.deepEqual(schedule(daily), [
            {
                name: "berth-data",
                createRule: { interval: 24, intervalUnit: "HOURS", times: "03:00" },
                retainRule: { count: 7 },
                copyTags: true,
            },
        ]);
        assert.equal(one(daily, DLM).inputs.state, "ENABLED");
        assert.equal(one(daily, DLM).inputs.description, "Berth berth-dev data volume");
    });

    it("takes the schedule and the count from the config, under the same schedule name", () => {
        assert.deepEqual(schedule(sixHours)[0]?.createRule, { interval: 6, intervalUnit: "HOURS", times: "00:00" });
        assert.deepEqual(schedule(sixHours)[0]?.retainRule, { count: 7 });
        assert.deepEqual(schedule(night)[0]?.createRule, { interval: 24, intervalUnit: "HOURS", times: "01:30" });
        assert.deepEqual(schedule(night)[0]?.retainRule, { count: 14 });
        assert.equal(one(night, DLM).inputs.description, "Berth shop-example data volume");
        // Renaming the schedule would leave the snapshots made so far to no one.
        assert.deepEqual(
            [daily, sixHours, night].map((r) => schedule(r)[0]?.name),
            ["berth-data", "berth-data", "berth-data"],
        );
    });

    it("off: no policy, no role, no permissions, no backupPolicyId; the alerts stay", () => {
        assert.deepEqual(byType(off, DLM), []);
        assert.deepEqual(backups(off, ROLE), []);
        assert.deepEqual(backups(off, ROLE_POLICY), []);
        assert.equal(off.outputs.backupPolicyId, undefined);
        assert.ok(output(off, "alertTopicArn").value);
    });

    it("runs as its own role, which only Data Lifecycle Manager may assume", () => {
        const role = one(daily, ROLE, "backups-role");
        assert.deepEqual(JSON.parse(String(role.inputs.assumeRolePolicy)), {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "dlm.amazonaws.com" }, Action: "sts:AssumeRole" }],
        });
        assert.deepEqual(one(daily, DLM).propertyDependencies.executionRoleArn, [role.urn]);
        for (const p of backups(daily, ROLE_POLICY)) assert.deepEqual(p.propertyDependencies.role, [role.urn], p.name);
    });

    it("allows each action on the narrowest resource: the data volume, the region's snapshots; '*' only for Describe", () => {
        const volume = volumeArn(dataVolumeId(daily));
        const policyId = String(output(daily, "backupPolicyId").value);
        const byAction = new Map(statements(daily).flatMap((s) => s.Action.map((a) => [a, s] as const)));
        assert.deepEqual([...byAction.keys()].sort(), [
            "ec2:CreateSnapshot",
            "ec2:CreateSnapshots",
            "ec2:CreateTags",
            "ec2:DeleteSnapshot",
            "ec2:DescribeInstances",
            "ec2:DescribeSnapshots",
            "ec2:DescribeVolumes",
        ]);
        for (const a of ["ec2:CreateSnapshot", "ec2:CreateSnapshots"]) assert.deepEqual(byAction.get(a)?.Resource, [volume, SNAPSHOTS], a);
        assert.deepEqual(byAction.get("ec2:CreateTags")?.Resource, [SNAPSHOTS]);
        assert.deepEqual(byAction.get("ec2:DeleteSnapshot")?.Resource, [SNAPSHOTS]);
        // Deletes only the snapshots this policy made: the reserved tag DLM puts on them, its id.
        assert.match(policyId, /\S/);
        assert.deepEqual(byAction.get("ec2:DeleteSnapshot")?.Condition, {
            StringEquals: { "aws:ResourceTag/aws:dlm:lifecycle-policy-id": policyId },
        });
        for (const s of statements(daily)) {
            assert.equal(s.Effect, "Allow");
            for (const a of s.Action) assert.doesNotMatch(a, /\*/, `${a}: no wildcard action`);
            if (s.Resource.some((x) => x === "*" || x.endsWith(":*"))) {
                assert.ok(
                    s.Action.every((a) => a.startsWith("ec2:Describe")),
                    `'*' only for actions without resource-level permissions: ${s.Action.join(", ")}`,
                );
            }
        }
    });

    it("the snapshot permissions exist before the policy runs; the retention permission names the policy's id", () => {
        const policy = one(daily, DLM);
        const snapshot = one(daily, ROLE_POLICY, "backups-snapshot");
        const retention = one(daily, ROLE_POLICY, "backups-retention");
        assert.ok(policy.dependencies.includes(snapshot.urn));
        assert.deepEqual(snapshot.propertyDependencies.policy, [one(daily, VOLUME).urn], "a restored volume updates it");
        assert.deepEqual(retention.propertyDependencies.policy, [policy.urn]);
        assert.deepEqual(output(daily, "backupPolicyId"), { value: "backups-policy-id", secret: false });
    });
});
