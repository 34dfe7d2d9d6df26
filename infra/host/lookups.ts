import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";

/** The Flatcar publisher's AWS account: https://www.flatcar.org/docs/latest/installing/cloud/aws-ec2/ */
export const FLATCAR_OWNER = "075585003325";

/** Newest Flatcar stable AMI for the architecture. The instance ignores later changes of it. */
export function flatcarAmiId(architecture: "x86_64" | "arm64", opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
    return aws.ec2.getAmiOutput(
        {
            owners: [FLATCAR_OWNER],
            mostRecent: true,
            filters: [
                { name: "name", values: ["Flatcar-stable-*"] },
                { name: "architecture", values: [architecture] },
                { name: "virtualization-type", values: ["hvm"] },
                { name: "state", values: ["available"] },
            ],
        },
        opts,
    ).id;
}

/**
 * The zone a new data volume goes to: the configured one, else the given subnet's, else the
 * region's first available zone. Only the volume takes it: the volume keeps the zone it was created
 * in (its availabilityZone is under ignoreChanges), and the instance follows the volume
 * (`subnetIn`), so a lookup that answers differently on a later run moves nothing.
 */
export function initialZone(
    args: { subnetId?: string; availabilityZone?: string },
    opts: pulumi.InvokeOutputOptions,
): pulumi.Output<string> {
    if (args.subnetId !== undefined) {
        return aws.ec2.getSubnetOutput({ id: args.subnetId }, opts).availabilityZone.apply((z) => {
            if (args.availabilityZone !== undefined && z !== args.availabilityZone) {
                throw new Error(
                    `berth:availabilityZone is ${args.availabilityZone} but berth:subnetId ${args.subnetId} is in ${z}: unset one of them`,
                );
            }
            return z;
        });
    }
    if (args.availabilityZone !== undefined) return pulumi.output(args.availabilityZone);
    return aws.getAvailabilityZonesOutput({ state: "available" }, opts).names.apply((names) => {
        if (names.length === 0) throw new Error("no availability zone is available in this region");
        return names[0]!;
    });
}

export interface Placement {
    vpcId: pulumi.Output<string>;
    subnetId: pulumi.Output<string>;
    availabilityZone: pulumi.Output<string>;
}

/** The error when the configured place and the data volume's zone disagree: a volume never moves zones. */
export function zoneMismatch(what: string, zone: string, volumeZone: string): string {
    return (
        `${what} is in ${zone}, but the data volume is in ${volumeZone}, and an EBS volume cannot move ` +
        `between zones. Unset it (the host stays in ${volumeZone}), or choose a subnet in ${volumeZone}. ` +
        `To move the data, restore a snapshot of the volume in the new zone (docs/operations.md).`
    );
}

/**
 * Where the host goes: in the data volume's zone `zone` (pinned by the volume), the given subnet,
 * which must be in that zone, or else the default VPC's default subnet there.
 */
export function subnetIn(
    args: { subnetId?: string; availabilityZone?: string },
    zone: pulumi.Output<string>,
    opts: pulumi.InvokeOutputOptions,
): Placement {
    const checked = zone.apply((z) => {
        if (args.availabilityZone !== undefined && args.availabilityZone !== z)
            throw new Error(zoneMismatch(`berth:availabilityZone ${args.availabilityZone}`, args.availabilityZone, z));
        return z;
    });
    if (args.subnetId !== undefined) {
        const subnet = aws.ec2.getSubnetOutput({ id: args.subnetId }, opts);
        const inZone = pulumi.all([subnet.availabilityZone, checked]).apply(([s, z]) => {
            if (s !== z) throw new Error(zoneMismatch(`berth:subnetId ${args.subnetId}`, s, z));
            return z;
        });
        return { vpcId: subnet.vpcId, subnetId: subnet.id, availabilityZone: inZone };
    }
    const vpc = aws.ec2.getVpcOutput({ default: true }, opts);
    const subnet = aws.ec2.getSubnetOutput({ vpcId: vpc.id, availabilityZone: checked, defaultForAz: true }, opts);
    return { vpcId: vpc.id, subnetId: subnet.id, availabilityZone: checked };
}
