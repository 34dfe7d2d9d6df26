/**
 * Berth's security invariants as the policies of one pack (index.ts serves them to the Pulumi CLI).
 *
 * How the engine uses them: before it creates or updates a resource, it sends the resource's inputs to
 * every policy's `validateResource` (pulumi/pulumi pkg/resource/deploy/step_generator.go, "Send the
 * resource off to any Analyzers"); a violation of a mandatory policy fails `pulumi preview`, and stops
 * `pulumi up` before that resource is touched. Every invariant here holds for one resource at a time,
 * so all are resource policies: a stack policy only runs once the update is over
 * (pulumi/pulumi-policy sdk/nodejs/policy/server.ts, makeAnalyzeStackRpcFun: "at the end of a
 * successful preview or update"), too late to stop anything.
 *
 * What a policy sees (pulumi/pulumi-policy sdk/nodejs/policy/server.ts, makeAnalyzeRpcFun):
 * - `props` are the inputs as plain JSON. Secrets are unwrapped: `deserializeProperties(props, false)`
 *   returns a secret's bare value (deserialize.ts, the specialSecretSig case), although the engine sends
 *   them marked (pulumi/pulumi sdk/go/common/resource/plugin/analyzer_plugin.go, Analyze:
 *   `KeepSecrets: true`). So a validation policy cannot tell whether a value is a secret, and none here
 *   tries: that the user data is a Pulumi secret is the program's own test's to check
 *   (test/infra/host/host.test.ts).
 * - During a preview an input that depends on another resource's output is unknown: reading it throws,
 *   and the SDK reports "can't run policy ... during preview" as advisory (proxy.ts,
 *   unknownCheckingProxy); `pulumi up` asks again with the value known. So each policy reads only the
 *   inputs it judges, and one unknown input (the user data, on a first preview) leaves the others judged.
 */
import type { PolicyPackArgs, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

/** The resource types the policies judge, as the providers' SDKs name them (`__pulumiType`). */
export const TYPES = {
    ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    defaultSecurityGroup: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    container: "docker:index/container:Container",
} as const;

/** The component the program's containers belong to (infra/deploy/index.ts, `Deployment`). */
export const DEPLOYMENT_TYPE = "berth:infra:Deployment";

export const PLAIN_DOCKER_PORT = 2375;
export const SSH_PORT = 22;
export const DOCKER_TLS_PORT = 2376;
/** MySQL's classic protocol and its X Protocol. */
export const MYSQL_PORTS: readonly number[] = [3306, 33060];
/** What nginx serves to visitors: HTTP, and HTTPS once a domain is set. */
export const NGINX_PORTS: readonly number[] = [80, 443];
/**
 * The widest admin CIDR prefixes: anything wider is treated as public, as the program's own check does
 * (infra/config/fields.ts, parseCidr: two /1 halves are the whole internet too).
 */
export const WIDEST_ADMIN_PREFIX = { ipv4: 8, ipv6: 16 } as const;
/** Names of the credentials the deployment passes to containers over the Docker API, never in user data. */
export const USER_DATA_FORBIDDEN: readonly string[] = ["MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "SECRET_KEY_BASE"];

// The inputs are untyped JSON: the pack does not depend on the provider SDKs.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */
type Props = Record<string, any>;

/** One way into the instance that a security group resource declares. */
interface Opening {
    /** Where in the resource, e.g. "ingress[1]"; "" for a rule resource. */
    where: string;
    protocol: string;
    fromPort: unknown;
    toPort: unknown;
    cidrs: string[];
    /** Sources that are not CIDRs: security groups, prefix lists, the group itself. */
    others: string[];
}

/** An input as text for a message: strings as they are, anything else as JSON. */
const text = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? "unset"));

const strings = (v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return [text(v)];
    const out: string[] = [];
    for (let i = 0; i < v.length; i++) out.push(text(v[i]));
    return out;
};

/** An inline rule of aws.ec2.SecurityGroup (`ingress`) or an aws.ec2.SecurityGroupRule. */
function classicOpening(r: Props, where: string): Opening {
    return {
        where,
        protocol: text(r.protocol),
        fromPort: r.fromPort,
        toPort: r.toPort,
        cidrs: [...strings(r.cidrBlocks), ...strings(r.ipv6CidrBlocks)],
        others: [
            ...strings(r.securityGroups ?? r.sourceSecurityGroupId),
            ...strings(r.prefixListIds),
            ...(r.self === true ? ["the group itself"] : []),
        ],
    };
}

