// HTTPS on target aws under mocks (the whole program): 443 open to everyone beside 80, the ACME client's
// container, the URL on the domain, the DNS records (printed, or created in a Route 53 zone), and no
// certificate or key of the ACME client anywhere in the host's user data or the stack's outputs.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, byType, leaves, one, output, type ProgramResult, runProgram } from "../../support/program";
import { MOCK_DNS, MOCK_IP } from "../../support/mocks";
import { acmeScript } from "../../../infra/deploy/acme";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const RECORD = "aws:route53/record:Record";
const CONTAINER = "docker:index/container:Container";
const GET_ZONE = "aws:route53/getZone:getZone";
const WORLD = ["0.0.0.0/0", "::/0"];
const ADMIN = "198.51.100.7/32";
const ZONE_ID = "Z0123456789ABCDEFGHIJ";
const HTTPS = { ...BASE_CONFIG, domain: "App.Example.com", acmeEmail: "ops@example.com", domainAliases: ["www.example.com"] };
const NAMES = ["app.example.com", "www.example.com"];

/** The ingress rules' CIDRs for `port`, sorted. */
function cidrsOf(r: ProgramResult, port: number): string[] {
    return byType(r, INGRESS)
        .map((x) => x.inputs)
        .filter((x) => Number(x.fromPort) <= port && port <= Number(x.toPort))
        .map((x) => String(x.cidrIpv4 ?? x.cidrIpv6))
        .sort();
}

const userData = (r: ProgramResult) => String(one(r, "aws:ec2/instance:Instance").inputs.userData);

