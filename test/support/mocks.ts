/**
 * The one mocks helper: stands in for the cloud and Docker providers. Invokes it does not know
 * throw, so a new lookup in the program cannot pass unnoticed. TLS resources get real cryptography.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
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
    /**
     * Keep the TLS resources' state here across runs: the engine keeps a created key or certificate in
     * its state, so a later `pulumi up` sees the same material. Without it each run makes new material.
     */
    tlsStateDir?: string;
    /**
     * The CIDRs the stack's security group opens SSH and the Docker API to now, as the program's
     * lookup (infra/host/admin-rules.ts) reads them from AWS. Absent: the stack has no group yet.
     */
    openAdminCidrs?: string[];
    /** What checkip.amazonaws.com answers (program-runner.ts stands in for it); absent: it fails. */
    detectedIp?: string;
    /**
     * The TLS provider's clock (ISO time) when it issues a certificate: NotBefore, and NotAfter from it
     * (terraform-provider-tls internal/provider/common_cert.go, `overridableTimeFunc`). Default: now.
     * A clock in the past stands for a stack whose certificates were issued then.
     */
    tlsClock?: string;
    /**
     * The stack's instance as DescribeInstances reports it now (infra/host/existing.ts); absent: the
     * stack has no instance yet.
     */
    existingInstance?: { instanceId?: string; instanceType: string; ami: string; availabilityZone: string };
    /** Architectures of AMIs by id, as DescribeImages reports them; unknown ids are x86_64. */
    amiArchitectures?: Record<string, string>;
    /** What the availability-zone lookup answers (default eu-west-1a, b, c). */
    zones?: string[];
    /** Which data volume this run's is: a replaced volume (a restore) gets a new id (default 1). */
    volumeGeneration?: number;
    /** Which instance this run's instance is: a replaced instance gets a new id (default 1). */
    instanceGeneration?: number;
    /**
     * The account's Route 53 hosted zones, id → name, as the zone lookup (`aws.route53.getZone` by zoneId)
     * reads them; an id not listed fails the lookup as AWS does. Absent: the account has none.
     */
    route53Zones?: Record<string, string>;
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

/** The name the mocks give an auto-named Docker resource (network, volume, container). */
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
        case "docker:index/volume:Volume": {
            // The provider's id is the volume's name (resource_docker_volume.go, resourceDockerVolumeCreate).
            const volume = (inputs.name as string | undefined) ?? mockAutoName(name);
            return {
                id: volume,
                state: { ...inputs, name: volume, driver: "local", mountpoint: `/var/lib/docker/volumes/${volume}/_data` },
            };
        }
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

/** tlsState, kept per resource and inputs in `dir` (written atomically, so parallel runs never read half a file). */
function keptTlsState(dir: string, type: string, name: string, inputs: Record<string, unknown>, clock?: string) {
    if (!type.startsWith("tls:")) return undefined;
    const key = crypto
        .createHash("sha256")
        .update(JSON.stringify([type, name, inputs]))
        .digest("hex")
        .slice(0, 32);
    const file = path.join(dir, `${key}.json`);
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    const state = tlsState(type, inputs, clock);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, file);
    return state;
}

export const MOCK_SG_ID = "sg-0berth0000000001";

/**
 * The stack's security group rules as DescribeSecurityGroupRules reports them, keyed by rule ID:
 * what infra/host/index.ts creates, with `openAdminCidrs` on 22 and 2376. Egress rules are "all
 * traffic" (protocol -1, ports -1), as EC2 reports them.
 */
function mockSecurityGroupRules(input: MockInput): Map<string, Record<string, unknown>> {
    const rule = (isEgress: boolean, ipProtocol: string, port: number, cidr: string) => ({
        isEgress,
        ipProtocol,
        fromPort: port,
        toPort: port,
        cidrIpv4: cidr.includes(":") ? "" : cidr,
        cidrIpv6: cidr.includes(":") ? cidr : "",
        securityGroupId: MOCK_SG_ID,
    });
    const rules = [
        rule(false, "tcp", 80, "0.0.0.0/0"),
        rule(false, "tcp", 80, "::/0"),
        ...(input.openAdminCidrs ?? []).flatMap((c) => [rule(false, "tcp", 22, c), rule(false, "tcp", 2376, c)]),
        rule(true, "-1", -1, "0.0.0.0/0"),
        rule(true, "-1", -1, "::/0"),
    ];
    return new Map(rules.map((r, i) => [hexId("sgr", `${i}`), { ...r, securityGroupRuleId: hexId("sgr", `${i}`) }]));
}

