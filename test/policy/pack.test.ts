// The policy pack (policy/) over the program under mocks, through a port of the Pulumi CLI's analyzer
// (harness.ts): the program as it is passes, and a copy of it broken on purpose is refused, each defect by
// the policy that guards it, alone and all together. The pack is also started as the CLI starts it
// (served.ts), and must say what the harness says.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SecurityGroupIngressRule } from "@pulumi/aws/vpc/securityGroupIngressRule";
import { SecurityGroup } from "@pulumi/aws/ec2/securityGroup";
import { DefaultSecurityGroup } from "@pulumi/aws/ec2/defaultSecurityGroup";
import { SecurityGroupRule } from "@pulumi/aws/ec2/securityGroupRule";
import { Volume } from "@pulumi/aws/ebs/volume";
import { Instance } from "@pulumi/aws/ec2/instance";
import { Container } from "@pulumi/docker/container";
import { packArgs, publicReason, TYPES } from "../../policy/policies";
import { parseCidr } from "../../infra/config/fields";
import { analyze, isTypeOf, reconcileConfig, violations, type Analysis, type Diagnostic, type PackConfig } from "./harness";
import { servePack, type ServedPack } from "./served";
import { BASE_CONFIG, byType, one, runProgram, type ProgramResult } from "../support/program";
// The engine's sentinel for a string unknown during a preview (what proxy.ts's unknownCheckingProxy refuses to read).
import { unknownValue as UNKNOWN_STRING } from "@pulumi/pulumi/runtime/rpc";

const ROOT = path.resolve(__dirname, "../..");
const HTTPS = { ...BASE_CONFIG, domain: "app.example.com", acmeEmail: "ops@example.com" };
const LOCAL = { appVersion: 1, target: "local" };

/** Runs `tasks` two at a time (the machine has two cores); after a failure, starts no more. */
async function pool<T>(tasks: (() => Promise<T>)[], width = 2): Promise<T[]> {
    const out: T[] = new Array<T>(tasks.length);
    let next = 0;
    let failed = false;
    const worker = async () => {
        while (next < tasks.length && !failed) {
            const i = next++;
            try {
                out[i] = await tasks[i]!();
            } catch (e) {
                failed = true;
                throw e;
            }
        }
    };
    await Promise.all(Array.from({ length: width }, worker));
    return out;
}

async function checked(r: ProgramResult, config?: PackConfig): Promise<Analysis> {
    assert.equal(r.error, undefined, "the program ran");
    return analyze(packArgs, r.resources, config);
}

const show = (ds: Diagnostic[]) => ds.map((d) => `[${d.policyName}] ${d.urn}\n${d.message}`).join("\n\n");
const refusing = (a: Analysis) => [...new Set(violations(a).map((d) => d.policyName))].sort();

/** A change to the program that breaks one invariant, and how the pack must refuse it. */
interface Breakage {
    name: string;
    file: string;
    find: RegExp;
    replace: string;
    /**
     * Every policy the change trips, with what its message must say; the first is the policy that guards
     * the invariant. The change alone trips these and no other.
     */
    refusals: [string, RegExp][];
}

