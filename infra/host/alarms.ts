/**
 * Alerts of target aws: an SNS topic per stack (mailed to `alertEmail` once the address confirms),
 * and CloudWatch alarms on the instance: its two status checks (the system one recovers the
 * instance where EC2 can, the instance one reboots it) and the disk usage the host publishes.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { AwsAccount } from "./backups";

/**
 * The disk-usage metric the host publishes, and the alarms read: namespace, name, dimensions
 * (`InstanceId`: the instance's id; `Path`: one of DISK_METRIC_PATHS), one datapoint per path every
 * DISK_METRIC_PERIOD_SECONDS, in percent of the filesystem's size.
 */
export const DISK_METRIC_NAMESPACE = "Berth";
export const DISK_METRIC_NAME = "DiskUsedPercent";
export const DISK_METRIC_DIMENSIONS = { instanceId: "InstanceId", path: "Path" } as const;
/** The root filesystem and the data volume (mounted by cloud-config). */
export const DISK_METRIC_PATHS = ["/", "/opt/data"] as const;
export const DISK_METRIC_PERIOD_SECONDS = 300;
/** A filesystem this full (percent), two periods in a row, alarms. */
export const DISK_ALARM_THRESHOLD_PERCENT = 85;

/** Why EC2 cannot recover an instance of this type, or undefined when it can. */
export type RecoverSupport = { supported: true } | { supported: false; reason: string };

/** Families with instance store volumes that CloudWatch action based recovery still recovers (the data on them is lost). */
const INSTANCE_STORE_RECOVERABLE = new Set(["m3", "c3", "r3", "x1", "x1e", "x2idn", "x2iedn"]);
/** Families whose every size has instance store volumes though their name has no "d": storage optimized, and NVMe accelerated ones. */
const INSTANCE_STORE_FAMILIES = new Set(["h1", "f1", "f2", "g5", "g6", "g6e", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2", "dl1"]);

/**
 * Whether a CloudWatch alarm's recover action (arn:aws:automate:<region>:ec2:recover) can recover an
 * instance of this type. The rule, from the EC2 User Guide's "Recover your instance"
 * (awsdocs/amazon-ec2-user-guide doc_source/ec2-instance-recover.md, "Amazon CloudWatch action based
 * recovery" and "Limitations"; now https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cloudwatch-recovery.html):
 * metal instance types are not supported, nor are instances with instance store volumes, except
 * M3, C3, R3, X1, X1e, X2idn and X2iedn. Instance store families are the ones with a "d" among the
 * attributes after the generation (m5d, c6gd, r5ad, g4dn), the storage optimized ones (D, H, I) and
 * a few accelerated ones. EC2 itself answers the same question per type in DescribeInstanceTypes'
 * AutoRecoverySupported.
 */
export function recoverSupport(instanceType: string): RecoverSupport {
    const [family = "", size = ""] = instanceType.toLowerCase().split(".");
    if (size === "metal" || size.startsWith("metal-")) {
        return { supported: false, reason: "it is a bare metal type, which EC2 does not recover" };
    }
    if (INSTANCE_STORE_RECOVERABLE.has(family)) return { supported: true };
    // <series><generation><attributes>: m5d → m, 5, d; the high memory (u-6tb1) and mac families have no attributes.
    const parts = /^([a-z]+)(\d+)([a-z]*)$/.exec(family);
    const series = parts?.[1] ?? "";
    const attributes = parts?.[3] ?? "";
    if (attributes.includes("d") || ["d", "i", "im", "is"].includes(series) || INSTANCE_STORE_FAMILIES.has(family)) {
        return { supported: false, reason: "it has instance store volumes, which EC2 does not recover" };
    }
    return { supported: true };
}

/** The warning `pulumi up` prints when the system status check alarm cannot recover the instance. */
export function recoverWarning(instanceType: string, reason: string): string {
    return (
        `berth:instanceType ${instanceType}: the instance will not be recovered automatically when AWS hardware fails ` +
        `(${reason}: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cloudwatch-recovery.html); ` +
        `its system status check alarm only mails the alert topic, then stop and start the instance yourself ` +
        `(docs/operations.md#replacing-the-host). A type without "d" and not metal (e.g. m5 for m5d) is recovered.`
    );
}

/** The EC2 actions a CloudWatch alarm can take on its instance (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/UsingAlarmActions.html). */
export function ec2ActionArn(region: string, action: "recover" | "reboot", partition = "aws"): string {
    return `arn:${partition}:automate:${region}:ec2:${action}`;
}

/**
 * The topic's key policy. The AWS managed key alias/aws/sns cannot be used: its key policy cannot
 * be changed, and CloudWatch alarms publish to an encrypted topic only when the key policy lets
 * cloudwatch.amazonaws.com use the key ("Enable compatibility between event sources from AWS
 * services and encrypted topics", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services);
 * with it, every alarm notification would be dropped. In a key policy, Resource "*" is this key
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html). The account keeps
 * the default statement, without which the key could not be administered at all
 * (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
 */
export function topicKeyPolicy(account: AwsAccount): object {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "TheAccountAdministersTheKey",
                Effect: "Allow",
                Principal: { AWS: `arn:${account.partition}:iam::${account.accountId}:root` },
                Action: "kms:*",
                Resource: "*",
            },
            {
                Sid: "CloudWatchAlarmsPublishToTheTopic",
                Effect: "Allow",
                Principal: { Service: "cloudwatch.amazonaws.com" },
                Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
                Resource: "*",
            },
        ],
    };
}