describe("HTTPS on target aws under mocks", () => {
    let tlsStateDir = "";
    let https: ProgramResult;
    let plain: ProgramResult;
    let zoned: ProgramResult;
    before(async () => {
        // One TLS state for the two runs compared: the same host certificates, so their user data can be equal.
        tlsStateDir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-https-tls-"));
        const compared = async () => {
            // One after the other: the first writes the TLS state the second reads.
            const a = await runProgram({ config: HTTPS, tlsStateDir });
            const b = await runProgram({ config: BASE_CONFIG, tlsStateDir });
            return [a, b] as const;
        };
        let pair: readonly [ProgramResult, ProgramResult];
        [pair, zoned] = await Promise.all([
            compared(),
            runProgram({ config: { ...HTTPS, route53ZoneId: `/hostedzone/${ZONE_ID}` }, route53Zones: { [ZONE_ID]: "example.com." } }),
        ]);
        [https, plain] = pair;
        for (const r of [https, plain, zoned]) assert.equal(r.error, undefined);
    });
    after(() => fs.rmSync(tlsStateDir, { recursive: true, force: true }));

    it("opens 443 and 80 to everyone, 22 and 2376 to the admin CIDRs only, and never 2375", () => {
        assert.deepEqual(cidrsOf(https, 443), WORLD);
        assert.deepEqual(cidrsOf(https, 80), WORLD);
        assert.deepEqual(cidrsOf(https, 22), [ADMIN]);
        assert.deepEqual(cidrsOf(https, 2376), [ADMIN]);
        assert.deepEqual(cidrsOf(https, 2375), []);
        for (const x of byType(https, INGRESS).map((r) => r.inputs)) {
            if (WORLD.includes(String(x.cidrIpv4 ?? x.cidrIpv6))) assert.ok([80, 443].includes(Number(x.fromPort)), JSON.stringify(x));
            assert.equal(x.fromPort, x.toPort, "one port per rule");
            assert.equal(x.ipProtocol, "tcp");
        }
    });

    it("gives the URL on the domain, lower case", () => {
        assert.deepEqual(output(https, "url"), { value: "https://app.example.com/", secret: false });
    });

    it("prints the A records to create, one per name, when Berth manages no zone; creates none and looks up no zone", () => {
        assert.deepEqual(output(https, "dnsRecords").value, [
            `app.example.com. 300 IN A ${MOCK_IP}`,
            `www.example.com. 300 IN A ${MOCK_IP}`,
        ]);
        assert.deepEqual(byType(https, RECORD), []);
        assert.ok(!https.invokes.some((i) => i.token === GET_ZONE));
    });

    it("creates one A record per name in the zone, for the elastic IP, and prints none", () => {
        const lookups = zoned.invokes.filter((i) => i.token === GET_ZONE);
        assert.deepEqual(
            lookups.map((i) => i.inputs),
            [{ zoneId: ZONE_ID }],
            "the id without /hostedzone/",
        );
        const records = byType(zoned, RECORD);
        assert.deepEqual(
            records.map((r) => r.inputs).sort((a, b) => String(a.name).localeCompare(String(b.name))),
            NAMES.map((name) => ({ zoneId: ZONE_ID, name, type: "A", ttl: 300, records: [MOCK_IP] })),
        );
        const eip = one(zoned, "aws:ec2/eip:Eip");
        for (const r of records) assert.ok(r.propertyDependencies.records?.includes(eip.urn), `${r.name} takes the elastic IP's address`);
        assert.equal(zoned.outputs.dnsRecords, undefined);
        assert.equal(output(zoned, "url").value, "https://app.example.com/");
        const acme = one(zoned, CONTAINER, "-acme");
        for (const r of records) assert.ok(acme.dependencies.includes(r.urn), `the ACME client starts after ${r.name}`);
    });

    it("runs the ACME client: the loop as /bin/sh -c, plain environment, restarted unless stopped, replaced delete-first, after nginx", () => {
        const acme = one(https, CONTAINER, "-acme");
        assert.deepEqual(acme.inputs.entrypoints, ["/bin/sh", "-c", acmeScript()]);
        assert.equal(acme.inputs.restart, "unless-stopped");
        assert.equal(acme.deleteBeforeReplace, true);
        assert.deepEqual(acme.inputs.volumes, [{ hostPath: "/opt/data/berth/acme", containerPath: "/berth-acme" }]);
        assert.ok((acme.inputs.envs as string[]).includes("ACME_DOMAINS=app.example.com www.example.com"));
        assert.deepEqual(acme.secretInputs, [], "nothing secret goes to it");
        assert.ok(acme.dependencies.includes(one(https, CONTAINER, "-nginx").urn));
        assert.equal(one(https, "docker:index/remoteImage:RemoteImage", "-acme-image").inputs.name, "goacme/lego:v4.35.2");
        assert.equal(output(https, "certificateLogsCommand").value, "docker --context berth-dev logs --follow berth-acme-1234567");
    });

    it("publishes 443 on nginx with the certificate and challenge directories read-only", () => {
        const nginx = one(https, CONTAINER, "-nginx").inputs;
        assert.deepEqual(nginx.ports, [
            { internal: 80, external: 80 },
            { internal: 443, external: 443 },
        ]);
        assert.deepEqual(nginx.volumes, [
            { hostPath: "/opt/data/berth/route", containerPath: "/etc/nginx/berth-route" },
            { hostPath: "/opt/data/berth/acme/webroot", containerPath: "/var/lib/berth-acme", readOnly: true },
            { hostPath: "/opt/data/berth/acme/live", containerPath: "/etc/nginx/berth-tls", readOnly: true },
        ]);
    });

    it("without domain: no 443, the URL on the EC2 name over HTTP, no ACME client, no DNS records, no zone lookup", () => {
        assert.deepEqual(cidrsOf(plain, 443), []);
        assert.deepEqual(cidrsOf(plain, 80), WORLD);
        assert.deepEqual(output(plain, "url").value, `http://${MOCK_DNS}/`);
        assert.equal(byType(plain, CONTAINER).filter((c) => c.name.endsWith("-acme")).length, 0);
        assert.equal(byType(plain, "docker:index/remoteImage:RemoteImage").filter((c) => c.name.endsWith("-acme-image")).length, 0);
        assert.equal(plain.outputs.certificateLogsCommand, undefined);
        assert.equal(plain.outputs.dnsRecords, undefined);
        assert.deepEqual(byType(plain, RECORD), []);
        assert.ok(!plain.invokes.some((i) => i.token === GET_ZONE));
        assert.deepEqual(one(plain, CONTAINER, "-nginx").inputs.ports, [{ internal: 80, external: 80 }]);
    });

    it("leaves the host's user data as it was: HTTPS adds nothing to it, no ACME setting, no key", () => {
        const withDomain = userData(https);
        assert.match(withDomain, /^#cloud-config\n/);
        assert.equal(withDomain, userData(plain), "the same user data with and without domain");
        assert.doesNotMatch(withDomain, /acme/i);
        assert.doesNotMatch(withDomain, /BEGIN EC PRIVATE KEY/);
        assert.ok(one(https, "aws:ec2/instance:Instance").secretInputs.includes("userData"));
        // The one private key it holds, as before HTTPS: the Docker daemon's server key.
        assert.equal((withDomain.match(/PRIVATE KEY-----\n/g) ?? []).length / 2, 1);
    });

    it("exports no ACME key or certificate: the only private key is dockerClientKey, a secret; the only certificates the Docker ones", () => {
        for (const r of [https, zoned, plain]) {
            const withKey = Object.entries(r.outputs)
                .filter(([, o]) => leaves(o.value).some((l) => /PRIVATE KEY/.test(l)))
                .map(([k]) => k);
            assert.deepEqual(withKey, ["dockerClientKey"]);
            assert.equal(output(r, "dockerClientKey").secret, true);
            const withCert = Object.entries(r.outputs)
                .filter(([, o]) => leaves(o.value).some((l) => /BEGIN CERTIFICATE/.test(l)))
                .map(([k]) => k)
                .sort();
            assert.deepEqual(withCert, ["dockerCaCert", "dockerClientCert"]);
        }
        const keys = (r: ProgramResult) => Object.keys(r.outputs).sort();
        assert.deepEqual(
            keys(https).filter((k) => !keys(plain).includes(k)),
            ["certificateLogsCommand", "dnsRecords"],
            "HTTPS adds these two outputs only",
        );
    });
});

describe("the Route 53 zone, read before anything is declared", () => {
    it("refuses names the zone cannot hold, naming route53ZoneId and each such name, and declares nothing", async () => {
        const r = await runProgram({
            config: { ...HTTPS, domainAliases: ["www.example.com", "shop.example.org", "notexample.com"], route53ZoneId: ZONE_ID },
            route53Zones: { [ZONE_ID]: "example.com." },
        });
        assert.equal(
            r.error,
            `berth:route53ZoneId ${ZONE_ID} is the zone example.com, which cannot hold shop.example.org, notexample.com: ` +
                "set berth:route53ZoneId to the zone of those names, or unset it and create the A records yourself",
        );
        assert.deepEqual(r.resources, []);
    });

    it("takes the zone's apex itself, whatever the case of the zone's name", async () => {
        const r = await runProgram({
            config: { ...BASE_CONFIG, domain: "example.com", acmeEmail: "ops@example.com", route53ZoneId: ZONE_ID },
            route53Zones: { [ZONE_ID]: "Example.COM" },
        });
        assert.equal(r.error, undefined);
        assert.deepEqual(
            byType(r, RECORD).map((x) => x.inputs.name),
            ["example.com"],
        );
    });

    it("fails as AWS does for a zone id the account does not have, and declares nothing", async () => {
        const r = await runProgram({ config: { ...HTTPS, route53ZoneId: ZONE_ID }, route53Zones: {} });
        assert.match(r.error ?? "", /no matching Route 53 Hosted Zone found/);
        assert.deepEqual(r.resources, []);
    });

    it("names berth:route53ZoneId when the account has no such zone", async () => {
        const r = await runProgram({ config: { ...HTTPS, route53ZoneId: ZONE_ID }, route53Zones: {} });
        assert.match(r.error ?? "", new RegExp(`^berth:route53ZoneId ${ZONE_ID}`));
    });
});
