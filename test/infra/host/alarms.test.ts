// Alerts under mocks: the stack's SNS topic (encrypted with a key CloudWatch may use, mailed to
// alertEmail), the status check alarms with EC2's recover and reboot actions, and the disk alarms on
// the metric the host publishes; and the rule of which instance types EC2 recovers.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BASE_CONFIG, byType, one, output, type ProgramResult, type RecordedResource, runProgram } from "../../support/program";
import { ec2ActionArn, recoverSupport, recoverWarning } from "../../../infra/host/alarms";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const TOPIC = "aws:sns/topic:Topic";
const SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription";
const KEY = "aws:kms/key:Key";
/** What the mocks answer: the topic's ARN for its name prefix, the region (test/support/mocks.ts). */
const TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:berth-dev-alerts-0000001";
const RECOVER = "arn:aws:automate:eu-west-1:ec2:recover";
const REBOOT = "arn:aws:automate:eu-west-1:ec2:reboot";
const EMAIL = "ops@example.com";

const instanceId = (r: ProgramResult) => String(one(r, "aws:ec2/eipAssociation:EipAssociation").inputs.instanceId);
const alarms = (r: ProgramResult) => byType(r, ALARM);
/** The alarm on `metric` (and `path` for the disk metric), the only one with that reading. */
function alarm(r: ProgramResult, metric: string, path?: string, statistic?: string): RecordedResource["inputs"] {
    const found = alarms(r)
        .map((a) => a.inputs)
        .filter((a) => a.metricName === metric)
        .filter((a) => path === undefined || (a.dimensions as Record<string, string>).Path === path)
        .filter((a) => statistic === undefined || a.statistic === statistic);
    assert.equal(found.length, 1, `one alarm on ${metric} ${path ?? ""} ${statistic ?? ""}`);
    return found[0]!;
}
const sorted = (v: unknown) => [...(v as string[])].sort();

describe("which instance types EC2 recovers", () => {
    const table: [string, boolean, RegExp?][] = [
        ["t3.small", true],
        ["t4g.small", true],
        ["t3a.micro", true],
        ["m5.large", true],
        ["m7i.xlarge", true],
        ["c6g.medium", true],
        ["r5b.large", true],
        ["inf1.xlarge", true],
        ["u-6tb1.112xlarge", true],
        // Instance store, and recovered all the same (the data on it is lost).
        ["m3.medium", true],
        ["c3.large", true],
        ["x1e.xlarge", true],
        ["x2idn.16xlarge", true],
        ["x2iedn.xlarge", true],
        // Instance store: a "d" after the generation.
        ["m5d.large", false, /instance store/],
        ["c6gd.medium", false, /instance store/],
        ["r5ad.large", false, /instance store/],
        ["m5dn.large", false, /instance store/],
        ["g4dn.xlarge", false, /instance store/],
        ["z1d.large", false, /instance store/],
        ["x2gd.medium", false, /instance store/],
        // Instance store by family: storage optimized, NVMe accelerated.
        ["i3.large", false, /instance store/],
        ["i4i.xlarge", false, /instance store/],
        ["im4gn.large", false, /instance store/],
        ["is4gen.medium", false, /instance store/],
        ["d3.xlarge", false, /instance store/],
        ["h1.2xlarge", false, /instance store/],
        ["g5.xlarge", false, /instance store/],
        ["p5.48xlarge", false, /instance store/],
        ["trn1.2xlarge", false, /instance store/],
        // Bare metal.
        ["m5.metal", false, /bare metal/],
        ["c7i.metal-24xl", false, /bare metal/],
        ["mac1.metal", false, /bare metal/],
        ["u-6tb1.metal", false, /bare metal/],
    ];
    for (const [type, supported, reason] of table) {
        it(`${type}: ${supported ? "recovered" : `not recovered (${String(reason)})`}`, () => {
            const got = recoverSupport(type);
            assert.equal(got.supported, supported);
            if (!got.supported) assert.match(got.reason, reason!);
        });
    }

    it("the warning names the key, the type and the reason", () => {
        const w = recoverWarning("m5d.large", "it has instance store volumes, which EC2 does not recover");
        assert.match(w, /^berth:instanceType m5d\.large: /);
        assert.match(w, /instance store volumes/);
        assert.match(w, /stop and start the instance yourself/);
    });

    it("names EC2's actions in the region and partition", () => {
        assert.equal(ec2ActionArn("us-east-1", "recover"), "arn:aws:automate:us-east-1:ec2:recover");
        assert.equal(ec2ActionArn("cn-north-1", "reboot", "aws-cn"), "arn:aws-cn:automate:cn-north-1:ec2:reboot");
    });
});

