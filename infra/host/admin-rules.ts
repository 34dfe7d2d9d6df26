/**
 * What the stack's firewall opens to admins right now, read from AWS: compared with the address
 * detected for this run, so that a change of the operator's address is said out loud rather than
 * applied silently (issue 8, deliverable 4).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { DOCKER_TLS_PORT, SSH_PORT } from "./rules";

/**
 * The fields of one security group rule this module reads: a subset of `GetSecurityGroupRuleResult`
 * (pulumi/pulumi-aws sdk/nodejs/vpc/getSecurityGroupRule.ts; hashicorp/terraform-provider-aws
 * internal/service/ec2/vpc_security_group_rule_data_source.go, Read). A CIDR the rule does not have
 * comes back empty.
 */
export type SecurityGroupRule = Pick<
    aws.vpc.GetSecurityGroupRuleResult,
    "isEgress" | "ipProtocol" | "fromPort" | "toPort" | "cidrIpv4" | "cidrIpv6"
>;

const ADMIN_PORTS = [SSH_PORT, DOCKER_TLS_PORT];

/** Whether an inbound rule lets TCP in on `port`. EC2 reports "all traffic" as protocol "-1". */
function letsIn(rule: SecurityGroupRule, port: number): boolean {
    if (rule.isEgress) return false;
    if (rule.ipProtocol === "-1") return true;
    return (rule.ipProtocol === "tcp" || rule.ipProtocol === "6") && rule.fromPort <= port && port <= rule.toPort;
}

/** The CIDRs that SSH or the Docker API is open to under `rules`, sorted and without duplicates. */
export function adminCidrsOf(rules: readonly SecurityGroupRule[]): string[] {
    const cidrs = new Set<string>();
    for (const r of rules) {
        if (!ADMIN_PORTS.some((port) => letsIn(r, port))) continue;
        // Rules that name a prefix list or another group have neither CIDR; Berth makes none.
        for (const cidr of [r.cidrIpv4, r.cidrIpv6]) if (cidr) cidrs.add(cidr);
    }
    return [...cidrs].sort();
}

/**
 * The CIDRs that SSH and the Docker API of this stack's host are open to now, or undefined when the
 * stack has no security group yet (first deployment). The group is found by the tags the Host
 * component gives it (infra/host/index.ts: Name `<instanceName>-sg`, `berth:stack`); the
 * program-under-mocks test checks that both stay the same.
 *
 * Needs ec2:DescribeSecurityGroups and ec2:DescribeSecurityGroupRules: the reads the provider already
 * does to refresh the group and its rule resources (terraform-provider-aws internal/service/ec2/find.go,
 * findSecurityGroupRuleByID calls DescribeSecurityGroupRules).
 */
export async function openAdminCidrs(instanceName: string, stack: string = pulumi.getStack()): Promise<string[] | undefined> {
    // No match is an empty list, not an error (terraform-provider-aws
    // internal/service/ec2/vpc_security_groups_data_source.go, dataSourceSecurityGroupsRead).
    const groups = await aws.ec2.getSecurityGroups({
        filters: [
            { name: "tag:Name", values: [`${instanceName}-sg`] },
            { name: "tag:berth:stack", values: [stack] },
        ],
    });
    if (groups.ids.length === 0) return undefined;
    // DescribeSecurityGroupRules filters on group-id but not on ports, so each rule is read to see
    // its ports (vpc_security_group_rules_data_source.go returns only the rule IDs).
    const { ids } = await aws.vpc.getSecurityGroupRules({ filters: [{ name: "group-id", values: groups.ids }] });
    const rules = await Promise.all(ids.map((id) => aws.vpc.getSecurityGroupRule({ securityGroupRuleId: id })));
    return adminCidrsOf(rules);
}
