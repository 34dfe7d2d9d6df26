/**
 * The instance role: trusted by EC2, handed to the instance through its profile, and allowed exactly what
 * the host's tools do. The whole program under mocks (its defaults), the Host component alone for
 * berth:dumpBucket, and the step a stack from before the role takes (the ported provider rules).
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, byType, one, ProgramResult, RecordedResource, runProgram } from "../../support/program";
import { freshState, planUpdate, programResources, showStep, type DockerResource } from "../../e2e/apply/plan";
import { hostPolicy, type PolicyDocument } from "../../../infra/host/iam";
import { BASE_HOST_ARGS, declareHosts, named, type Declared } from "./host-under-mocks";

const LOG_GROUP_ARN = "arn:aws:logs:eu-west-1:123456789012:log-group:/berth/dev";
const TLS = path.join(os.tmpdir(), `berth-iam-test-${process.pid}`);

/** The statements every host's role has: container logs to the stack's group, disk usage to Berth's namespace. */
const BASE_STATEMENTS = [
    {
        Sid: "ContainerLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [`${LOG_GROUP_ARN}:*`, `${LOG_GROUP_ARN}:log-stream:*`],
    },
    {
        Sid: "DiskMetrics",
        Effect: "Allow",
        Action: ["cloudwatch:PutMetricData"],
        Resource: ["*"],
        Condition: { StringEquals: { "cloudwatch:namespace": "Berth" } },
    },
];

/** No wildcard where a narrower resource exists: "*" only for PutMetricData, which has no resource type, and only under a condition. */
function assertLeastPrivilege(policy: PolicyDocument): void {
    for (const s of policy.Statement) {
        assert.equal(s.Effect, "Allow");
        for (const a of s.Action) assert.doesNotMatch(a, /\*/, `${s.Sid}: action ${a}`);
        if (s.Resource.includes("*")) {
            assert.deepEqual(s.Action, ["cloudwatch:PutMetricData"], `${s.Sid}: only PutMetricData may name "*"`);
            assert.deepEqual(s.Condition, { StringEquals: { "cloudwatch:namespace": "Berth" } });
        }
        for (const r of s.Resource.filter((x) => x !== "*")) assert.match(r, /^arn:aws:(logs|s3):/, `${s.Sid}: ${r}`);
    }
}

