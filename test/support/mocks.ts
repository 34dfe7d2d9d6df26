/**
 * The one mocks helper: stands in for the cloud and Docker providers. Invokes it does not know
 * throw, so a new lookup in the program cannot pass unnoticed. TLS resources get real cryptography.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { tlsState } from "./tls-crypto";

export interface MockInput {
    /** `berth:*` keys without the namespace; non-strings are JSON-encoded like `pulumi config set --path`. */
    config: Record<string, unknown>;
    /** Secret `berth:*` keys. */
    secretConfig?: Record<string, string>;
    stack?: string;
    /** What the Flatcar AMI lookup returns. */
    amiId?: string;
    /** Commands (joined by spaces) whose one-shot container exits 1, with output on its logs. */
    failingCommands?: string[];
    /** The elastic IP's address (default MOCK_IP); its public DNS name is derived from it as EC2 does. */
    publicIp?: string;
}

export const MOCK_IP = "203.0.113.10";
export const MOCK_DNS = "ec2-203-0-113-10.eu-west-1.compute.amazonaws.com";

/** EC2's public DNS name for an IPv4 address in eu-west-1. */
export function mockPublicDns(ip: string): string {
    return `ec2-${ip.replace(/\./g, "-")}.eu-west-1.compute.amazonaws.com`;
}

export const DEFAULT_AMI = "ami-0aaaaaaaaaaaaaaa1";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Mocks see secrets as wrapped values; providers see plain ones. */
function unwrapSecrets(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(unwrapSecrets);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (SECRET_SIG in o) return unwrapSecrets(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** The name the mocks give an auto-named Docker resource (network, container). */
export function mockAutoName(resourceName: string): string {
    return `${resourceName}-1234567`;
}

function hexId(prefix: string, name: string): string {
    return `${prefix}-${crypto.createHash("sha256").update(name).digest("hex").slice(0, 17)}`;
}

function dockerState(
    type: string,
    name: string,
    inputs: Record<string, unknown>,
    input: MockInput,
): { id: string; state: Record<string, unknown> } {
    const digest = `sha256:${crypto.createHash("sha256").update(JSON.stringify(inputs)).digest("hex")}`;
    switch (type) {
        case "docker:index/network:Network":
            return { id: digest.slice(7, 19), state: { ...inputs, name: inputs.name ?? mockAutoName(name) } };
        case "docker:index/remoteImage:RemoteImage":
            return { id: digest.slice(7, 19), state: { ...inputs, imageId: `${digest}${String(inputs.name)}` } };
        case "docker:index/image:Image":
            return { id: String(inputs.imageName), state: { ...inputs, repoDigest: digest } };
        case "docker:index/container:Container": {
            const cmd = ((inputs.command as string[] | undefined) ?? []).join(" ");
            const failing = (input.failingCommands ?? []).includes(cmd);
            const state: Record<string, unknown> = { ...inputs, name: inputs.name ?? mockAutoName(name) };
            if (inputs.attach) {
                state.exitCode = failing ? 1 : 0;
                state.containerLogs = failing ? `Error: migration 0002 failed: Unknown column 'nope'\n` : "done\n";
            }
            return { id: digest.slice(7, 19), state };
        }
        default:
            return { id: `${name}-id`, state: inputs };
    }
}

export function mocks(input: MockInput, invokes: { token: string; inputs: unknown }[]): pulumi.runtime.Mocks {
    return {
        newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
            const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
            const tls = tlsState(args.type, inputs);
            if (tls) return { id: hexId("tls", args.name), state: tls };
            switch (args.type) {
                case "aws:ec2/eip:Eip": {
                    const ip = input.publicIp ?? MOCK_IP;
                    return {
                        id: "eipalloc-0abc",
                        state: { ...inputs, publicIp: ip, publicDns: mockPublicDns(ip), allocationId: "eipalloc-0abc" },
                    };
                }
                case "aws:ebs/volume:Volume":
                    return { id: hexId("vol", args.name), state: inputs };
                case "aws:ec2/instance:Instance":
                    return { id: hexId("i", args.name), state: { ...inputs, publicIp: "198.51.100.99" } };
                case "aws:ec2/securityGroup:SecurityGroup":
                    return { id: hexId("sg", args.name), state: inputs };
                case "random:index/randomPassword:RandomPassword":
                    return {
                        id: `${args.name}-id`,
                        state: {
                            ...inputs,
                            result: crypto.createHash("sha256").update(args.name).digest("hex").slice(0, Number(inputs.length)),
                        },
                    };
                case "command:local:Command":
                    return { id: `${args.name}-id`, state: { ...inputs, stdout: "ok", stderr: "" } };
            }
            if (args.type.startsWith("docker:")) return dockerState(args.type, args.name, inputs, input);
            return { id: `${args.name}-id`, state: inputs };
        },
        call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
            invokes.push({ token: args.token, inputs: args.inputs });
            const i = args.inputs as Record<string, unknown>;
            switch (args.token) {
                case "aws:ec2/getAmi:getAmi":
                    return { id: input.amiId ?? DEFAULT_AMI, name: "Flatcar-stable-4230.2.3-hvm", architecture: "x86_64" };
                case "aws:index/getAvailabilityZones:getAvailabilityZones":
                    return {
                        id: "eu-west-1",
                        names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                        zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"],
                    };
                case "aws:ec2/getVpc:getVpc":
                    return { id: "vpc-0abc1234", cidrBlock: "172.31.0.0/16", default: true };
                case "aws:ec2/getSubnet:getSubnet":
                    return {
                        id: (i.id as string | undefined) ?? "subnet-0abc1234",
                        vpcId: "vpc-0abc1234",
                        availabilityZone: (i.availabilityZone as string | undefined) ?? "eu-west-1b",
                    };
                default:
                    throw new Error(`mocks: unexpected invoke ${args.token}`);
            }
        },
    };
}
