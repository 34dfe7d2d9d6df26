import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as yaml from "js-yaml";
import { BASE_CONFIG, byType, one, output, ProgramResult, runProgram } from "../../support/program";
import { MOCK_DNS, MOCK_IP } from "../../support/mocks";
import { Ec2, instanceTags, orders, sameTags, type Tags } from "./ec2-volume-tags";

const RAILS_DIR = "test/fixtures/rails-app";
const config = { ...BASE_CONFIG, appDir: RAILS_DIR, sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKey op@laptop" };
const WORLD = new Set(["0.0.0.0/0", "::/0"]);

describe("the host under mocks", () => {
    let r: ProgramResult;
    before(async () => {
        r = await runProgram({ config });
        assert.equal(r.error, undefined);
    });

    it("opens 80 to everyone, and 22 and 2376 only to the admin CIDRs; never 2375", () => {
        const rules = byType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((x) => x.inputs);
        assert.ok(rules.length >= 4);
        const open = (port: number) => rules.filter((x) => Number(x.fromPort) <= port && port <= Number(x.toPort));
        for (const port of [22, 2376]) {
            const cidrs = open(port).map((x) => x.cidrIpv4 ?? x.cidrIpv6);
            assert.deepEqual(cidrs, ["198.51.100.7/32"], `port ${port}`);
        }
        assert.deepEqual(
            open(80)
                .map((x) => x.cidrIpv4 ?? x.cidrIpv6)
                .sort(),
            ["0.0.0.0/0", "::/0"],
        );
        assert.equal(open(2375).length, 0);
        for (const x of rules) {
            if (WORLD.has(String(x.cidrIpv4 ?? x.cidrIpv6))) assert.equal(x.fromPort, 80);
        }
        const sg = one(r, "aws:ec2/securityGroup:SecurityGroup").inputs;
        assert.equal(sg.ingress, undefined, "no inline rules beside the rule resources");
    });

    it("requires IMDSv2 with one hop and encrypts both disks", () => {
        const instance = one(r, "aws:ec2/instance:Instance").inputs as Record<string, Record<string, unknown>>;
        assert.deepEqual(instance.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
        assert.equal(instance.rootBlockDevice?.encrypted, true);
        const data = one(r, "aws:ebs/volume:Volume").inputs;
        assert.equal(data.encrypted, true);
        assert.equal(data.type, "gp3");
        assert.equal(data.finalSnapshot, true);
        assert.equal(data.size, 10);
        assert.equal(data.availabilityZone, instance.availabilityZone as unknown as string);
        assert.equal(one(r, "aws:ec2/instance:Instance").inputs.instanceType, "t3.small");
    });

    it("passes user data as a secret that holds no password", () => {
        const instance = one(r, "aws:ec2/instance:Instance");
        assert.ok(instance.secretInputs.includes("userData"));
        const userData = String(instance.inputs.userData);
        assert.match(userData, /^#cloud-config\n/);
        assert.doesNotMatch(userData, /password/i);
        assert.doesNotMatch(userData, /2375/);
        const doc = yaml.load(userData.slice(userData.indexOf("\n") + 1)) as { ssh_authorized_keys: string[] };
        assert.deepEqual(doc.ssh_authorized_keys, [config.sshPublicKey]);
    });

    it("issues a server certificate for the elastic IP and its DNS name, for server auth only", () => {
        const userData = String(one(r, "aws:ec2/instance:Instance").inputs.userData);
        const doc = yaml.load(userData.slice(userData.indexOf("\n") + 1)) as { write_files: { path: string; content: string }[] };
        const pem = doc.write_files.find((f) => f.path === "/etc/docker/server.pem")!.content;
        const cert = new X509Certificate(pem);
        assert.match(cert.subjectAltName ?? "", new RegExp(`IP Address:${MOCK_IP.replace(/\./g, "\\.")}`));
        assert.match(cert.subjectAltName ?? "", new RegExp(`DNS:${MOCK_DNS.replace(/\./g, "\\.")}`));
        assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
        const ca = new X509Certificate(doc.write_files.find((f) => f.path === "/etc/docker/ca.pem")!.content);
        assert.ok(cert.verify(ca.publicKey), "signed by the CA written beside it");
        const client = new X509Certificate(String(one(r, "pulumi:providers:docker").inputs.certMaterial));
        assert.deepEqual(client.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
        assert.ok(client.verify(ca.publicKey));
    });

    it("keeps private keys secret wherever they go", () => {
        for (const k of byType(r, "tls:index/certRequest:CertRequest")) assert.ok(k.secretInputs.includes("privateKeyPem"), k.name);
        for (const k of byType(r, "tls:index/locallySignedCert:LocallySignedCert"))
            assert.ok(k.secretInputs.includes("caPrivateKeyPem"), k.name);
        assert.ok(one(r, "pulumi:providers:docker").secretInputs.includes("keyMaterial"));
        assert.ok(one(r, "command:local:Command", "-ready").secretInputs.includes("environment"));
        assert.equal(output(r, "dockerClientKey").secret, true);
        for (const [name, o] of Object.entries(r.outputs)) {
            if (!o.secret) assert.doesNotMatch(JSON.stringify(o.value), /PRIVATE KEY/, name);
        }
    });

    it("waits for the daemon before the Docker provider is used", () => {
        const gate = one(r, "command:local:Command", "-ready");
        const provider = one(r, "pulumi:providers:docker");
        assert.ok(provider.dependencies.includes(gate.urn), "provider depends on the gate");
        assert.equal(provider.inputs.host, `tcp://${MOCK_IP}:2376`);
        assert.match(String(gate.inputs.create), /^node scripts\/wait-for-docker\.js$/);
        const attachment = one(r, "aws:ec2/volumeAttachment:VolumeAttachment");
        const association = one(r, "aws:ec2/eipAssociation:EipAssociation");
        assert.ok(gate.dependencies.includes(attachment.urn) && gate.dependencies.includes(association.urn));
        for (const d of byType(r, "docker:index/container:Container")) assert.equal(d.provider.split("::")[0], provider.urn.split("::")[0]);
        for (const d of r.resources.filter((x) => x.type.startsWith("docker:index"))) {
            assert.ok(d.provider.startsWith(provider.urn), `${d.name} uses the host's provider`);
        }
    });

    it("tells the readiness gate which instance, security group and admin CIDRs to name if the daemon never answers", () => {
        const gate = one(r, "command:local:Command", "-ready");
        const env = gate.inputs.environment as Record<string, string>;
        assert.match(env.BERTH_INSTANCE_ID!, /^i-[0-9a-f]{17}$/);
        assert.match(env.BERTH_SECURITY_GROUP_ID!, /^sg-[0-9a-f]{17}$/);
        assert.equal(env.BERTH_ADMIN_CIDRS, "198.51.100.7/32");
        const from = gate.propertyDependencies.environment ?? [];
        assert.ok(from.includes(one(r, "aws:ec2/instance:Instance").urn), "the id is the instance's");
        assert.ok(from.includes(one(r, "aws:ec2/securityGroup:SecurityGroup").urn), "the id is the security group's");
    });

    it("exports the address, the Docker endpoint and an ssh command", () => {
        assert.equal(output(r, "publicIp").value, MOCK_IP);
        assert.equal(output(r, "publicDns").value, MOCK_DNS);
        assert.equal(output(r, "dockerHost").value, `tcp://${MOCK_IP}:2376`);
        assert.equal(output(r, "sshCommand").value, `ssh core@${MOCK_IP}`);
    });
});

describe("the Flatcar image", () => {
    it("does not replace a running instance when a newer release appears", async () => {
        const [a, b] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR }, amiId: "ami-0aaaaaaaaaaaaaaa1" }),
            runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR }, amiId: "ami-0bbbbbbbbbbbbbbb2" }),
        ]);
        const ia = one(a, "aws:ec2/instance:Instance");
        const ib = one(b, "aws:ec2/instance:Instance");
        assert.equal(ia.inputs.ami, "ami-0aaaaaaaaaaaaaaa1");
        assert.equal(ib.inputs.ami, "ami-0bbbbbbbbbbbbbbb2");
        assert.deepEqual(ib.ignoreChanges, ["ami"], "the AMI change is ignored, so no replacement");
        const lookup = a.invokes.find((i) => i.token === "aws:ec2/getAmi:getAmi")!.inputs as {
            owners: string[];
            filters: { name: string; values: string[] }[];
        };
        assert.deepEqual(lookup.owners, ["075585003325"]);
        assert.deepEqual(lookup.filters.find((f) => f.name === "name")!.values, ["Flatcar-stable-*"]);
        assert.deepEqual(lookup.filters.find((f) => f.name === "architecture")!.values, ["x86_64"]);
    });

    it("looks up arm64 for Graviton types, and a pinned amiId skips the lookup", async () => {
        const [arm, pinned] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR, instanceType: "t4g.small" } }),
            runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR, amiId: "ami-0123456789abcdef0" } }),
        ]);
        const lookup = arm.invokes.find((i) => i.token === "aws:ec2/getAmi:getAmi")!.inputs as {
            filters: { name: string; values: string[] }[];
        };
        assert.deepEqual(lookup.filters.find((f) => f.name === "architecture")!.values, ["arm64"]);
        assert.equal(
            one(arm, "docker:index/image:Image").inputs.build &&
                (one(arm, "docker:index/image:Image").inputs.build as { platform: string }).platform,
            "linux/arm64",
        );
        // A pinned AMI is not looked up by name; it is read by id, to check its architecture.
        const amiLookups = pinned.invokes.filter((i) => i.token === "aws:ec2/getAmi:getAmi");
        assert.deepEqual(
            amiLookups.map((i) => (i.inputs as { filters: { name: string }[] }).filters.map((f) => f.name)),
            [["image-id"]],
        );
        assert.equal(one(pinned, "aws:ec2/instance:Instance").inputs.ami, "ami-0123456789abcdef0");
    });
});