describe("the instance role under mocks (the program, its defaults)", () => {
    let r: ProgramResult;
    before(async () => {
        r = await runProgram({ config: { ...BASE_CONFIG, appDir: "test/fixtures/rails-app" }, tlsStateDir: TLS });
        assert.equal(r.error, undefined);
    });
    after(() => rmSync(TLS, { recursive: true, force: true }));
    const hostRole = () => byType(r, "aws:iam/role:Role").filter((x) => x.name === "host-role");

    it("is trusted by the EC2 service only", () => {
        const [role] = hostRole();
        assert.ok(role);
        assert.deepEqual(JSON.parse(String(role.inputs.assumeRolePolicy)), {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        });
    });

    it("reaches the instance through its profile", () => {
        const profile = one(r, "aws:iam/instanceProfile:InstanceProfile");
        assert.equal(profile.inputs.role, "host-role-0000001");
        const instance = one(r, "aws:ec2/instance:Instance");
        assert.equal(instance.inputs.iamInstanceProfile, "host-profile-0000001");
        assert.deepEqual(instance.propertyDependencies.iamInstanceProfile, [profile.urn]);
    });

    it("allows container logs into the stack's group and disk metrics into Berth's namespace, nothing else", () => {
        const policies = byType(r, "aws:iam/rolePolicy:RolePolicy").filter((x) => x.inputs.role === "host-role-0000001");
        assert.equal(policies.length, 1, "one inline policy");
        const policy = JSON.parse(String(policies[0]!.inputs.policy)) as PolicyDocument;
        assert.deepEqual(policy, { Version: "2012-10-17", Statement: BASE_STATEMENTS });
        assertLeastPrivilege(policy);
        // The ARN is the declared group's.
        assert.deepEqual(policies[0]!.propertyDependencies.policy, [one(r, "aws:cloudwatch/logGroup:LogGroup").urn]);
    });

    it("is in place before the readiness gate lets any container start (the awslogs driver needs the group and the permission)", () => {
        const gate = r.resources.find((x) => x.type === "command:local:Command" && x.name.startsWith("docker-ready"));
        assert.ok(gate, "the readiness gate");
        const policy: RecordedResource = one(r, "aws:iam/rolePolicy:RolePolicy", "host-role-policy");
        for (const x of [one(r, "aws:cloudwatch/logGroup:LogGroup"), policy]) {
            assert.ok(gate.dependencies.includes(x.urn), `the gate waits for ${x.name}`);
        }
    });

    it("comes to a stack from before it in place: the profile is associated with the running instance, never a new instance", () => {
        const now = programResources(r);
        const added = new Set(["host-role", "host-role-policy", "host-profile", "host-logs"]);
        assert.deepEqual(
            now
                .filter((x) => added.has(x.name))
                .map((x) => x.name)
                .sort(),
            [...added].sort(),
        );
        // The state such a stack has: none of the new resources, and an instance without a profile.
        const old: DockerResource[] = now
            .filter((x) => !added.has(x.name))
            .map((x) => {
                if (x.name !== "host-instance") return x;
                const inputs = { ...x.inputs };
                delete inputs.iamInstanceProfile;
                return { ...x, inputs, deps: x.deps.filter((d) => !added.has(d)) };
            });
        const show = planUpdate(freshState(old), now).map(showStep);
        assert.ok(show.includes("update host-instance (iamInstanceProfile)"), show.join("\n"));
        assert.ok(!show.some((s) => /host-instance/.test(s) && !s.startsWith("update")), show.join("\n"));
        for (const n of added)
            assert.ok(
                show.some((s) => s.startsWith(`create ${n}`)),
                `${n} is created:\n${show.join("\n")}`,
            );
    });
});

describe("the S3 statements come with berth:dumpBucket only (the component alone, under mocks)", () => {
    let declared: Declared[];
    before(async () => {
        declared = await declareHosts((Host) => {
            new Host("plain", BASE_HOST_ARGS);
            new Host("dumps", { ...BASE_HOST_ARGS, dumpBucket: true });
        });
    });
    const policyOf = (host: string) =>
        JSON.parse(String(named(declared, "aws:iam/rolePolicy:RolePolicy", `${host}-role-policy`).inputs.policy)) as PolicyDocument;

    it("without it: the logs and metrics statements, nothing on S3", () => {
        assert.deepEqual(policyOf("plain").Statement, BASE_STATEMENTS);
    });

    it("with it: listing that bucket, and writing under its dumps/ prefix, besides", () => {
        const policy = policyOf("dumps");
        assert.deepEqual(policy.Statement, [
            ...BASE_STATEMENTS,
            { Sid: "DumpsList", Effect: "Allow", Action: ["s3:ListBucket"], Resource: ["arn:aws:s3:::dumps-dumps-1234567"] },
            { Sid: "DumpsPut", Effect: "Allow", Action: ["s3:PutObject"], Resource: ["arn:aws:s3:::dumps-dumps-1234567/dumps/*"] },
        ]);
        assertLeastPrivilege(policy);
        assert.equal(named(declared, "aws:ec2/instance:Instance", "dumps-instance").inputs.iamInstanceProfile, "dumps-profile-0000001");
    });
});

describe("hostPolicy", () => {
    it("refuses what is not a log group's or a bucket's ARN, rather than grant on it", () => {
        assert.throws(() => hostPolicy({ logGroupArn: "*" }), { message: "hostPolicy: not a log group ARN: *" });
        assert.throws(() => hostPolicy({ logGroupArn: `${LOG_GROUP_ARN}:*` }), /not a log group ARN/);
        assert.throws(() => hostPolicy({ logGroupArn: LOG_GROUP_ARN, dumpBucketArn: "arn:aws:s3:::*" }), {
            message: "hostPolicy: not a bucket ARN: arn:aws:s3:::*",
        });
    });
});