/** The ingress a resource declares: a rule resource, or a security group's inline `ingress`. */
export function ingressOf(args: { type: string; props: Props }): Opening[] {
    const p = args.props;
    switch (args.type) {
        case TYPES.ingressRule:
            return [
                {
                    where: "",
                    protocol: text(p.ipProtocol),
                    fromPort: p.fromPort,
                    toPort: p.toPort,
                    cidrs: [...strings(p.cidrIpv4), ...strings(p.cidrIpv6)],
                    others: [...strings(p.referencedSecurityGroupId), ...strings(p.prefixListId)],
                },
            ];
        case TYPES.securityGroup:
        case TYPES.defaultSecurityGroup: {
            const ingress = p.ingress as Props[] | undefined;
            const out: Opening[] = [];
            for (let i = 0; i < (ingress?.length ?? 0); i++) out.push(classicOpening(ingress![i]!, `ingress[${i}]`));
            return out;
        }
        case TYPES.securityGroupRule:
            return p.type === "ingress" ? [classicOpening(p, "")] : [];
        default:
            return [];
    }
}

/**
 * Whether the opening lets TCP reach `port`. Protocol "-1" (or "all") is every protocol and port
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html, IpProtocol); a
 * missing or negative bound is read as the whole range, so a malformed rule is judged as open.
 */
export function covers(o: Opening, port: number): boolean {
    const protocol = o.protocol.toLowerCase();
    if (protocol === "-1" || protocol === "all") return true;
    if (protocol !== "tcp" && protocol !== "6") return false;
    const bound = (v: unknown, whole: number) => (typeof v === "number" && v >= 0 ? v : whole);
    return bound(o.fromPort, 0) <= port && port <= bound(o.toPort, 65535);
}

/** Why `cidr` counts as public (too wide, or not a CIDR at all), or undefined when it is narrow enough. */
export function publicReason(cidr: string): string | undefined {
    const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(cidr.trim());
    if (!m) return `${JSON.stringify(cidr)} is not a CIDR`;
    const v6 = m[1]!.includes(":");
    const widest = v6 ? WIDEST_ADMIN_PREFIX.ipv6 : WIDEST_ADMIN_PREFIX.ipv4;
    const prefix = Number(m[2]);
    if (prefix === 0) return `${cidr} is the whole internet`;
    return prefix < widest ? `${cidr} is wider than /${widest}` : undefined;
}

const rangeText = (o: Opening) =>
    ["-1", "all"].includes(o.protocol.toLowerCase())
        ? "every protocol and port"
        : `protocol ${o.protocol}, ports ${text(o.fromPort ?? "any")} to ${text(o.toPort ?? "any")}`;
const label = (args: { name: string }, o: Opening) => (o.where ? `${args.name} (${o.where})` : args.name);
const sourcesOf = (o: Opening) => [...o.cidrs, ...o.others].join(", ") || "any source";

/**
 * The container's role in the deployment: "nginx" for `<deployment>-nginx`, "mysql" for `<deployment>-mysql`,
 * by the resource names infra/deploy/index.ts gives them, and only for a container whose parent is the
 * Deployment component (the URN's type chain: `urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`,
 * pulumi/pulumi sdk/go/common/resource/urn.go). Names are known at preview, unlike the
 * image id (an output of the image resource), and the nginx container carries no role label.
 */
export function containerRole(args: { urn: string; name: string }): "nginx" | "mysql" | undefined {
    const chain = (args.urn.split("::")[2] ?? "").split("$");
    if (chain[chain.length - 2] !== DEPLOYMENT_TYPE) return undefined;
    if (args.name.endsWith("-nginx")) return "nginx";
    if (args.name.endsWith("-mysql")) return "mysql";
    return undefined;
}

interface PortMapping {
    internal: number;
    external?: number;
    ip?: string;
    protocol?: string;
}

const mappingText = (p: PortMapping) =>
    `${p.ip ? `${p.ip}:` : ""}${p.external ?? "(a random host port)"} -> ${p.internal}${p.protocol && p.protocol !== "tcp" ? `/${p.protocol}` : ""}`;

