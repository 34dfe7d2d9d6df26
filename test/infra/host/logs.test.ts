/**
 * The containers' logs in CloudWatch Logs and the dumps' S3 bucket: the whole program under mocks (its
 * defaults), and the Host component alone for its day-2 arguments.
 */
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { BASE_CONFIG, one, output, ProgramResult, runProgram } from "../../support/program";
import { DISK_METRIC, DUMPS_DIR } from "../../../cloud-config";
import { DISK_METRIC_DIMENSIONS, DISK_METRIC_NAME, DISK_METRIC_NAMESPACE, DISK_METRIC_PATHS } from "../../../infra/host/alarms";
import { BASE_HOST_ARGS, declareHosts, named, type Declared } from "./host-under-mocks";

interface Doc {
    write_files: { path: string; permissions: string; content: string }[];
    coreos: { units: { name: string; enable?: boolean; command?: string; drop_ins?: { name: string; content: string }[] }[] };
}
const parseUserData = (userData: string): Doc => {
    assert.match(userData, /^#cloud-config\n/);
    return yaml.load(userData) as Doc;
};
const daemonJson = (d: Doc) =>
    JSON.parse(d.write_files.find((f) => f.path === "/etc/docker/daemon.json")!.content) as Record<string, unknown>;

describe("container logs under mocks (the program, its defaults)", () => {
    let r: ProgramResult;
    before(async () => {
        r = await runProgram({ config: { ...BASE_CONFIG, appDir: "test/fixtures/rails-app" } });
        assert.equal(r.error, undefined);
    });

    it("declares the stack's log group, /berth/<stack>, kept 14 days", () => {
        const group = one(r, "aws:cloudwatch/logGroup:LogGroup").inputs;
        assert.equal(group.name, "/berth/dev");
        assert.equal(group.retentionInDays, 14);
    });

    it("makes awslogs dockerd's default log driver, into that group in the provider's region, one stream per container name", () => {
        const d = parseUserData(String(one(r, "aws:ec2/instance:Instance").inputs.userData));
        assert.deepEqual(daemonJson(d), {
            "log-driver": "awslogs",
            "log-opts": {
                "awslogs-group": "/berth/dev",
                "awslogs-region": "eu-west-1",
                mode: "non-blocking",
                "max-buffer-size": "4m",
                tag: "{{.Name}}",
            },
        });
        assert.ok(
            r.invokes.some((i) => i.token === "aws:index/getRegion:getRegion"),
            "the region is the provider's",
        );
    });

    it("adds no secret to the user data: still a Pulumi secret, still one private key, no AWS credential", () => {
        const instance = one(r, "aws:ec2/instance:Instance");
        assert.ok(instance.secretInputs.includes("userData"));
        const userData = String(instance.inputs.userData);
        assert.equal(userData.match(/PRIVATE KEY-----/g)?.length, 2);
        assert.doesNotMatch(userData, /AKIA|aws_access_key_id|aws_secret_access_key|AWS_SECRET|AWS_SESSION_TOKEN|password/i);
        // Its new parts name only the group, the region and the image.
        const d = parseUserData(userData);
        assert.deepEqual(
            d.write_files.map((f) => f.path).filter((p) => !p.startsWith("/etc/docker/") || p === "/etc/docker/daemon.json"),
            ["/opt/berth/bin/format-data", "/etc/docker/daemon.json", "/opt/berth/bin/disk-metrics"],
        );
    });

    it("publishes the disk usage on a timer, and copies no dump without berth:dumpBucket", () => {
        const d = parseUserData(String(one(r, "aws:ec2/instance:Instance").inputs.userData));
        const timer = d.coreos.units.find((u) => u.name === "berth-disk-metrics.timer");
        assert.equal(timer?.enable, true);
        assert.ok(!d.coreos.units.some((u) => u.name.startsWith("berth-dumps-sync")));
        assert.equal(r.resources.filter((x) => x.type.startsWith("aws:s3/")).length, 0);
        assert.equal(r.outputs.dumpBucket, undefined);
    });

    it("publishes exactly the metric the disk alarms read: namespace, name, paths", () => {
        assert.equal(DISK_METRIC.namespace, DISK_METRIC_NAMESPACE);
        assert.equal(DISK_METRIC.name, DISK_METRIC_NAME);
        assert.deepEqual(DISK_METRIC.paths, DISK_METRIC_PATHS);
        // The publisher's dimensions, as its script writes them.
        assert.deepEqual(DISK_METRIC_DIMENSIONS, { instanceId: "InstanceId", path: "Path" });
    });

    it("prints the command that follows the app's logs in CloudWatch Logs, beside the docker one", () => {
        const container = String(output(r, "appContainer").value);
        assert.equal(
            output(r, "cloudWatchLogsCommand").value,
            `aws logs tail /berth/dev --follow --log-stream-names ${container} --region eu-west-1`,
        );
        assert.equal(
            output(r, "logsCommand").value,
            `docker --context berth-dev logs --follow ${container}  # or, from CloudWatch Logs: aws logs tail /berth/dev --follow --log-stream-names ${container} --region eu-west-1`,
        );
    });
});

describe("the Host's day-2 arguments (the component alone, under mocks)", () => {
    let declared: Declared[];
    before(async () => {
        declared = await declareHosts((Host) => {
            new Host("plain", BASE_HOST_ARGS);
            new Host("kept30", { ...BASE_HOST_ARGS, logRetentionDays: 30 });
            new Host("dumps", { ...BASE_HOST_ARGS, dumpBucket: true });
        });
    });
    const userData = (host: string) => {
        const instance = named(declared, "aws:ec2/instance:Instance", `${host}-instance`);
        assert.ok(instance.secretInputs.includes("userData"), "user data stays a secret");
        return parseUserData(String(instance.inputs.userData));
    };

    it("keeps the logs as long as berth:logRetentionDays says: 14 by default, 30 when set", () => {
        assert.equal(named(declared, "aws:cloudwatch/logGroup:LogGroup", "plain-logs").inputs.retentionInDays, 14);
        assert.equal(named(declared, "aws:cloudwatch/logGroup:LogGroup", "kept30-logs").inputs.retentionInDays, 30);
        assert.equal(named(declared, "aws:cloudwatch/logGroup:LogGroup", "kept30-logs").inputs.name, "/berth/dev");
    });

    it("declares a bucket only with dumpBucket: encrypted, versioned, old dumps expired, every public access blocked, never emptied", () => {
        for (const host of ["plain", "kept30"]) {
            assert.equal(declared.filter((d) => d.type.startsWith("aws:s3/") && d.name.startsWith(`${host}-`)).length, 0, host);
        }
        const bucket = named(declared, "aws:s3/bucket:Bucket", "dumps-dumps").inputs;
        assert.equal(bucket.forceDestroy, false);
        const of = (type: string, name: string) => {
            const x = named(declared, type, name).inputs;
            assert.equal(x.bucket, "dumps-dumps-1234567", `${name} is the bucket's`);
            return x;
        };
        assert.deepEqual(
            of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "dumps-dumps-encryption").rules,
            [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
        );
        assert.deepEqual(of("aws:s3/bucketVersioning:BucketVersioning", "dumps-dumps-versioning").versioningConfiguration, {
            status: "Enabled",
        });
        const pab = of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "dumps-dumps-public-access");
        for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"])
            assert.equal(pab[k], true, k);
        const [rule, ...others] = of("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "dumps-dumps-lifecycle")
            .rules as Record<string, unknown>[];
        assert.equal(others.length, 0);
        assert.equal(rule!.status, "Enabled");
        assert.deepEqual(rule!.filter, {}, "every object");
        assert.deepEqual(rule!.expiration, { days: 90 });
        assert.deepEqual(rule!.noncurrentVersionExpiration, { noncurrentDays: 30 });
    });

    it("copies the dumps to that bucket from the dump step's directory, every 15 minutes", () => {
        const d = userData("dumps");
        const service = d.coreos.units.find((u) => u.name === "berth-dumps-sync.service");
        const env = service?.drop_ins?.find((x) => x.name === "10-aws.conf")?.content ?? "";
        assert.match(env, /BERTH_DUMP_BUCKET=dumps-dumps-1234567 /);
        assert.match(env, new RegExp(`BERTH_DUMPS_DIR=${DUMPS_DIR} `));
        assert.equal(d.coreos.units.find((u) => u.name === "berth-dumps-sync.timer")?.enable, true);
        assert.ok(!userData("plain").coreos.units.some((u) => u.name.startsWith("berth-dumps-sync")));
        // The daemon configuration is the same with or without the copy.
        assert.deepEqual(daemonJson(d), daemonJson(userData("plain")));
    });
});
