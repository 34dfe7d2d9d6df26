/**
 * The stack's host as AWS has it now, read before anything is declared, so that a change the host
 * cannot take in place is refused before anything changes rather than half done: a new CPU
 * architecture on the old AMI (AWS refuses the new type only after the instance has been stopped),
 * or a zone the data volume is not in.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { architectureOf } from "../config/parse";

export interface ExistingHost {
    instanceId: string;
    instanceType: string;
    ami: string;
    availabilityZone: string;
}

/** Instance states in which the stack's host still holds its data volume (terminated ones do not). */
const HELD = ["pending", "running", "stopping", "stopped"];

/**
 * The stack's instance, found by the tags the Host component gives it (Name `<instanceName>`,
 * `berth:stack`), or undefined on a first deployment. No match is an empty list, not an error
 * (hashicorp/terraform-provider-aws internal/service/ec2/ec2_instances_data_source.go). Needs
 * ec2:DescribeInstances, which refreshing the instance needs anyway.
 */
export async function existingHost(instanceName: string, stack: string = pulumi.getStack()): Promise<ExistingHost | undefined> {
    const found = await aws.ec2.getInstances({
        instanceTags: { Name: instanceName, "berth:stack": stack },
        instanceStateNames: HELD,
    });
    const id = found.ids[0];
    if (id === undefined) return undefined;
    const i = await aws.ec2.getInstance({ instanceId: id });
    return { instanceId: id, instanceType: i.instanceType, ami: i.ami, availabilityZone: i.availabilityZone };
}

/** EC2 names the architectures "x86_64" and "arm64" (DescribeImages); Berth's are the same words. */
export async function amiArchitecture(amiId: string): Promise<string> {
    const ami = await aws.ec2.getAmi({ filters: [{ name: "image-id", values: [amiId] }] });
    return ami.architecture;
}

/** The command that prints the newest Flatcar stable AMI for an architecture, in the operator's region. */
export function flatcarAmiCommand(architecture: string): string {
    return (
        `aws ec2 describe-images --owners 075585003325 --filters 'Name=name,Values=Flatcar-stable-*' ` +
        `Name=architecture,Values=${architecture} --query 'sort_by(Images,&CreationDate)[-1].ImageId' --output text`
    );
}

export interface HostChange {
    instanceType: string;
    architecture: "x86_64" | "arm64";
    amiId: string | undefined;
    /** The architecture of berth:amiId, when it is set. */
    amiArchitecture: string | undefined;
    availabilityZone: string | undefined;
}

/**
 * What is wrong with changing `existing` to `wanted`, or undefined. Changing the CPU architecture
 * needs a new instance from an AMI of the new architecture: Berth does not pick one silently (the
 * host's AMI is otherwise kept: Flatcar updates itself in place), so the operator pins it with
 * berth:amiId, which replaces the host; the data volume moves over and the app image is built for
 * the new CPU (dockerPlatform).
 */
export function hostChangeProblems(existing: ExistingHost | undefined, wanted: HostChange): string[] {
    const problems: string[] = [];
    if (wanted.amiId !== undefined && wanted.amiArchitecture !== undefined && wanted.amiArchitecture !== wanted.architecture) {
        problems.push(
            `berth:amiId ${wanted.amiId} is an ${wanted.amiArchitecture} image, but berth:instanceType ${wanted.instanceType} ` +
                `is ${wanted.architecture}: pin an ${wanted.architecture} AMI, e.g. $(${flatcarAmiCommand(wanted.architecture)})`,
        );
    }
    if (existing === undefined) return problems;
    const was = architectureOf(existing.instanceType);
    if (was !== wanted.architecture && (wanted.amiId === undefined || wanted.amiId === existing.ami)) {
        problems.push(
            `berth:instanceType ${wanted.instanceType} is ${wanted.architecture}, but the host ${existing.instanceId} ` +
                `(${existing.instanceType}) runs an ${was} AMI, and EC2 cannot change the architecture in place. ` +
                `Nothing was changed. To move to ${wanted.architecture}, pin an ${wanted.architecture} Flatcar AMI; the next ` +
                `\`pulumi up\` then replaces the host (a few minutes offline; the data volume moves over, the app ` +
                `image is rebuilt for the new CPU):\n` +
                `    pulumi config set berth:amiId $(${flatcarAmiCommand(wanted.architecture)})\n` +
                `    pulumi up\n` +
                `Or set berth:instanceType back to an ${was} type.`,
        );
    }
    if (wanted.availabilityZone !== undefined && wanted.availabilityZone !== existing.availabilityZone) {
        problems.push(
            `berth:availabilityZone is ${wanted.availabilityZone}, but the host and its data volume are in ` +
                `${existing.availabilityZone}, and an EBS volume cannot move between zones. Nothing was changed. ` +
                `Unset berth:availabilityZone (or set it to ${existing.availabilityZone}); to move the data, restore a ` +
                `snapshot of the volume in the new zone (docs/operations.md).`,
        );
    }
    return problems;
}