describe("bad config", () => {
    const cases: [string, Record<string, unknown>, string][] = [
        ["appVersion 0", { appVersion: 0 }, 'berth:appVersion must be an integer >= 1, got "0"'],
        [
            "a CIDR with prefix 99",
            { adminCidrs: ["1.2.3.4/99"] },
            'berth:adminCidrs must be a list of IPv4 or IPv6 CIDRs such as ["203.0.113.7/32"], got "1.2.3.4/99"',
        ],
        ["the whole internet as admin", { adminCidrs: ["0.0.0.0/0"] }, "berth:adminCidrs must be CIDRs narrower than the whole internet"],
        [
            "an app directory without a Dockerfile",
            { appDir: "test" },
            'berth:appDir must be a directory holding the app\'s Dockerfile, got "test"',
        ],
    ];
    for (const [what, patch, message] of cases) {
        it(`fails before any resource is created: ${what}`, async () => {
            const res = await runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR, ...patch } });
            assert.ok(res.error?.startsWith(message), `got: ${res.error}`);
            assert.deepEqual(res.resources, []);
        });
    }

    it("accepts the whole internet only when allowPublicAdmin is true", async () => {
        const res = await runProgram({ config: { ...BASE_CONFIG, appDir: RAILS_DIR, adminCidrs: ["0.0.0.0/0"], allowPublicAdmin: true } });
        assert.equal(res.error, undefined);
        const ssh = byType(res, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").filter((x) => x.inputs.fromPort === 22);
        assert.deepEqual(
            ssh.map((x) => x.inputs.cidrIpv4),
            ["0.0.0.0/0"],
        );
    });
});

