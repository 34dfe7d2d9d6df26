/**
 * Scheduled EBS snapshots of the stack's data volume by Amazon Data Lifecycle Manager (DLM): a
 * lifecycle policy that targets that one volume, and the role DLM assumes to run it, allowed only
 * what the policy does.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { BackupSchedule } from "../config";
import type { PolicyDocument } from "./iam";
export type { PolicyDocument, PolicyStatement } from "./iam";

/** Where the stack's ARNs point: the provider's partition, region and account. */
export interface AwsAccount {
    readonly partition: string;
    readonly region: string;
    readonly accountId: string;
}

/** The partition of an ARN ("arn:<partition>:service:..."), e.g. of the caller's identity. */
export function partitionOf(arn: string): string {
    const partition = arn.split(":")[1];
    if (!arn.startsWith("arn:") || !partition) throw new Error(`not an ARN: ${arn}`);
    return partition;
}

/**
 * The one schedule of the policy. Its name stays the same whatever the schedule is: DLM stops
 * managing (and so never deletes) the snapshots made under a schedule name the policy no longer
 * has (https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-lifecycle.html, "Considerations").
 */
export const DLM_SCHEDULE_NAME = "berth-data";

/**
 * DLM's create rule for the schedule: every `hours` hours from `at` (UTC), one of the intervals DLM
 * takes (https://docs.aws.amazon.com/dlm/latest/APIReference/API_CreateRule.html); undefined when off.
 */
export function dlmCreateRule(schedule: BackupSchedule): { interval: number; intervalUnit: "HOURS"; times: string } | undefined {
    if (schedule.kind === "off") return undefined;
    return { interval: schedule.hours, intervalUnit: "HOURS", times: schedule.at };
}

/** The tag DLM finds the data volume by: the Name tag the Host gives it (infra/host/index.ts). */
export function dlmTargetTags(instanceName: string): Record<string, string> {
    // One tag only: DLM targets every volume tagged with *any* of the target tags (pulumi-aws
    // sdk/nodejs/types/input.d.ts, LifecyclePolicyPolicyDetails.targetTags), so adding `berth:stack`
    // would take the root volume, which carries it too, and every other volume of the stack.
    return { Name: `${instanceName}-data` };
}

/** Trust: only Data Lifecycle Manager assumes the role (https://docs.aws.amazon.com/ebs/latest/userguide/service-role.html). */
export const DLM_TRUST_POLICY = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "dlm.amazonaws.com" }, Action: "sts:AssumeRole" }],
} as const;

/**
 * What DLM needs to snapshot the one volume (the actions of the custom role in
 * https://docs.aws.amazon.com/ebs/latest/userguide/service-role.html), each on the narrowest
 * resource the Service Authorization Reference allows
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
 */
export function dlmSnapshotPolicy(a: { account: AwsAccount; volumeId: string }): PolicyDocument {
    const { partition, region, accountId } = a.account;
    const volume = `arn:${partition}:ec2:${region}:${accountId}:volume/${a.volumeId}`;
    return {
        Version: "2012-10-17",
        Statement: [
            {
                // CreateSnapshot authorizes on both the volume and the new snapshot. CreateSnapshots
                // (DLM's multi-volume call, for INSTANCE policies) also needs the instance's ARN, which
                // is not here: listed as DLM's custom role lists it, it allows nothing more.
                Sid: "SnapshotTheDataVolume",
                Effect: "Allow",
                Action: ["ec2:CreateSnapshot", "ec2:CreateSnapshots"],
                Resource: [volume, snapshotArns(a.account)],
            },
            {
                // The policy's own tags (aws:dlm:*, dlm:managed) and the copied volume tags.
                Sid: "TagTheSnapshots",
                Effect: "Allow",
                Action: ["ec2:CreateTags"],
                Resource: [snapshotArns(a.account)],
            },
            {
                // The Describe actions take no resource-level permission: their only resource is "*"
                // (Service Authorization Reference for Amazon EC2, above: DescribeInstances,
                // DescribeSnapshots and DescribeVolumes have no resource type).
                Sid: "DescribeHasNoResourceLevelPermission",
                Effect: "Allow",
                Action: ["ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:DescribeVolumes"],
                Resource: ["*"],
            },
        ],
    };
}

