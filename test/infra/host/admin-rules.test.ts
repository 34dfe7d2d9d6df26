import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { adminCidrsOf, type SecurityGroupRule } from "../../../infra/host/admin-rules";
import { BASE_CONFIG, byType, one, ProgramResult, runProgram } from "../../support/program";

const rule = (over: Partial<SecurityGroupRule>): SecurityGroupRule => ({
    isEgress: false,
    ipProtocol: "tcp",
    fromPort: 22,
    toPort: 22,
    cidrIpv4: "",
    cidrIpv6: "",
    ...over,
});

describe("adminCidrsOf", () => {
    it("keeps the CIDRs of inbound rules on 22 and 2376, sorted and once each", () => {
        const rules = [
            rule({ fromPort: 2376, toPort: 2376, cidrIpv4: "203.0.113.9/32" }),
            rule({ cidrIpv4: "203.0.113.9/32" }),
            rule({ cidrIpv6: "2001:db8::/64" }),
            rule({ fromPort: 2376, toPort: 2376, cidrIpv4: "198.51.100.7/32" }),
        ];
        assert.deepEqual(adminCidrsOf(rules), ["198.51.100.7/32", "2001:db8::/64", "203.0.113.9/32"]);
    });

    it("ignores HTTP, egress, other protocols and rules without a CIDR", () => {
        const rules = [
            rule({ fromPort: 80, toPort: 80, cidrIpv4: "0.0.0.0/0" }),
            rule({ isEgress: true, ipProtocol: "-1", fromPort: -1, toPort: -1, cidrIpv4: "0.0.0.0/0" }),
            rule({ ipProtocol: "udp", cidrIpv4: "192.0.2.0/24" }),
            rule({}),
        ];
        assert.deepEqual(adminCidrsOf(rules), []);
    });

    it("counts port ranges and all-traffic rules that cover 22 or 2376", () => {
        const rules = [
            rule({ fromPort: 2000, toPort: 3000, cidrIpv4: "192.0.2.0/24" }),
            rule({ ipProtocol: "-1", fromPort: -1, toPort: -1, cidrIpv6: "2001:db8:1::/48" }),
            rule({ ipProtocol: "6", fromPort: 0, toPort: 65535, cidrIpv4: "198.51.100.0/24" }),
        ];
        assert.deepEqual(adminCidrsOf(rules), ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:1::/48"]);
    });
});

const LOOKUPS = [
    "aws:ec2/getSecurityGroups:getSecurityGroups",
    "aws:vpc/getSecurityGroupRules:getSecurityGroupRules",
    "aws:vpc/getSecurityGroupRule:getSecurityGroupRule",
];
const AUTO = { appVersion: 1 };

const adminLogs = (r: ProgramResult) => r.logs.filter((l) => l.message.includes("adminCidrs"));
const openTo = (r: ProgramResult, port: number) =>
    byType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        .map((x) => x.inputs)
        .filter((x) => x.fromPort === port)
        .map((x) => x.cidrIpv4 ?? x.cidrIpv6);
const lookups = (r: ProgramResult) => r.invokes.filter((i) => LOOKUPS.includes(i.token)).map((i) => i.token);

describe("the auto-detected admin address under mocks", () => {
    let first: ProgramResult;
    let same: ProgramResult;
    let changed: ProgramResult;
    let pinned: ProgramResult;
    before(async () => {
        [first, same, changed, pinned] = await Promise.all([
            runProgram({ config: AUTO, detectedIp: "203.0.113.7" }),
            runProgram({ config: AUTO, detectedIp: "203.0.113.7", openAdminCidrs: ["203.0.113.7/32"] }),
            runProgram({ config: AUTO, detectedIp: "203.0.113.9", openAdminCidrs: ["198.51.100.7/32"] }),
            runProgram({ config: BASE_CONFIG, detectedIp: "203.0.113.9", openAdminCidrs: ["192.0.2.1/32"] }),
        ]);
        for (const r of [first, same, changed, pinned]) assert.equal(r.error, undefined);
    });

    it("looks the stack's security group up by the tags the host gives it", () => {
        const sg = one(first, "aws:ec2/securityGroup:SecurityGroup").inputs.tags as Record<string, string>;
        const lookup = first.invokes.find((i) => i.token === LOOKUPS[0])!.inputs as { filters: { name: string; values: string[] }[] };
        assert.deepEqual(lookup.filters, [
            { name: "tag:Name", values: [sg.Name] },
            { name: "tag:berth:stack", values: [sg["berth:stack"]] },
        ]);
    });

    it("on the first deployment (no group yet), reads no rules and says how to pin the address", () => {
        assert.deepEqual(lookups(first), [LOOKUPS[0]]);
        assert.deepEqual(adminLogs(first), [
            {
                level: "info",
                message:
                    "berth:adminCidrs is not set: SSH (22) and the Docker API (2376) open to your current address 203.0.113.7/32 only. " +
                    "Pin it with: pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32",
            },
        ]);
        assert.deepEqual(openTo(first, 22), ["203.0.113.7/32"]);
    });

    it("says nothing when the address is the one already open", () => {
        // The group, its rule list, then each of its 6 rules: HTTP and egress for both families, 22 and 2376.
        assert.deepEqual(lookups(same), [LOOKUPS[0], LOOKUPS[1], ...Array<string | undefined>(6).fill(LOOKUPS[2])]);
        assert.deepEqual(adminLogs(same), []);
        assert.deepEqual(openTo(same, 2376), ["203.0.113.7/32"]);
    });

    it("warns with the old and the new address when the address changed", () => {
        assert.deepEqual(adminLogs(changed), [
            {
                level: "warn",
                message:
                    "berth:adminCidrs is not set and your address changed: SSH and the Docker API move from 198.51.100.7/32 " +
                    "to 203.0.113.9/32 with this update (the old address loses access). To keep both, set adminCidrs: " +
                    "pulumi config set --path 'adminCidrs[0]' 198.51.100.7/32 && pulumi config set --path 'adminCidrs[1]' 203.0.113.9/32",
            },
        ]);
        assert.deepEqual(openTo(changed, 22), ["203.0.113.9/32"]);
        assert.deepEqual(openTo(changed, 2376), ["203.0.113.9/32"]);
    });

    it("with adminCidrs set, looks nothing up and says nothing", () => {
        assert.deepEqual(lookups(pinned), []);
        assert.deepEqual(adminLogs(pinned), []);
        assert.deepEqual(openTo(pinned, 22), ["198.51.100.7/32"]);
    });
});
