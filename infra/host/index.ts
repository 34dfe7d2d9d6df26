import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { renderCloudConfig } from "../../cloud-config";
import { DockerTls, secretDigest } from "../tls";
import { ingressRules } from "./rules";
import { flatcarAmiId, initialZone, subnetIn } from "./lookups";
import { instanceRole } from "./iam";
import { containerLogGroup, dumpBucket, providerRegion } from "./logs";

export interface HostArgs {
    /** EC2 instance type, e.g. "t3.small". */
    instanceType: string;
    /** CPU architecture of the instance type (selects the AMI). */
    architecture: "x86_64" | "arm64";
    /** Name tag of the instance and prefix of the other Name tags. */
    instanceName: string;
    /** CIDRs allowed on SSH and the Docker API. */
    adminCidrs: readonly string[];
    /** OpenSSH public key for the `core` user (optional). */
    sshPublicKey?: string;
    /** Existing EC2 key pair (optional). */
    keyName?: string;
    /** Root volume size in GiB. */
    rootVolumeSize: number;
    /** Data volume size in GiB. */
    dataVolumeSize: number;
    /** Availability zone; default: the subnet's, or the region's first available one. */
    availabilityZone?: string;
    /** Subnet; default: the default VPC's default subnet in the zone. */
    subnetId?: string;
    /** EBS snapshot the data volume is created from (a restore); default: a blank volume. */
    dataSnapshotId?: string;
    /** Pinned AMI; default: the newest Flatcar stable at first deployment. */
    amiId?: string;
    /** Flatcar update strategy. */
    updateStrategy: "reboot" | "off";
    /** Open HTTPS (443) to everyone, as HTTP. Default false. */
    https?: boolean;
    /** Days CloudWatch Logs keeps the containers' logs (berth:logRetentionDays). Default 14. */
    logRetentionDays?: number;
    /** Copy the dumps to an S3 bucket of the stack's (berth:dumpBucket). Default false. */
    dumpBucket?: boolean;
}

/** What the readiness gate names when the daemon never answers: where to look, and what admits whom. */
export interface HostDiagnostics {
    instanceId: pulumi.Output<string>;
    securityGroupId: pulumi.Output<string>;
    adminCidrs: readonly string[];
}

/**
 * The hardened Flatcar host: security group, elastic IP, data volume, TLS material and the
 * instance, set up by cloud-config to serve the Docker API over mutual TLS only.
 */
export class Host extends pulumi.ComponentResource {
    public readonly publicIp: pulumi.Output<string>;
    public readonly publicDns: pulumi.Output<string>;
    public readonly instanceId: pulumi.Output<string>;
    public readonly dataVolumeId: pulumi.Output<string>;
    public readonly tls: DockerTls;
    /** Resources that must exist before the daemon can answer (attachment, address, admin rules). */
    public readonly ready: pulumi.Resource[];
    public readonly diagnostics: HostDiagnostics;
    /**
     * A secret digest of the rendered user data: it changes whenever the user data does (new TLS
     * material, an SSH key, a new cloud-config), which stops and starts the instance under the same
     * id, so the readiness gate can wait for the daemon again without holding the user data in plain.
     */
    public readonly userDataDigest: pulumi.Output<string>;
    /** The stack's CloudWatch Logs group, where every container's output goes (`/berth/<stack>`). */
    public readonly logGroupName: pulumi.Output<string>;
    /** The provider's region: the log group's, and the one the host publishes its metrics to. */
    public readonly region: pulumi.Output<string>;
    /** The bucket the dumps are copied to; undefined without berth:dumpBucket. */
    public readonly dumpBucketName: pulumi.Output<string> | undefined;
    /** The instance role's name (its one inline policy lists what the host may do in AWS). */
    public readonly roleName: pulumi.Output<string>;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:Host", name, {}, opts);
        const child = { parent: this };
        const tags = (suffix?: string) => ({
            Name: suffix ? `${args.instanceName}-${suffix}` : args.instanceName,
            "berth:stack": pulumi.getStack(),
        });

