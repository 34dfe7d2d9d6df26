/**
 * The host's instance role: what dockerd (container logs), the disk-usage publisher and the dumps' copy
 * may do with the instance's credentials, and nothing else. The policy is a pure function of the ARNs
 * it names; the resources only wire it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { METRIC_NAMESPACE } from "../../cloud-config";

/** Where the dumps go in the bucket: the sync's destination prefix, and all the role may write. */
export const DUMPS_PREFIX = "dumps/";

export interface PolicyStatement {
    Sid: string;
    Effect: "Allow";
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: PolicyStatement[];
}

/** EC2 may hand the role to the instance (the instance profile's role must trust the EC2 service). */
export const EC2_TRUST_POLICY = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
} as const;

export interface HostPolicyInput {
    /** The stack's log group ARN as the provider reports it: without the `:*` suffix (logs/group.go, resourceGroupFlatten). */
    logGroupArn: string;
    /** The dumps bucket's ARN; undefined: no S3 statement at all. */
    dumpBucketArn?: string;
}

/** The instance role's permissions: each statement on the narrowest resource the action takes. */
export function hostPolicy(i: HostPolicyInput): PolicyDocument {
    if (!/^arn:[a-z-]+:logs:[a-z0-9-]+:\d{12}:log-group:[^:*]+$/.test(i.logGroupArn)) {
        throw new Error(`hostPolicy: not a log group ARN: ${i.logGroupArn}`);
    }
    if (i.dumpBucketArn !== undefined && !/^arn:[a-z-]+:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(i.dumpBucketArn)) {
        throw new Error(`hostPolicy: not a bucket ARN: ${i.dumpBucketArn}`);
    }
    const statements: PolicyStatement[] = [
        {
            // dockerd's awslogs driver creates one stream per container and puts its events there; it needs
            // nothing else (https://docs.docker.com/engine/logging/drivers/awslogs/#credentials). The group is
            // Berth's, so no logs:CreateLogGroup. PutLogEvents is authorized on the log stream's ARN,
            // CreateLogStream on the group's, in its `:*` form
            // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
            Sid: "ContainerLogs",
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
            Resource: [`${i.logGroupArn}:*`, `${i.logGroupArn}:log-stream:*`],
        },
        {
            // PutMetricData has no resource type: its Resource can only be "*"
            // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
            // The cloudwatch:namespace condition keeps it to Berth's own namespace
            // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
            Sid: "DiskMetrics",
            Effect: "Allow",
            Action: ["cloudwatch:PutMetricData"],
            Resource: ["*"],
            Condition: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
        },
    ];
    if (i.dumpBucketArn !== undefined) {
        statements.push(
            {
                // `aws s3 sync` lists the destination to compare before it uploads (ListObjectsV2: s3:ListBucket,
                // on the bucket's ARN).
                Sid: "DumpsList",
                Effect: "Allow",
                Action: ["s3:ListBucket"],
                Resource: [i.dumpBucketArn],
            },
            {
                // Uploads, multipart ones included (CreateMultipartUpload, UploadPart and CompleteMultipartUpload
                // are all authorized as s3:PutObject), under the dumps' prefix only. No read, no delete: a stolen
                // instance credential can add dumps but neither read nor remove the ones there.
                Sid: "DumpsPut",
                Effect: "Allow",
                Action: ["s3:PutObject"],
                Resource: [`${i.dumpBucketArn}/${DUMPS_PREFIX}*`],
            },
        );
    }
    return { Version: "2012-10-17", Statement: statements };
}

export interface InstanceRoleArgs {
    /** The stack's log group ARN. */
    logGroupArn: pulumi.Input<string>;
    /** The dumps bucket's ARN; undefined: no S3 access. */
    dumpBucketArn?: pulumi.Input<string>;
    tags: Record<string, string>;
}

export interface InstanceRole {
    role: aws.iam.Role;
    policy: aws.iam.RolePolicy;
    profile: aws.iam.InstanceProfile;
}

/**
 * The role, its one inline policy and the instance profile that hands it to the instance. Names are
 * generated (IAM names are account-wide, so two stacks named alike in two regions do not clash).
 */
export function instanceRole(name: string, args: InstanceRoleArgs, opts: pulumi.CustomResourceOptions): InstanceRole {
    const role = new aws.iam.Role(
        `${name}-role`,
        {
            description: "Berth host: ships container logs, publishes disk usage, copies the dumps",
            assumeRolePolicy: JSON.stringify(EC2_TRUST_POLICY),
            tags: args.tags,
        },
        opts,
    );
    const policy = new aws.iam.RolePolicy(
        `${name}-role-policy`,
        {
            // The role's id is its name (terraform-provider-aws internal/service/iam/role.go).
            role: role.id,
            policy: pulumi
                .all([args.logGroupArn, args.dumpBucketArn])
                .apply(([logGroupArn, dumpBucketArn]) => JSON.stringify(hostPolicy({ logGroupArn, dumpBucketArn }))),
        },
        opts,
    );
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.id, tags: args.tags }, opts);
    return { role, policy, profile };
}
