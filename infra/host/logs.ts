/**
 * What the host ships out: the stack's CloudWatch Logs group (every container's output, through dockerd's
 * awslogs driver) and, when berth:dumpBucket is true, the S3 bucket the dumps are copied to.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

/** The stack's log group: one per stack, one stream per container, named after the container. */
export function logGroupName(stack: string): string {
    return `/berth/${stack}`;
}

/** How long a dump stays in the bucket, and an overwritten or deleted version after it. */
export const DUMP_EXPIRY_DAYS = 90;
export const DUMP_NONCURRENT_EXPIRY_DAYS = 30;

/**
 * The command that follows a container's logs in CloudWatch Logs: its stream is named after it (the
 * awslogs driver's `tag` is `{{.Name}}`). Needs logs:FilterLogEvents on the group.
 */
export function cloudWatchTailCommand(group: string, container: string, region: string): string {
    return `aws logs tail ${group} --follow --log-stream-names ${container} --region ${region}`;
}

/** The region the provider works in: where the log group is, and what the host's tools are told. */
export function providerRegion(opts: pulumi.InvokeOutputOptions = {}): pulumi.Output<string> {
    return aws.getRegionOutput({}, opts).region;
}

export interface LogGroupArgs {
    stack: string;
    /** Days CloudWatch Logs keeps the events (one of its accepted retentions). */
    retentionDays: number;
    tags: Record<string, string>;
}

export function containerLogGroup(name: string, args: LogGroupArgs, opts: pulumi.CustomResourceOptions): aws.cloudwatch.LogGroup {
    return new aws.cloudwatch.LogGroup(
        `${name}-logs`,
        { name: logGroupName(args.stack), retentionInDays: args.retentionDays, tags: args.tags },
        opts,
    );
}

export interface DumpBucket {
    bucket: aws.s3.Bucket;
    /** The settings, each its own resource; the instance waits for them before it copies anything. */
    settings: pulumi.Resource[];
}

/**
 * The dumps' bucket: private (every public access block on), encrypted at rest (SSE-S3), versioned, old
 * dumps expired. `pulumi destroy` leaves it and its settings in place with the dumps in it, as it leaves
 * the data volume's final snapshot: they are backups. forceDestroy stays false, so nothing Berth does
 * empties it.
 */
export function dumpBucket(name: string, tags: Record<string, string>, opts: pulumi.CustomResourceOptions): DumpBucket {
    const kept = { ...opts, retainOnDelete: true };
    const bucket = new aws.s3.Bucket(`${name}-dumps`, { forceDestroy: false, tags }, kept);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
        `${name}-dumps-public-access`,
        { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        kept,
    );
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
        `${name}-dumps-encryption`,
        { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
        kept,
    );
    const versioning = new aws.s3.BucketVersioning(
        `${name}-dumps-versioning`,
        { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
        kept,
    );
    const lifecycle = new aws.s3.BucketLifecycleConfiguration(
        `${name}-dumps-lifecycle`,
        {
            bucket: bucket.id,
            rules: [
                {
                    id: "expire-dumps",
                    status: "Enabled",
                    filter: {},
                    expiration: { days: DUMP_EXPIRY_DAYS },
                    noncurrentVersionExpiration: { noncurrentDays: DUMP_NONCURRENT_EXPIRY_DAYS },
                    abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
                },
            ],
        },
        // After the versioning, as the provider's own example for a versioned bucket orders it
        // (@pulumi/aws s3/bucketLifecycleConfiguration.d.ts, "Creating a Lifecycle Configuration for a bucket with versioning").
        { ...kept, dependsOn: [versioning] },
    );
    return { bucket, settings: [publicAccess, encryption, versioning, lifecycle] };
}