describe("alerts under mocks", () => {
    let t3: ProgramResult;
    let t4g: ProgramResult;
    let m5d: ProgramResult;
    let metal: ProgramResult;
    before(async () => {
        [t3, t4g] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, alertEmail: EMAIL } }),
            runProgram({ config: { ...BASE_CONFIG, instanceType: "t4g.small" } }),
        ]);
        [m5d, metal] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, instanceType: "m5d.large" } }),
            runProgram({ config: { ...BASE_CONFIG, instanceType: "m5.metal" } }),
        ]);
        for (const r of [t3, t4g, m5d, metal]) assert.equal(r.error, undefined);
    });

    it("one topic per stack, encrypted with a key whose policy lets CloudWatch alarms publish to it", () => {
        const topic = one(t3, TOPIC);
        const key = one(t3, KEY);
        assert.equal(topic.inputs.namePrefix, "berth-dev-alerts-");
        // Not the AWS managed alias/aws/sns: its policy cannot let cloudwatch.amazonaws.com use it.
        assert.deepEqual(topic.propertyDependencies.kmsMasterKeyId, [key.urn]);
        assert.match(String(topic.inputs.kmsMasterKeyId), /^arn:aws:kms:/);
        assert.equal(key.inputs.enableKeyRotation, true);
        const policy = JSON.parse(String(key.inputs.policy)) as {
            Statement: { Principal: Record<string, string>; Action: string | string[] }[];
        };
        const cloudwatch = policy.Statement.find((s) => s.Principal.Service === "cloudwatch.amazonaws.com");
        assert.deepEqual(sorted(cloudwatch?.Action), ["kms:Decrypt", "kms:GenerateDataKey*"]);
        assert.ok(policy.Statement.some((s) => s.Principal.AWS === "arn:aws:iam::123456789012:root" && s.Action === "kms:*"));
        assert.deepEqual(output(t3, "alertTopicArn"), { value: TOPIC_ARN, secret: false });
    });

    it("subscribes alertEmail by email; none without it", () => {
        const subscription = one(t3, SUBSCRIPTION);
        assert.deepEqual(subscription.inputs, { topic: TOPIC_ARN, protocol: "email", endpoint: EMAIL });
        assert.deepEqual(subscription.propertyDependencies.topic, [one(t3, TOPIC).urn]);
        for (const r of [t4g, m5d, metal]) {
            assert.deepEqual(byType(r, SUBSCRIPTION), []);
            assert.equal(byType(r, TOPIC).length, 1, "the topic stays: its ARN is an output, the alarms publish to it");
        }
    });

    it("the system status check: Maximum >= 1 for 2 of 2 minutes on the instance, recovers it and mails the topic", () => {
        for (const r of [t3, t4g]) {
            const a = alarm(r, "StatusCheckFailed_System");
            assert.equal(a.namespace, "AWS/EC2");
            assert.deepEqual(a.dimensions, { InstanceId: instanceId(r) });
            assert.equal(a.statistic, "Maximum");
            assert.equal(a.period, 60);
            assert.equal(a.evaluationPeriods, 2);
            assert.equal(a.datapointsToAlarm, 2);
            assert.equal(a.threshold, 1);
            assert.equal(a.comparisonOperator, "GreaterThanOrEqualToThreshold");
            assert.deepEqual(sorted(a.alarmActions), [RECOVER, TOPIC_ARN]);
        }
        for (const r of [t3, t4g])
            assert.deepEqual(
                r.logs.filter((l) => l.message.includes("instanceType")),
                [],
                "no warning for a type EC2 recovers",
            );
    });

    for (const [label, get, type, reason] of [
        ["m5d.large (instance store)", () => m5d, "m5d.large", /instance store/],
        ["m5.metal (bare metal)", () => metal, "m5.metal", /bare metal/],
    ] as const) {
        it(`${label}: no recover action, the topic only, and a warning naming the type and why`, () => {
            const r = get();
            assert.deepEqual(alarm(r, "StatusCheckFailed_System").alarmActions, [TOPIC_ARN]);
            assert.ok(!alarms(r).some((a) => (a.inputs.alarmActions as string[]).includes(RECOVER)));
            const warnings = r.logs.filter((l) => l.level === "warn" && l.message.includes("instanceType"));
            assert.equal(warnings.length, 1, JSON.stringify(r.logs));
            assert.ok(warnings[0]!.message.startsWith(`berth:instanceType ${type}: `), warnings[0]!.message);
            assert.match(warnings[0]!.message, reason);
        });
    }

    it("the instance status check: 3 of 3 minutes, reboots the instance and mails the topic", () => {
        for (const r of [t3, m5d, metal]) {
            const a = alarm(r, "StatusCheckFailed_Instance");
            assert.equal(a.namespace, "AWS/EC2");
            assert.deepEqual(a.dimensions, { InstanceId: instanceId(r) });
            assert.equal(a.statistic, "Maximum");
            assert.equal(a.period, 60);
            assert.equal(a.evaluationPeriods, 3);
            assert.equal(a.threshold, 1);
            assert.equal(a.comparisonOperator, "GreaterThanOrEqualToThreshold");
            assert.deepEqual(sorted(a.alarmActions), [REBOOT, TOPIC_ARN]);
        }
    });

    it("disk usage: Berth/DiskUsedPercent per instance and path, >= 85 for 2 of 2 five-minute periods, to the topic", () => {
        for (const path of ["/", "/opt/data"]) {
            const a = alarm(t3, "DiskUsedPercent", path, "Maximum");
            assert.equal(a.namespace, "Berth");
            assert.deepEqual(a.dimensions, { InstanceId: instanceId(t3), Path: path });
            assert.equal(a.period, 300);
            assert.equal(a.evaluationPeriods, 2);
            assert.equal(a.datapointsToAlarm, 2);
            assert.equal(a.threshold, 85);
            assert.equal(a.comparisonOperator, "GreaterThanOrEqualToThreshold");
            // A silent host is not a full disk: the heartbeat below says it.
            assert.equal(a.treatMissingData, "missing");
            assert.deepEqual(a.alarmActions, [TOPIC_ARN]);
        }
    });

    it("a host that stops publishing alarms: no datapoint for 15 minutes counts as breaching", () => {
        const a = alarm(t3, "DiskUsedPercent", "/", "SampleCount");
        assert.equal(a.namespace, "Berth");
        assert.deepEqual(a.dimensions, { InstanceId: instanceId(t3), Path: "/" });
        assert.equal(a.period, 300);
        assert.equal(a.evaluationPeriods, 3);
        assert.equal(a.threshold, 1);
        assert.equal(a.comparisonOperator, "LessThanThreshold");
        assert.equal(a.treatMissingData, "breaching");
        assert.deepEqual(a.alarmActions, [TOPIC_ARN]);
    });

    it("every alarm is the stack's, mails the topic when it fires and when it clears, and only the status checks act on EC2", () => {
        assert.equal(alarms(t3).length, 5);
        for (const { inputs: a, name } of alarms(t3)) {
            assert.ok(String(a.name).startsWith("berth-dev-"), `${name}: ${String(a.name)}`);
            assert.ok((a.alarmActions as string[]).includes(TOPIC_ARN), name);
            assert.deepEqual(a.okActions, [TOPIC_ARN], name);
            if (a.namespace !== "AWS/EC2") assert.ok(!(a.alarmActions as string[]).some((x) => x.includes(":automate:")), name);
        }
        assert.equal(new Set(alarms(t3).map((a) => a.inputs.name)).size, 5, "distinct names");
    });
});