/** The container's port mappings. */
function portsOf(props: Props): PortMapping[] {
    const ports = props.ports as Props[] | undefined;
    const out: PortMapping[] = [];
    for (let i = 0; i < (ports?.length ?? 0); i++) {
        const p = ports![i]!;
        out.push({ internal: Number(p.internal), external: p.external, ip: p.ip, protocol: p.protocol });
    }
    return out;
}

/** Ways a container reaches the host's network other than port mappings. */
function otherPublications(props: Props): string[] {
    return [
        ...(props.publishAllPorts === true ? ["every exposed port (publishAllPorts)"] : []),
        ...(props.networkMode === "host" ? ['every port it listens on (networkMode "host")'] : []),
    ];
}

const noPlainDockerPort: ResourceValidationPolicy = {
    name: "no-plain-docker-port",
    description: "No security group rule opens port 2375, the Docker API without TLS.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        for (const o of ingressOf(args)) {
            if (covers(o, PLAIN_DOCKER_PORT)) {
                report(
                    `${label(args, o)} lets ${sourcesOf(o)} reach port ${PLAIN_DOCKER_PORT} (${rangeText(o)}): ` +
                        `whoever reaches it controls the host. Remove the rule; the Docker API is served on ${DOCKER_TLS_PORT} with mutual TLS only.`,
                );
            }
        }
    },
};

const adminPortsNotPublic: ResourceValidationPolicy = {
    name: "admin-ports-not-public",
    description:
        "SSH (22) and the Docker API (2376) are open only to admin CIDRs no wider than /8 (IPv4) or /16 (IPv6), never to 0.0.0.0/0 or ::/0.",
    configSchema: {
        properties: {
            allowPublicAdmin: {
                type: "boolean",
                default: false,
                description: "Allow SSH and the Docker API from any CIDR, the whole internet included (as berth:allowPublicAdmin does).",
            },
        },
    },
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.getConfig<{ allowPublicAdmin?: boolean }>().allowPublicAdmin === true) return;
        for (const o of ingressOf(args)) {
            for (const [port, what] of [
                [SSH_PORT, "SSH"],
                [DOCKER_TLS_PORT, "the Docker API"],
            ] as const) {
                if (!covers(o, port)) continue;
                for (const cidr of o.cidrs) {
                    const why = publicReason(cidr);
                    if (why === undefined) continue;
                    report(
                        `${label(args, o)} opens port ${port} (${what}) to ${cidr}: ${why}. Open it to the admins' addresses only ` +
                            `(berth:adminCidrs), or, if it is meant, set allowPublicAdmin to true for this policy in the policy pack's config.`,
                    );
                }
            }
        }
    },
};

const ebsEncrypted: ResourceValidationPolicy = {
    name: "ebs-encrypted",
    description: "Every EBS volume is encrypted: aws.ebs.Volume, and an instance's root and EBS block devices.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        const p = args.props;
        if (args.type === TYPES.volume && p.encrypted !== true) {
            report(`${args.name}: the EBS volume is not encrypted (encrypted: ${text(p.encrypted)}). Set encrypted: true.`);
        }
        if (args.type !== TYPES.instance) return;
        if (p.rootBlockDevice?.encrypted !== true) {
            report(`${args.name}: the instance's root volume is not encrypted. Set rootBlockDevice.encrypted: true.`);
        }
        const devices = p.ebsBlockDevices as Props[] | undefined;
        for (let i = 0; i < (devices?.length ?? 0); i++) {
            const d = devices![i]!;
            if (d.encrypted !== true) {
                report(`${args.name}: ebsBlockDevices[${i}] (${text(d.deviceName)}) is not encrypted. Set its encrypted: true.`);
            }
        }
    },
};

const imdsV2OneHop: ResourceValidationPolicy = {
    name: "imdsv2-one-hop",
    description: "Every instance requires IMDSv2 tokens with a hop limit of 1, so containers cannot read instance metadata.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type !== TYPES.instance) return;
        const m = args.props.metadataOptions as Props | undefined;
        const tokens: unknown = m?.httpTokens;
        const hops: unknown = m?.httpPutResponseHopLimit;
        if (tokens === "required" && hops === 1) return;
        report(
            `${args.name}: metadataOptions.httpTokens is ${JSON.stringify(tokens) ?? "unset"} and httpPutResponseHopLimit is ` +
                `${JSON.stringify(hops) ?? "unset"}. Set httpTokens: "required" and httpPutResponseHopLimit: 1: a container is one ` +
                `hop further, so it then cannot read the instance's metadata, credentials or user data ` +
                `(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-IMDS-existing-instances.html).`,
        );
    },
};