        // The database lives here, never on the root disk: replacing the instance loses nothing, and
        // `pulumi destroy` leaves a final snapshot. The volume pins the zone: it keeps the one it was
        // created in, and the instance follows it, so a zone lookup that answers differently on a
        // later run (a zone that became unavailable) moves nothing (availabilityZone is ForceNew in
        // hashicorp/terraform-provider-aws internal/service/ec2/ebs_volume.go, resourceEBSVolume).
        const data = new aws.ebs.Volume(
            `${name}-data`,
            {
                availabilityZone: initialZone(args, child),
                size: args.dataVolumeSize,
                type: "gp3",
                encrypted: true,
                finalSnapshot: true,
                // A restore: snapshot_id is ForceNew, so a new id replaces the volume (the old one
                // leaves its final snapshot); the attachment then moves as for a new instance.
                snapshotId: args.dataSnapshotId,
                tags: tags("data"),
            },
            { ...child, ignoreChanges: ["availabilityZone"] },
        );
        const where = subnetIn(args, data.availabilityZone, child);

        const sg = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                vpcId: where.vpcId,
                description: `Berth host ${args.instanceName}: HTTP for all, SSH and Docker TLS for admins`,
                tags: tags("sg"),
            },
            child,
        );
        // The ingress rules are part of "ready": after the operator's address changed, the rules are
        // updated before anything talks to the daemon (the readiness gate, the cutover).
        const ingress: pulumi.Resource[] = [];
        for (const r of ingressRules(args.adminCidrs, { https: args.https })) {
            const rule = new aws.vpc.SecurityGroupIngressRule(
                `${name}-in-${r.key}`,
                {
                    securityGroupId: sg.id,
                    ipProtocol: "tcp",
                    fromPort: r.port,
                    toPort: r.port,
                    ...(r.family === "ipv4" ? { cidrIpv4: r.cidr } : { cidrIpv6: r.cidr }),
                    description: r.description,
                },
                child,
            );
            ingress.push(rule);
        }
        for (const [family, cidr] of [
            ["ipv4", "0.0.0.0/0"],
            ["ipv6", "::/0"],
        ] as const) {
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-out-${family}`,
                {
                    securityGroupId: sg.id,
                    ipProtocol: "-1",
                    ...(family === "ipv4" ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
                    description: "Outbound: updates, image pulls",
                },
                child,
            );
        }

        // Allocated before the instance so its address can go into the server certificate, and kept
        // across stop/start and replacement.
        const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags: tags("eip") }, child);
        this.tls = new DockerTls(
            `${name}-tls`,
            {
                ipAddresses: [eip.publicIp],
                dnsNames: [eip.publicDns],
                commonName: args.instanceName,
            },
            child,
        );

        // What the host ships out, and the instance role that lets it: container logs to the stack's log
        // group, disk usage to CloudWatch metrics, and (berth:dumpBucket) the dumps to S3.
        const logGroup = containerLogGroup(
            name,
            { stack: pulumi.getStack(), retentionDays: args.logRetentionDays ?? 14, tags: tags("logs") },
            child,
        );
        const dumps = args.dumpBucket ? dumpBucket(name, tags("dumps"), child) : undefined;
        const role = instanceRole(name, { logGroupArn: logGroup.arn, dumpBucketArn: dumps?.bucket.arn, tags: tags("host") }, child);
        const region = providerRegion(child);

        const userData = pulumi.secret(
            pulumi
                .all([
                    this.tls.caCertPem,
                    this.tls.serverCertPem,
                    this.tls.serverKeyPem,
                    data.id,
                    logGroup.name,
                    region,
                    dumps?.bucket.bucket,
                ])
                .apply(([ca, cert, key, volumeId, group, regionName, bucket]) =>
                    renderCloudConfig({
                        caCertPem: ca,
                        serverCertPem: cert,
                        serverKeyPem: key,
                        dataVolumeId: volumeId,
                        sshAuthorizedKeys: args.sshPublicKey ? [args.sshPublicKey] : [],
                        updateStrategy: args.updateStrategy,
                        cloudWatch: { logGroup: group, region: regionName },
                        dumpBucket: bucket,
                    }),
                ),
        );

        const instance = new aws.ec2.Instance(
            `${name}-instance`,
            {
                ami: args.amiId ?? flatcarAmiId(args.architecture, child),
                instanceType: args.instanceType,
                subnetId: where.subnetId,
                availabilityZone: where.availabilityZone,
                vpcSecurityGroupIds: [sg.id],
                keyName: args.keyName,
                userData,
                // Attaching, changing or removing the profile of a running instance is an in-place update:
                // iam_instance_profile is not ForceNew, and resourceInstanceUpdate associates it
                // (AssociateIamInstanceProfile, or ReplaceIamInstanceProfileAssociation) without a stop
                // (hashicorp/terraform-provider-aws internal/service/ec2/ec2_instance.go).
                iamInstanceProfile: role.profile.name,
                // Containers must not reach instance metadata (and its user data): IMDSv2 only, one hop.
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                // The root volume is tagged here, and never through `volumeTags`: the provider reads
                // `volume_tags` back from, and writes changes of it to, every volume attached to the
                // instance, the data volume included, so it would fight the data volume's own tags
                // (hashicorp/terraform-provider-aws internal/service/ec2/ec2_instance.go:
                // resourceInstanceRead → readVolumeTags, resourceInstanceUpdate → getInstanceVolIDs).
                // `root_block_device.0.tags` touch the root volume only (getRootVolID).
                rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: args.rootVolumeSize, tags: tags("root") },
                tags: tags(),
            },
            {
                ...child,
                // Flatcar updates itself in place; a newer AMI in the lookup must not replace the host.
                // A pinned berth:amiId is honoured: changing it replaces the host (ami is ForceNew), which
                // is how the architecture changes (infra/host/existing.ts). ignoreChanges would keep the
                // old AMI even in a replacement (pulumi/pulumi pkg/resource/deploy/step_generator.go
                // applies processIgnoreChanges before the diff).
                ignoreChanges: args.amiId === undefined ? ["ami"] : [],
            },
        );

        const attachment = new aws.ec2.VolumeAttachment(
            `${name}-data-attachment`,
            {
                instanceId: instance.id,
                volumeId: data.id,
                deviceName: "/dev/xvdf",
                // Stop the host before detaching, so MySQL is shut down cleanly rather than cut off.
                stopInstanceBeforeDetaching: true,
            },
            {
                ...child,
                // A new instance (a changed keyName or subnet, `pulumi up --replace`, a new architecture)
                // replaces the attachment, since instance_id is ForceNew (hashicorp/terraform-provider-aws
                // internal/service/ec2/ebs_volume_attachment.go, ResourceVolumeAttachment), and the provider
                // leaves it create-first: the new instance would ask for a volume still attached to the old
                // one (VolumeInUse). Delete first: the old instance is stopped (cleanly, its MySQL shut
                // down) and the volume detached (resourceVolumeAttachmentDelete), then it is attached to
                // the new one.
                deleteBeforeReplace: true,
            },
        );
        // The attachment's delete stops the instance (stopInstanceBeforeDetaching), and attaching starts
        // nothing: after a new data volume (a restore) the same instance would stay stopped. This starts
        // it whenever it has a new volume or is a new instance (instance_id is ForceNew; create starts a
        // stopped instance, delete leaves it as it is: terraform-provider-aws
        // internal/service/ec2/ec2_instance_state.go).
        const running = new aws.ec2transitgateway.InstanceState(
            `${name}-running`,
            { instanceId: instance.id, state: "running" },
            { ...child, dependsOn: [attachment], replacementTrigger: data.id },
        );
        const association = new aws.ec2.EipAssociation(
            `${name}-eip-association`,
            {
                instanceId: instance.id,
                allocationId: eip.allocationId,
            },
            {
                ...child,
                // The address moves to a new instance only once the data volume is attached to it, so a
                // replacement that fails before that leaves visitors' address where the data is.
                // Create-first is right here: AssociateAddress moves an associated address, and the old
                // association's delete then ignores InvalidAssociationID.NotFound
                // (terraform-provider-aws internal/service/ec2/ec2_eip_association.go,
                // resourceEIPAssociationDelete).
                dependsOn: [attachment],
            },
        );

        this.userDataDigest = secretDigest(userData);
        this.publicIp = eip.publicIp;
        this.publicDns = eip.publicDns;
        this.instanceId = instance.id;
        this.dataVolumeId = data.id;
        this.logGroupName = logGroup.name;
        this.region = region;
        this.dumpBucketName = dumps?.bucket.bucket;
        this.roleName = role.role.id;
        // The log group and the role's permissions exist before any container starts: the awslogs driver
        // creates each container's stream when the container starts, and the container fails to start if it
        // cannot (moby/moby daemon/logger/awslogs/cloudwatchlogs.go, New).
        this.ready = [attachment, running, association, ...ingress, logGroup, role.policy, ...(dumps?.settings ?? [])];
        this.diagnostics = { instanceId: instance.id, securityGroupId: sg.id, adminCidrs: args.adminCidrs };
        this.registerOutputs({
            publicIp: this.publicIp,
            publicDns: this.publicDns,
            instanceId: this.instanceId,
            dataVolumeId: this.dataVolumeId,
            logGroupName: this.logGroupName,
            region: this.region,
            dumpBucketName: this.dumpBucketName,
            roleName: this.roleName,
        });
    }
}