/** SNS topic names take letters, digits, '-' and '_' (CreateTopic, Name); instanceName may have dots. */
function topicNamePrefix(instanceName: string): string {
    return `${instanceName.replace(/[^A-Za-z0-9_-]/g, "-")}-alerts-`;
}

export interface AlertsArgs {
    /** The Host's instanceName: the alarms' names start with it. */
    instanceName: string;
    instanceId: pulumi.Input<string>;
    instanceType: string;
    /** Subscribed to the topic by email when set (the address must confirm the subscription). */
    alertEmail?: string;
    account: AwsAccount;
}

/** The topic, its key, the optional email subscription and the alarms. */
export class Alerts extends pulumi.ComponentResource {
    public readonly topicArn: pulumi.Output<string>;

    constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:Alerts", name, {}, opts);
        const child = { parent: this };
        const stack = pulumi.getStack();
        const tags = { Name: `${args.instanceName}-alerts`, "berth:stack": stack };

        const key = new aws.kms.Key(
            `${name}-key`,
            {
                description: `Berth ${args.instanceName}: encrypts the alert topic`,
                enableKeyRotation: true,
                deletionWindowInDays: 7,
                policy: JSON.stringify(topicKeyPolicy(args.account)),
                tags,
            },
            child,
        );
        const topic = new aws.sns.Topic(
            `${name}-topic`,
            {
                namePrefix: topicNamePrefix(args.instanceName),
                displayName: `Berth ${args.instanceName}`,
                kmsMasterKeyId: key.arn,
                tags,
            },
            child,
        );
        if (args.alertEmail !== undefined) {
            // Email subscriptions stay pending until the address confirms them through the link SNS
            // mails; nothing is delivered before that.
            new aws.sns.TopicSubscription(`${name}-email`, { topic: topic.arn, protocol: "email", endpoint: args.alertEmail }, child);
        }

        const { region, partition } = args.account;
        const onInstance = { [DISK_METRIC_DIMENSIONS.instanceId]: args.instanceId };
        const alarm = (suffix: string, a: Omit<aws.cloudwatch.MetricAlarmArgs, "name" | "tags" | "okActions">) =>
            new aws.cloudwatch.MetricAlarm(
                `${name}-${suffix}`,
                // The name says which stack in the notification's subject; OK is mailed too, so an
                // alarm that clears says so.
                { ...a, name: `${args.instanceName}-${suffix}`, okActions: [topic.arn], tags },
                child,
            );