describe("volume tags (the AWS provider's rules, ported in ./ec2-volume-tags.ts)", () => {
    const NAMES = { before: "shop-a", after: "shop-b" };
    let runs: { before: ProgramResult; after: ProgramResult };
    before(async () => {
        const [a, b] = await Promise.all([
            runProgram({ config: { ...config, instanceName: NAMES.before } }),
            runProgram({ config: { ...config, instanceName: NAMES.after } }),
        ]);
        assert.equal(a.error, undefined);
        assert.equal(b.error, undefined);
        runs = { before: a, after: b };
    });
    const declared = (run: ProgramResult) => ({
        instance: instanceTags(one(run, "aws:ec2/instance:Instance").inputs),
        data: one(run, "aws:ebs/volume:Volume").inputs.tags as Tags,
    });
    /** `pulumi up` of a new stack: the data volume, the instance (with its root volume), the attachment. */
    const created = (d: ReturnType<typeof declared>) => {
        const ec2 = new Ec2();
        ec2.createVolume("vol-data", d.data);
        const instance = ec2.createInstance(d.instance);
        ec2.attach("vol-data");
        return { ec2, instance, data: d.data };
    };

    it("tags the root volume through rootBlockDevice.tags, sets no volumeTags, and keeps the data volume's own Name", () => {
        const d = declared(runs.before);
        assert.equal(one(runs.before, "aws:ec2/instance:Instance").inputs.volumeTags, undefined);
        assert.deepEqual(d.instance.rootTags, { Name: `${NAMES.before}-root`, "berth:stack": "dev" });
        assert.deepEqual(d.data, { Name: `${NAMES.before}-data`, "berth:stack": "dev" });
        const { ec2, instance } = created(d);
        assert.deepEqual(ec2.tagsOf("vol-data"), d.data);
        assert.deepEqual(ec2.tagsOf(ec2.rootVolumeId), d.instance.rootTags);
        // A refresh finds what was declared, whatever order DescribeTags answers in: nothing to fight over.
        for (const order of orders(ec2.attached)) {
            const read = ec2.readInstance(instance, order);
            assert.ok(sameTags(read.volumeTags, d.instance.volumeTags) && sameTags(read.rootTags, d.instance.rootTags), order.join());
        }
    });

    it("after an instanceName change, up and refresh leave each volume its own Name", () => {
        const before = declared(runs.before);
        const after = declared(runs.after);
        // The engine updates the volume first (the instance's user data holds its id); either order holds.
        for (const volumeFirst of [true, false]) {
            const { ec2, instance } = created(before);
            const steps = [() => ec2.updateTags("vol-data", before.data, after.data), () => ec2.updateInstance(instance, after.instance)];
            for (const step of volumeFirst ? steps : steps.reverse()) step();
            assert.equal(ec2.tagsOf("vol-data").Name, `${NAMES.after}-data`);
            assert.equal(ec2.tagsOf(ec2.rootVolumeId).Name, `${NAMES.after}-root`);
            for (const order of orders(ec2.attached)) {
                const read = ec2.readInstance(after.instance, order);
                assert.ok(sameTags(read.rootTags, after.instance.rootTags) && sameTags(read.volumeTags, undefined));
                assert.deepEqual(ec2.tagsOf("vol-data"), after.data, "the data volume's refresh shows no drift");
            }
        }
    });

    // The port is only worth something if it sees the fight the provider's docs warn about.
    it("the port sees volumeTags fight the data volume's tags", () => {
        const d = declared(runs.before);
        const old = { volumeTags: d.instance.rootTags };
        const ec2 = new Ec2();
        ec2.createVolume("vol-data", d.data);
        const state = ec2.createInstance(old);
        ec2.attach("vol-data");
        // A refresh reads the data volume's Name into the instance's volumeTags in one order or the other...
        assert.ok(orders(ec2.attached).some((order) => !sameTags(ec2.readInstance(state, order).volumeTags, old.volumeTags)));
        // ...and renaming writes the root's Name onto the data volume.
        const after = declared(runs.after);
        ec2.updateTags("vol-data", d.data, after.data);
        ec2.updateInstance(state, { volumeTags: after.instance.rootTags });
        assert.equal(ec2.tagsOf("vol-data").Name, `${NAMES.after}-root`);
        assert.throws(() => new Ec2().createInstance({ volumeTags: d.data, rootTags: d.data }), /conflicts with volume_tags/);
    });

    it("upgrading a stack that used volumeTags: the first up strips berth:stack from the data volume; refresh and up restore it", () => {
        const d = declared(runs.before);
        const ec2 = new Ec2();
        ec2.createVolume("vol-data", d.data);
        const oldState = ec2.createInstance({ volumeTags: d.instance.rootTags });
        ec2.attach("vol-data");
        ec2.updateInstance(oldState, d.instance);
        assert.deepEqual(ec2.tagsOf(ec2.rootVolumeId), d.instance.rootTags);
        // The volume's own inputs did not change, so this up leaves it alone.
        assert.deepEqual(ec2.tagsOf("vol-data"), { Name: d.data.Name });
        // `pulumi refresh` sees the drift and the next `pulumi up` writes the declared tags back.
        ec2.updateTags("vol-data", ec2.tagsOf("vol-data"), d.data);
        assert.deepEqual(ec2.tagsOf("vol-data"), d.data);
    });
});