const BREAKAGES: Breakage[] = [
    {
        name: "2375 open to the world",
        file: "infra/host/rules.ts",
        find: /(\.\.\.WORLD\.map\(\(c\) => rule\(HTTP_PORT, c, "HTTP for visitors"\)\),)/,
        replace: '$1\n        ...WORLD.map((c) => rule(2375, c, "Docker API without TLS")),',
        refusals: [
            [
                "no-plain-docker-port",
                /^host-in-2375-ipv4-0\.0\.0\.0_0 lets 0\.0\.0\.0\/0 reach port 2375 \(protocol tcp, ports 2375 to 2375\): whoever reaches it controls the host\. Remove the rule/m,
            ],
        ],
    },
    {
        name: "the data volume unencrypted",
        file: "infra/host/index.ts",
        find: /encrypted: true,(\s+finalSnapshot: true,)/,
        replace: "encrypted: false,$1",
        refusals: [["ebs-encrypted", /^host-data: the EBS volume is not encrypted \(encrypted: false\)\. Set encrypted: true\.$/m]],
    },
    {
        name: "IMDS tokens optional",
        file: "infra/host/index.ts",
        find: /httpTokens: "required"/,
        replace: 'httpTokens: "optional"',
        refusals: [
            [
                "imdsv2-one-hop",
                /^host-instance: metadataOptions\.httpTokens is "optional" and httpPutResponseHopLimit is 1\. Set httpTokens: "required"/m,
            ],
        ],
    },
    {
        name: "MySQL published on 3306",
        file: "infra/deploy/plan.ts",
        find: /(volumes: \[mount\(i\.mysqlStorage, "mysql", "\/var\/lib\/mysql"\)\],\s+)ports: \[\],/,
        replace: "$1ports: [{ internal: 3306, external: 3306 }],",
        refusals: [
            ["mysql-never-published", /^berth-mysql publishes MySQL's port 3306 \(3306 -> 3306\)\. MySQL is reached only over/m],
            ["only-nginx-publishes-ports", /^berth-mysql publishes 3306 -> 3306\. Only the nginx container publishes ports/m],
        ],
    },
    {
        name: "MYSQL_PASSWORD in user data",
        file: "cloud-config/index.ts",
        find: /(\{ path: "\/opt\/berth\/bin\/format-data")/,
        replace:
            '{ path: "/etc/berth/mysql.env", permissions: "0600", owner: "root:root", content: "MYSQL_PASSWORD=not-a-real-one\\n" },\n        $1',
        refusals: [
            [
                "no-secret-in-user-data",
                /^host-instance: userData contains MYSQL_PASSWORD\. Anyone allowed to describe the instance reads its user data/m,
            ],
        ],
    },
    {
        name: "SSH open to the world",
        file: "infra/host/rules.ts",
        find: /(\.\.\.adminCidrs\.map\(\(c\) => rule\(SSH_PORT, c, "SSH for admins"\)\),)/,
        replace: '$1\n        ...WORLD.map((c) => rule(SSH_PORT, c, "SSH for everyone")),',
        refusals: [
            [
                "admin-ports-not-public",
                /^host-in-22-ipv4-0\.0\.0\.0_0 opens port 22 \(SSH\) to 0\.0\.0\.0\/0: 0\.0\.0\.0\/0 is the whole internet\. Open it to the admins' addresses only/m,
            ],
        ],
    },
    {
        name: "the Docker client key in user data",
        file: "infra/host/index.ts",
        find: /this\.tls\.serverKeyPem,/,
        replace: "pulumi.concat(this.tls.serverKeyPem, this.tls.clientKeyPem),",
        refusals: [
            ["no-secret-in-user-data", /^host-instance: userData holds 2 private keys\. Only the Docker daemon's own key belongs there/m],
        ],
    },
];

/** What a copy of the program needs: the runner loads the copy's index.ts through the copy's test/support. */
const COPIED = ["index.ts", "infra", "cloud-config", "scripts", "test/support", "Pulumi.yaml", "package.json", "tsconfig.json"];
/** Read, never changed: linked (the app is the build context the program digests). */
const LINKED = ["node_modules", "app"];

const copies: string[] = [];

/** A copy of the program in a temporary directory with `breakages` applied; each must match exactly once. */
function brokenCopy(breakages: readonly Breakage[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-broken-"));
    copies.push(dir);
    for (const rel of COPIED) fs.cpSync(path.join(ROOT, rel), path.join(dir, rel), { recursive: true });
    for (const rel of LINKED) fs.symlinkSync(path.join(ROOT, rel), path.join(dir, rel), "dir");
    for (const b of breakages) {
        const file = path.join(dir, b.file);
        const text = fs.readFileSync(file, "utf8");
        const found = text.match(new RegExp(b.find.source, "g"))?.length ?? 0;
        assert.equal(found, 1, `breakage "${b.name}": ${b.file} must match ${String(b.find)} once (the program changed?)`);
        fs.writeFileSync(file, text.replace(b.find, b.replace));
    }
    return dir;
}

function assertRefused(a: Analysis, b: Breakage): void {
    for (const [name, message] of b.refusals) {
        const mine = violations(a).filter((d) => d.policyName === name);
        assert.ok(
            mine.some((d) => message.test(d.message)),
            `"${b.name}": policy ${name} should refuse with ${String(message)}; the pack said:\n${show(violations(a))}`,
        );
        const policy = packArgs.policies.find((p) => p.name === name)!;
        for (const d of mine) {
            assert.equal(d.enforcementLevel, "mandatory");
            assert.ok(d.message.startsWith(`${policy.description}\n`), "the SDK's form: the description, a newline, the message");
        }
    }
}

const policiesOf = (b: Breakage) => b.refusals.map(([name]) => name);

describe("the policy pack on the program under mocks", () => {
    let plain: ProgramResult;
    let https: ProgramResult;
    let local: ProgramResult;
    let publicAdmin: ProgramResult;
    let all: ProgramResult;
    let alone: ProgramResult[];
    let served: ServedPack | undefined;

    before(async () => {
        const starting = servePack().then((s) => (served = s));
        const runs = await pool([
            () => runProgram({ config: BASE_CONFIG }),
            () => runProgram({ config: HTTPS }),
            () => runProgram({ config: LOCAL }),
            () => runProgram({ config: { ...BASE_CONFIG, adminCidrs: ["0.0.0.0/0"], allowPublicAdmin: true } }),
            () => runProgram({ config: BASE_CONFIG }, { root: brokenCopy(BREAKAGES) }),
            ...BREAKAGES.map((b) => () => runProgram({ config: BASE_CONFIG }, { root: brokenCopy([b]) })),
        ]);
        [plain, https, local, publicAdmin, all] = runs as [ProgramResult, ProgramResult, ProgramResult, ProgramResult, ProgramResult];
        alone = runs.slice(5);
        await starting;
    });
    after(() => {
        served?.close();
        for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("passes the program as it is: default config, HTTPS, and target local", async () => {
        for (const [what, r] of [
            ["default", plain],
            ["HTTPS", https],
            ["local", local],
        ] as const) {
            const a = await checked(r);
            assert.deepEqual(a.diagnostics, [], `${what}:\n${show(a.diagnostics)}`);
        }
        // Not vacuous: the judged resources are there.
        for (const t of [TYPES.ingressRule, TYPES.securityGroup, TYPES.volume, TYPES.instance, TYPES.container]) {
            assert.ok(byType(plain, t).length > 0, t);
        }
        assert.deepEqual(
            byType(https, TYPES.container)
                .filter((c) => Array.isArray(c.inputs.ports))
                .map((c) => [c.name, c.inputs.ports]),
            [
                [
                    "berth-nginx",
                    [
                        { internal: 80, external: 80 },
                        { internal: 443, external: 443 },
                    ],
                ],
            ],
        );
        assert.ok(byType(local, TYPES.container).length > 0);
        assert.equal(byType(local, TYPES.instance).length, 0);
    });

    it("refuses every breakage in one broken copy, each by the policy that guards it", async () => {
        const a = await checked(all);
        for (const b of BREAKAGES) assertRefused(a, b);
        assert.deepEqual(refusing(a), [...new Set(BREAKAGES.flatMap(policiesOf))].sort());
    });

    for (const [i, b] of BREAKAGES.entries()) {
        it(`refuses "${b.name}" alone, by ${policiesOf(b).join(" and ")}`, async () => {
            const a = await checked(alone[i]!);
            assertRefused(a, b);
            assert.deepEqual(refusing(a), policiesOf(b).sort(), show(violations(a)));
        });
    }

    it("refuses SSH and the Docker API open to 0.0.0.0/0 even when the program allows it, unless the pack's config does", async () => {
        const refused = violations(await checked(publicAdmin));
        assert.deepEqual(refused.map((d) => [d.policyName, d.urn.split("::").pop()]).sort(), [
            ["admin-ports-not-public", "host-in-22-ipv4-0.0.0.0_0"],
            ["admin-ports-not-public", "host-in-2376-ipv4-0.0.0.0_0"],
        ]);
        assert.match(refused.map((d) => d.message).join("\n"), /set allowPublicAdmin to true for this policy in the policy pack's config/);
        const allowed = await checked(publicAdmin, { "admin-ports-not-public": { allowPublicAdmin: true } });
        assert.deepEqual(allowed.diagnostics, []);
    });

    it("the pack as the CLI serves it (the SDK's own gRPC server) describes itself and says what the harness says", async () => {
        const info = served!.info;
        assert.equal(info.getName(), "berth-security");
        assert.equal(info.getSupportsconfig(), true);
        assert.deepEqual(
            info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]),
            packArgs.policies.map((p) => [p.name, 1 /* MANDATORY */]),
        );
        const schema = info
            .getPoliciesList()
            .find((p) => p.getName() === "admin-ports-not-public")!
            .getConfigschema()!
            .getProperties()!
            .toJavaScript();
        assert.deepEqual((schema.allowPublicAdmin as Record<string, unknown>).default, false);

        const key = (d: Diagnostic) => JSON.stringify([d.urn, d.policyName, d.enforcementLevel, d.message]);
        for (const [what, r, config] of [
            ["default", plain, {}],
            ["HTTPS", https, {}],
            ["local", local, {}],
            ["every breakage", all, {}],
            ["0.0.0.0/0 for admins", publicAdmin, {}],
            ["0.0.0.0/0 for admins, allowed", publicAdmin, { "admin-ports-not-public": { allowPublicAdmin: true } }],
        ] as const) {
            await served!.configure(reconcileConfig(packArgs, config));
            const byServer: Diagnostic[] = [];
            for (const resource of r.resources) byServer.push(...(await served!.analyze(resource)));
            const byHarness = (await checked(r, config)).diagnostics;
            assert.deepEqual(byServer.map(key).sort(), byHarness.map(key).sort(), what);
            if (what === "every breakage") assert.ok(byServer.length >= 8, "the comparison is not vacuous");
        }
    });

    it("judges the rest of an instance when its user data is unknown during a preview", async () => {
        const instance = one(plain, TYPES.instance);
        const previewed = {
            ...instance,
            inputs: {
                ...instance.inputs,
                userData: UNKNOWN_STRING,
                metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 2 },
            },
        };
        const a = await analyze(packArgs, [previewed]);
        assert.deepEqual(
            a.diagnostics.map((d) => [d.policyName, d.enforcementLevel]),
            [
                ["imdsv2-one-hop", "mandatory"],
                ["no-secret-in-user-data", "advisory"],
            ],
        );
        assert.match(
            a.diagnostics[1]!.message,
            /^can't run policy 'no-secret-in-user-data' during preview: string value at \.userData can't be known/,
        );
    });
});

describe("the policy pack's rules", () => {
    it("names the types as the provider SDKs' classes do (what isType and validateResourceOfType match on)", () => {
        const classes: [string, unknown][] = [
            [TYPES.ingressRule, SecurityGroupIngressRule],
            [TYPES.securityGroup, SecurityGroup],
            [TYPES.defaultSecurityGroup, DefaultSecurityGroup],
            [TYPES.securityGroupRule, SecurityGroupRule],
            [TYPES.volume, Volume],
            [TYPES.instance, Instance],
            [TYPES.container, Container],
        ];
        for (const [token, cls] of classes) assert.ok(isTypeOf(token, cls), token);
        assert.equal(isTypeOf(TYPES.volume, Instance), false);
    });

    it("treats as public exactly the admin CIDRs the program's own check refuses without berth:allowPublicAdmin", () => {
        const cidrs = [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "128.0.0.0/1",
            "8.0.0.0/7",
            "10.0.0.0/8",
            "198.51.100.7/32",
            "::/0",
            "2000::/15",
            "2001::/16",
            "2001:db8::/32",
        ];
        for (const c of cidrs) {
            let refused = false;
            try {
                parseCidr("adminCidrs", c, false);
            } catch {
                refused = true;
            }
            assert.equal(publicReason(c) !== undefined, refused, c);
        }
    });

    it("sees inline security group rules, covering ranges and protocols, block devices, encoded user data and every way to publish", async () => {
        const resource = (type: string, name: string, inputs: Record<string, unknown>, parents = "") => ({
            type,
            name,
            urn: `urn:pulumi:dev::berth::${parents}${type}::${name}`,
            parent: "",
            provider: "",
            custom: true,
            inputs,
            secretInputs: [],
            dependencies: [],
            propertyDependencies: {},
            deleteBeforeReplace: undefined,
            retainOnDelete: false,
            ignoreChanges: [],
            replaceOnChanges: [],
            additionalSecretOutputs: [],
        });
        const inDeployment = "berth:infra:Deployment$";
        const a = await analyze(packArgs, [
            resource(TYPES.securityGroup, "inline", {
                ingress: [
                    { protocol: "tcp", fromPort: 2000, toPort: 3000, cidrBlocks: ["10.1.0.0/16"] },
                    { protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] },
                    { protocol: "udp", fromPort: 0, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] },
                ],
            }),
            resource(TYPES.securityGroupRule, "classic", {
                type: "ingress",
                protocol: "6",
                fromPort: 22,
                toPort: 22,
                cidrBlocks: ["0.0.0.0/1"],
            }),
            resource(TYPES.securityGroupRule, "egress", {
                type: "egress",
                protocol: "-1",
                fromPort: 0,
                toPort: 0,
                cidrBlocks: ["0.0.0.0/0"],
            }),
            resource(TYPES.ingressRule, "from-group", { ipProtocol: "-1", referencedSecurityGroupId: "sg-1" }),
            resource(TYPES.volume, "blank", { size: 1 }),
            resource(TYPES.instance, "bare", {
                rootBlockDevice: { encrypted: true },
                ebsBlockDevices: [{ deviceName: "/dev/sdg", encrypted: false }],
                metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
                userDataBase64: Buffer.from("SECRET_KEY_BASE=x\n").toString("base64"),
            }),
            resource(TYPES.container, "berth-nginx", { ports: [{ internal: 80, external: 80 }] }),
            resource(TYPES.container, "berth-nginx", { ports: [{ internal: 80 }, { internal: 33060, external: 33060 }] }, inDeployment),
            resource(TYPES.container, "berth-mysql", { publishAllPorts: true }, inDeployment),
            resource(TYPES.container, "debug", { networkMode: "host" }),
        ]);
        const expected: [string, RegExp][] = [
            ["no-plain-docker-port", /^inline \(ingress\[0\]\) lets 10\.1\.0\.0\/16 reach port 2375 \(protocol tcp, ports 2000 to 3000\)/],
            ["no-plain-docker-port", /^inline \(ingress\[1\]\) lets ::\/0 reach port 2375 \(every protocol and port\)/],
            ["admin-ports-not-public", /^inline \(ingress\[1\]\) opens port 22 \(SSH\) to ::\/0: ::\/0 is the whole internet/],
            ["admin-ports-not-public", /^inline \(ingress\[1\]\) opens port 2376 \(the Docker API\) to ::\/0/],
            ["admin-ports-not-public", /^classic opens port 22 \(SSH\) to 0\.0\.0\.0\/1: 0\.0\.0\.0\/1 is wider than \/8/],
            ["no-plain-docker-port", /^from-group lets sg-1 reach port 2375 \(every protocol and port\)/],
            ["ebs-encrypted", /^blank: the EBS volume is not encrypted \(encrypted: unset\)/],
            ["ebs-encrypted", /^bare: ebsBlockDevices\[0\] \(\/dev\/sdg\) is not encrypted/],
            ["no-secret-in-user-data", /^bare: userDataBase64 contains SECRET_KEY_BASE/],
            ["only-nginx-publishes-ports", /^berth-nginx publishes 80 -> 80\. Only the nginx container publishes ports/],
            ["only-nginx-publishes-ports", /^berth-nginx \(nginx\) publishes 33060 -> 33060\. nginx publishes only its ports 80 and 443/],
            ["mysql-never-published", /^berth-nginx publishes MySQL's port 33060 \(33060 -> 33060\)/],
            ["only-nginx-publishes-ports", /^berth-mysql publishes every exposed port \(publishAllPorts\)/],
            ["mysql-never-published", /^berth-mysql \(MySQL\) publishes every exposed port \(publishAllPorts\)/],
            ["only-nginx-publishes-ports", /^debug publishes every port it listens on \(networkMode "host"\)/],
        ];
        const said = violations(a);
        assert.equal(said.length, expected.length, show(said));
        for (const [policy, message] of expected) {
            assert.ok(
                said.some((d) => d.policyName === policy && message.test(d.message.slice(d.message.indexOf("\n") + 1))),
                `${policy} ${String(message)}\n${show(said)}`,
            );
        }
    });
});
