// Preview and up from a new operator address: nothing talks to the daemon before the firewall rules
// are updated.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { BASE_CONFIG, byType, one, ProgramResult, runProgram } from "../../support/program";

describe("preview and up from any address", () => {
    let r: ProgramResult;
    before(async () => {
        r = await runProgram({ config: BASE_CONFIG });
        assert.equal(r.error, undefined);
    });

    it("the Docker provider does not ping the daemon when it is configured", () => {
        // terraform-provider-docker internal/provider/config.go MakeClient: Ping (an error when 2376 is
        // still closed to the new address) unless DisableDockerDaemonCheck; it runs during preview too.
        // Provider inputs reach the engine as strings.
        assert.equal(String(one(r, "pulumi:providers:docker").inputs.disableDockerDaemonCheck), "true");
    });

    it("the app image is not built during preview", () => {
        assert.equal(one(r, "docker:index/image:Image").inputs.buildOnPreview, false);
    });

    it("the readiness gate, which the provider waits for, runs after every ingress rule", () => {
        const gate = one(r, "command:local:Command", "-ready");
        const rules = byType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
        assert.ok(rules.length >= 3);
        for (const rule of rules) assert.ok(gate.dependencies.includes(rule.urn), `the gate waits for ${rule.name}`);
        assert.ok(one(r, "pulumi:providers:docker").dependencies.includes(gate.urn), "the provider waits for the gate");
    });
});
