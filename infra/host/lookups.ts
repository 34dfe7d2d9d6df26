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

export interface Placement {
    vpcId: pulumi.Output<string>;
    subnetId: pulumi.Output<string>;
    availabilityZone: pulumi.Output<string>;
}

/**
 * Where the host goes: the given subnet (and its zone), or else the default VPC's default subnet in
 * the given zone, or in the region's first available zone.
 */
export function placement(args: { subnetId?: string; availabilityZone?: string }, opts: pulumi.InvokeOutputOptions): Placement {
    if (args.subnetId !== undefined) {
        const subnet = aws.ec2.getSubnetOutput({ id: args.subnetId }, opts);
        const zone = subnet.availabilityZone.apply((z) => {
            if (args.availabilityZone !== undefined && z !== args.availabilityZone) {
                throw new Error(
                    `berth:availabilityZone is ${args.availabilityZone} but berth:subnetId ${args.subnetId} is in ${z}: unset one of them`,
                );
            }
            return z;
        });
        return { vpcId: subnet.vpcId, subnetId: subnet.id, availabilityZone: zone };
    }
    const zone =
        args.availabilityZone !== undefined
            ? pulumi.output(args.availabilityZone)
            : aws.getAvailabilityZonesOutput({ state: "available" }, opts).names.apply((names) => {
                  if (names.length === 0) throw new Error("no availability zone is available in this region");
                  return names[0];
              });
    const vpc = aws.ec2.getVpcOutput({ default: true }, opts);
    const subnet = aws.ec2.getSubnetOutput({ vpcId: vpc.id, availabilityZone: zone, defaultForAz: true }, opts);
    return { vpcId: vpc.id, subnetId: subnet.id, availabilityZone: zone };
}