/**
 * Retention deletes only what this policy made: DLM tags its snapshots with its id under the
 * reserved aws: prefix, which no one else can set
 * (https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-lifecycle.html, "Amazon Data Lifecycle
 * Manager tags"); dlm:managed is not reserved, anyone may tag a snapshot with it.
 */
export function dlmRetentionPolicy(a: { account: AwsAccount; policyId: string }): PolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DeleteOnlyThisPolicysSnapshots",
                Effect: "Allow",
                Action: ["ec2:DeleteSnapshot"],
                Resource: [snapshotArns(a.account)],
                Condition: { StringEquals: { "aws:ResourceTag/aws:dlm:lifecycle-policy-id": a.policyId } },
            },
        ],
    };
}

/** The region's snapshots: snapshot ARNs have no account (arn:aws:ec2:region::snapshot/id). */
function snapshotArns(account: AwsAccount): string {
    return `arn:${account.partition}:ec2:${account.region}::snapshot/*`;
}

/** DLM's description takes letters, digits, spaces, '_' and '-' only (API_CreateLifecyclePolicy, Description). */
export function dlmDescription(instanceName: string): string {
    return `Berth ${instanceName.replace(/[^0-9A-Za-z _-]/g, "-")} data volume`;
}

export interface BackupsArgs {
    /** The Host's instanceName: its data volume carries the Name tag `<instanceName>-data`. */
    instanceName: string;
    schedule: Exclude<BackupSchedule, { kind: "off" }>;
    /** Scheduled snapshots kept; DLM deletes the oldest past this count. */
    retain: number;
    /** The data volume: the only one the role may snapshot. */
    dataVolumeId: pulumi.Input<string>;
    account: AwsAccount;
}

/** The lifecycle policy, its role and the role's permissions. */
export class Backups extends pulumi.ComponentResource {
    public readonly policyId: pulumi.Output<string>;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:Backups", name, {}, opts);
        const child = { parent: this };
        const tags = { Name: `${args.instanceName}-backups`, "berth:stack": pulumi.getStack() };

        const role = new aws.iam.Role(
            `${name}-role`,
            {
                description: `Data Lifecycle Manager: scheduled snapshots of ${args.instanceName}'s data volume`,
                assumeRolePolicy: JSON.stringify(DLM_TRUST_POLICY),
                tags,
            },
            child,
        );
        // Snapshotting first, so the policy can run as soon as it exists.
        const snapshotting = new aws.iam.RolePolicy(
            `${name}-snapshot`,
            {
                role: role.id,
                policy: pulumi
                    .output(args.dataVolumeId)
                    .apply((volumeId) => JSON.stringify(dlmSnapshotPolicy({ account: args.account, volumeId }))),
            },
            child,
        );
        const createRule = dlmCreateRule(args.schedule)!;
        // The provider retries the create while IAM has not yet propagated the new role
        // (hashicorp/terraform-provider-aws internal/service/dlm/lifecycle_policy.go,
        // resourceLifecyclePolicyCreate: RetryWhenIsA InvalidRequestException).
        const policy = new aws.dlm.LifecyclePolicy(
            `${name}-policy`,
            {
                description: dlmDescription(args.instanceName),
                executionRoleArn: role.arn,
                state: "ENABLED",
                policyDetails: {
                    policyType: "EBS_SNAPSHOT_MANAGEMENT",
                    resourceTypes: ["VOLUME"],
                    targetTags: dlmTargetTags(args.instanceName),
                    schedules: [
                        {
                            name: DLM_SCHEDULE_NAME,
                            createRule,
                            retainRule: { count: args.retain },
                            // The volume's Name and berth:stack tags: a snapshot says whose it is.
                            copyTags: true,
                        },
                    ],
                },
                tags,
            },
            { ...child, dependsOn: [snapshotting] },
        );
        // Deleting names the policy, so it comes after it: the first deletion is `retain` runs away.
        new aws.iam.RolePolicy(
            `${name}-retention`,
            {
                role: role.id,
                policy: policy.id.apply((policyId) => JSON.stringify(dlmRetentionPolicy({ account: args.account, policyId }))),
            },
            child,
        );

        this.policyId = policy.id;
        this.registerOutputs({ policyId: this.policyId });
    }
}