        // AWS hardware or network under the instance failed. Recovery moves the instance to other
        // hardware with the same id, addresses, EBS volumes and metadata.
        const recover = recoverSupport(args.instanceType);
        if (!recover.supported) void pulumi.log.warn(recoverWarning(args.instanceType, recover.reason));
        alarm("system-status", {
            alarmDescription: "AWS hardware or network under the instance failed its status check",
            namespace: "AWS/EC2",
            metricName: "StatusCheckFailed_System",
            dimensions: onInstance,
            statistic: "Maximum",
            period: 60,
            evaluationPeriods: 2,
            datapointsToAlarm: 2,
            threshold: 1,
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            treatMissingData: "missing",
            alarmActions: recover.supported ? [ec2ActionArn(region, "recover", partition), topic.arn] : [topic.arn],
        });
        // The operating system stopped answering (kernel panic, memory exhausted, a hang): a reboot
        // is the remedy that needs no one awake, and the host is built for it: docker.service starts
        // at boot and the containers come back by their restart policies, MySQL recovers its
        // crash-safe files. EC2 asks the OS for a clean reboot first, and forces one only when it
        // does not answer (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-reboot.html).
        // Three minutes, not two, so that a Flatcar update's own reboot does not trigger one more;
        // the action runs once per transition to ALARM, never in a loop.
        alarm("instance-status", {
            alarmDescription: "The instance's operating system failed its status check: rebooted",
            namespace: "AWS/EC2",
            metricName: "StatusCheckFailed_Instance",
            dimensions: onInstance,
            statistic: "Maximum",
            period: 60,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            threshold: 1,
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            treatMissingData: "missing",
            alarmActions: [ec2ActionArn(region, "reboot", partition), topic.arn],
        });
        for (const path of DISK_METRIC_PATHS) {
            // "missing": a host that stops publishing is not a full disk; the heartbeat alarm below
            // says it stopped.
            alarm(path === "/" ? "disk-root" : "disk-data", {
                alarmDescription: `The filesystem at ${path} is ${DISK_ALARM_THRESHOLD_PERCENT}% full or more`,
                namespace: DISK_METRIC_NAMESPACE,
                metricName: DISK_METRIC_NAME,
                dimensions: { ...onInstance, [DISK_METRIC_DIMENSIONS.path]: path },
                statistic: "Maximum",
                period: DISK_METRIC_PERIOD_SECONDS,
                evaluationPeriods: 2,
                datapointsToAlarm: 2,
                threshold: DISK_ALARM_THRESHOLD_PERCENT,
                comparisonOperator: "GreaterThanOrEqualToThreshold",
                treatMissingData: "missing",
                alarmActions: [topic.arn],
            });
        }
        // The heartbeat: no datapoint for three periods in a row (a stopped publisher, a stopped or
        // hung host) counts as breaching, so silence alarms instead of leaving the disk alarms blind.
        alarm("disk-metrics-missing", {
            alarmDescription: `The host published no ${DISK_METRIC_NAME} for ${(3 * DISK_METRIC_PERIOD_SECONDS) / 60} minutes`,
            namespace: DISK_METRIC_NAMESPACE,
            metricName: DISK_METRIC_NAME,
            dimensions: { ...onInstance, [DISK_METRIC_DIMENSIONS.path]: DISK_METRIC_PATHS[0] },
            statistic: "SampleCount",
            period: DISK_METRIC_PERIOD_SECONDS,
            evaluationPeriods: 3,
            datapointsToAlarm: 3,
            threshold: 1,
            comparisonOperator: "LessThanThreshold",
            treatMissingData: "breaching",
            alarmActions: [topic.arn],
        });

        this.topicArn = topic.arn;
        this.registerOutputs({ topicArn: this.topicArn });
    }
}