const PRIVATE_KEY_BLOCK = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/g;

const noSecretInUserData: ResourceValidationPolicy = {
    name: "no-secret-in-user-data",
    description:
        "An instance's user data carries no credential: no MySQL password, no SECRET_KEY_BASE, and no private key but the Docker daemon's own.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type !== TYPES.instance) return;
        const texts: [string, string][] = [];
        const plain: unknown = args.props.userData;
        if (typeof plain === "string") texts.push(["userData", plain]);
        const encoded: unknown = args.props.userDataBase64;
        if (typeof encoded === "string") texts.push(["userDataBase64", Buffer.from(encoded, "base64").toString("utf8")]);
        for (const [key, text] of texts) {
            for (const name of USER_DATA_FORBIDDEN) {
                if (!text.includes(name)) continue;
                report(
                    `${args.name}: ${key} contains ${name}. Anyone allowed to describe the instance reads its user data: ` +
                        `the deployment passes database passwords and app secrets to the containers over the Docker API, never through user data.`,
                );
            }
            // The daemon's server key is the one secret user data carries by design (docs/architecture.md);
            // a second key is a Docker client or CA key, which would open the Docker API to its readers.
            const keys = text.match(PRIVATE_KEY_BLOCK)?.length ?? 0;
            if (keys > 1) {
                report(
                    `${args.name}: ${key} holds ${keys} private keys. Only the Docker daemon's own key belongs there; ` +
                        `a Docker client or CA key lets whoever reads the user data drive or impersonate the Docker API: remove it.`,
                );
            }
        }
    },
};

const onlyNginxPublishes: ResourceValidationPolicy = {
    name: "only-nginx-publishes-ports",
    description: "No Docker container publishes a port except nginx, and nginx only its HTTP and HTTPS ports.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type !== TYPES.container) return;
        const ports = portsOf(args.props);
        const others = otherPublications(args.props);
        if (containerRole(args) !== "nginx") {
            const all = [...ports.map(mappingText), ...others];
            if (all.length > 0) {
                report(
                    `${args.name} publishes ${all.join(", ")}. Only the nginx container publishes ports; the other containers are ` +
                        `reached by name over the deployment's Docker networks: remove its ports.`,
                );
            }
            return;
        }
        const stray = [...ports.filter((p) => !NGINX_PORTS.includes(p.internal)).map(mappingText), ...others];
        if (stray.length > 0) {
            report(
                `${args.name} (nginx) publishes ${stray.join(", ")}. nginx publishes only its ports ${NGINX_PORTS.join(" and ")}: remove the rest.`,
            );
        }
    },
};

const mysqlNeverPublished: ResourceValidationPolicy = {
    name: "mysql-never-published",
    description: "MySQL is never on a host port: no container publishes 3306 or 33060, and the MySQL container publishes nothing.",
    validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
        if (args.type !== TYPES.container) return;
        const ports = portsOf(args.props);
        for (const p of ports.filter((x) => MYSQL_PORTS.includes(x.internal))) {
            report(
                `${args.name} publishes MySQL's port ${p.internal} (${mappingText(p)}). MySQL is reached only over the deployment's ` +
                    `backend Docker network: remove the port mapping.`,
            );
        }
        if (containerRole(args) !== "mysql") return;
        const rest = [...ports.filter((x) => !MYSQL_PORTS.includes(x.internal)).map(mappingText), ...otherPublications(args.props)];
        if (rest.length > 0) {
            report(`${args.name} (MySQL) publishes ${rest.join(", ")}. The MySQL container publishes nothing: remove it.`);
        }
    },
};
/* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment */

export const PACK_NAME = "berth-security";

/** The pack: every policy mandatory, so a violation fails the preview and stops the update. */
export const packArgs: PolicyPackArgs = {
    description: "Berth's security invariants.",
    enforcementLevel: "mandatory",
    policies: [
        noPlainDockerPort,
        adminPortsNotPublic,
        ebsEncrypted,
        imdsV2OneHop,
        noSecretInUserData,
        onlyNginxPublishes,
        mysqlNeverPublished,
    ],
};