export function mocks(input: MockInput, invokes: { token: string; inputs: unknown }[]): pulumi.runtime.Mocks {
    return {
        newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
            const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
            const tls = input.tlsStateDir
                ? keptTlsState(input.tlsStateDir, args.type, args.name, inputs, input.tlsClock)
                : tlsState(args.type, inputs, input.tlsClock);
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
                    return { id: hexId("vol", `${args.name}#${input.volumeGeneration ?? 1}`), state: inputs };
                case "aws:ec2/instance:Instance":
                    return {
                        id: hexId("i", `${args.name}#${input.instanceGeneration ?? 1}`),
                        state: { ...inputs, publicIp: "198.51.100.99" },
                    };
                case "aws:ec2/securityGroup:SecurityGroup":
                    return { id: hexId("sg", args.name), state: inputs };
                // The ARNs AWS gives them (the provider's id of a topic is its ARN, of a role its name).
                case "aws:sns/topic:Topic": {
                    const topic = `${typeof inputs.namePrefix === "string" ? inputs.namePrefix : `${args.name}-`}0000001`;
                    const arn = `arn:aws:sns:eu-west-1:123456789012:${topic}`;
                    return { id: arn, state: { ...inputs, name: topic, arn } };
                }
                case "aws:kms/key:Key": {
                    const keyId = hexId("key", args.name).slice(4);
                    return { id: keyId, state: { ...inputs, keyId, arn: `arn:aws:kms:eu-west-1:123456789012:key/${keyId}` } };
                }
                case "aws:iam/role:Role":
                    return { id: `${args.name}-0000001`, state: { ...inputs, arn: `arn:aws:iam::123456789012:role/${args.name}-0000001` } };
                // A generated name, as the provider's autonaming gives it; the id is the name.
                case "aws:iam/instanceProfile:InstanceProfile": {
                    const profile = `${args.name}-0000001`;
                    return {
                        id: profile,
                        state: { ...inputs, name: profile, arn: `arn:aws:iam::123456789012:instance-profile/${profile}` },
                    };
                }
                // The log group's ARN without the API's ":*" suffix, as the provider records it
                // (terraform-provider-aws internal/service/logs/group.go, resourceGroupFlatten).
                case "aws:cloudwatch/logGroup:LogGroup":
                    return {
                        id: String(inputs.name),
                        state: { ...inputs, arn: `arn:aws:logs:eu-west-1:123456789012:log-group:${String(inputs.name)}` },
                    };
                case "aws:s3/bucket:Bucket": {
                    const bucket = typeof inputs.bucket === "string" ? inputs.bucket : mockAutoName(args.name);
                    return { id: bucket, state: { ...inputs, bucket, arn: `arn:aws:s3:::${bucket}` } };
                }
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
                case "aws:ec2/getAmi:getAmi": {
                    // By image id (a pinned berth:amiId), or the Flatcar lookup by architecture.
                    const filters = (i.filters as { name: string; values: string[] }[] | undefined) ?? [];
                    const byId = filters.find((f) => f.name === "image-id")?.values[0];
                    if (byId !== undefined) return { id: byId, name: "pinned", architecture: input.amiArchitectures?.[byId] ?? "x86_64" };
                    const arch = filters.find((f) => f.name === "architecture")?.values[0] ?? "x86_64";
                    return { id: input.amiId ?? DEFAULT_AMI, name: "Flatcar-stable-4230.2.3-hvm", architecture: arch };
                }
                // Result shapes: pulumi/pulumi-aws sdk/nodejs/ec2/getInstances.ts, sdk/nodejs/ec2/getInstance.ts.
                case "aws:ec2/getInstances:getInstances": {
                    const e = input.existingInstance;
                    return {
                        id: "eu-west-1",
                        ids: e ? [e.instanceId ?? "i-0existing0000001"] : [],
                        privateIps: [],
                        publicIps: [],
                        ipv6Addresses: [],
                    };
                }
                case "aws:ec2/getInstance:getInstance": {
                    const e = input.existingInstance;
                    if (!e) throw new Error("mocks: no existingInstance given");
                    return { id: String(i.instanceId), ...e };
                }
                case "aws:index/getAvailabilityZones:getAvailabilityZones":
                    return {
                        id: "eu-west-1",
                        names: input.zones ?? ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                        zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3"],
                    };
                case "aws:ec2/getVpc:getVpc":
                    return { id: "vpc-0abc1234", cidrBlock: "172.31.0.0/16", default: true };
                case "aws:ec2/getSubnet:getSubnet":
                    return {
                        id: i.id ?? "subnet-0abc1234",
                        vpcId: "vpc-0abc1234",
                        availabilityZone: i.availabilityZone ?? "eu-west-1b",
                    };
                // Result shapes: pulumi/pulumi-aws sdk/nodejs/ec2/getSecurityGroups.ts,
                // sdk/nodejs/vpc/getSecurityGroupRules.ts, sdk/nodejs/vpc/getSecurityGroupRule.ts.
                case "aws:ec2/getSecurityGroups:getSecurityGroups": {
                    const found = input.openAdminCidrs !== undefined;
                    return { id: "eu-west-1", ids: found ? [MOCK_SG_ID] : [], arns: [], vpcIds: found ? ["vpc-0abc1234"] : [] };
                }
                case "aws:vpc/getSecurityGroupRules:getSecurityGroupRules": {
                    const filters = (i.filters as { name: string; values: string[] }[] | undefined) ?? [];
                    const groups = filters.find((f) => f.name === "group-id")?.values ?? [];
                    const rules = [...mockSecurityGroupRules(input)].filter(([, r]) => groups.includes(String(r.securityGroupId)));
                    return { id: "eu-west-1", ids: rules.map(([id]) => id) };
                }
                case "aws:vpc/getSecurityGroupRule:getSecurityGroupRule": {
                    const found = mockSecurityGroupRules(input).get(String(i.securityGroupRuleId));
                    // The data source fails when no rule matches (tfresource.SingularDataSourceFindError).
                    if (!found) throw new Error(`reading Security Group Rules: no matching Security Group Rule found`);
                    return { id: found.securityGroupRuleId, ...found };
                }
                // Result shape: pulumi/pulumi-aws sdk/nodejs/route53/getZone.ts (GetZoneResult).
                case "aws:route53/getZone:getZone": {
                    const zoneId = typeof i.zoneId === "string" ? i.zoneId : "";
                    const name = input.route53Zones?.[zoneId];
                    // The data source fails when no zone matches (terraform-provider-aws
                    // internal/service/route53/zone_data_source.go: "no matching Route 53 Hosted Zone found").
                    // The engine answers a failed invoke with a gRPC error, whose `details` the SDK makes the
                    // program's error (@pulumi/pulumi runtime/invoke.ts, invokeAsync: `new Error(err.details)`).
                    if (name === undefined) {
                        const message = `invocation of aws:route53/getZone:getZone returned an error: no matching Route 53 Hosted Zone found`;
                        throw Object.assign(new Error(message), { details: message });
                    }
                    return { id: zoneId, zoneId, name };
                }
                // Result shapes: pulumi/pulumi-aws sdk/nodejs/getRegion.ts, sdk/nodejs/getCallerIdentity.ts.
                case "aws:index/getRegion:getRegion":
                    return {
                        id: "eu-west-1",
                        name: "eu-west-1",
                        region: "eu-west-1",
                        description: "Europe (Ireland)",
                        endpoint: "ec2.eu-west-1.amazonaws.com",
                    };
                case "aws:index/getCallerIdentity:getCallerIdentity":
                    return {
                        id: "123456789012",
                        accountId: "123456789012",
                        arn: "arn:aws:iam::123456789012:user/berth",
                        userId: "AIDAEXAMPLEBERTH",
                    };
                default:
                    throw new Error(`mocks: unexpected invoke ${args.token}`);
            }
        },
    };
}
