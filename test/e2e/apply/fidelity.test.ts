/**
 * The e2e suite runs what the program declares, not a copy: a change of a container spec in the
 * program changes the Engine API request the applier sends.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { declare, declareLocal } from "../support/env";
import { containerCreateBody, durationNs } from "./container-spec";
import { freshState, planUpdate } from "./plan";

/** The parts of an Engine API container create body these tests read. */
interface CreateBody {
    HostConfig: { RestartPolicy: unknown; Binds: string[]; Sysctls: unknown; PortBindings: unknown };
    NetworkingConfig: { EndpointsConfig: Record<string, unknown> };
    Healthcheck: { StartPeriod: number };
    ExposedPorts: Record<string, unknown>;
}

const remaps = {
    image: "img",
    network: (n: string) => `e2e-${n}`,
    volume: (v: string) => `e2e-${v}`,
    hostPath: (p: string) => `/tmp/data${p}`,
};

describe("what the e2e runs follows the program", () => {
    it("a new health path, port and grace period change the app container the engine gets", async () => {
        const [plain, changed] = await Promise.all([
            declare({ appVersion: 1 }),
            declare({ appVersion: 1, healthPath: "/ready", appPort: 8080, stopGraceSeconds: 45 }),
        ]);
        const body = (d: typeof plain, name: string) =>
            containerCreateBody(d.resources.find((r) => r.name === name)!.inputs, remaps) as {
                Healthcheck: { Test: string[] };
                StopTimeout: number;
                Env: string[];
            };
        const a = body(plain, "berth-app");
        const b = body(changed, "berth-app");
        assert.match(a.Healthcheck.Test.join(" "), /http:\/\/127\.0\.0\.1:3000\/up/);
        assert.match(b.Healthcheck.Test.join(" "), /http:\/\/127\.0\.0\.1:8080\/ready/);
        assert.equal(a.StopTimeout, 30);
        assert.equal(b.StopTimeout, 45);
        assert.ok(b.Env.includes("PORT=8080"));
        const upload = (d: typeof plain) => {
            const [conf] = d.resources.find((r) => r.name === "berth-nginx")!.inputs.uploads as { content: string }[];
            assert.ok(conf, "nginx is given its configuration");
            return conf.content;
        };
        assert.match(upload(changed), /server \S+:8080 resolve/);
        // And the update the e2e would carry out replaces the app, beside the old one.
        const steps = planUpdate(freshState(plain.resources), changed.resources).filter((s) => s.resource.name === "berth-app");
        assert.deepEqual(
            steps.map((s) => s.op),
            ["replace-create", "delete"],
        );
    });

    it("maps the provider's inputs the way the provider does", async () => {
        const { resources } = await declare({ appVersion: 2 });
        const mysql = containerCreateBody(resources.find((r) => r.name === "berth-mysql")!.inputs, remaps) as unknown as CreateBody;
        assert.deepEqual(mysql.HostConfig.RestartPolicy, { Name: "always", MaximumRetryCount: 0 });
        assert.deepEqual(mysql.HostConfig.Binds, ["/tmp/data/opt/data/mysql:/var/lib/mysql"]);
        assert.deepEqual(Object.values(mysql.NetworkingConfig.EndpointsConfig), [{ Aliases: ["mysql"] }]);
        assert.equal(mysql.Healthcheck.StartPeriod, 120e9);
        const declaredNginx = resources.find((r) => r.name === "berth-nginx")!.inputs;
        const nginx = containerCreateBody(declaredNginx, remaps) as unknown as CreateBody;
        assert.deepEqual(Object.keys(nginx.ExposedPorts), ["80/tcp"]);
        assert.deepEqual(nginx.HostConfig.Sysctls, declaredNginx.sysctls);
        assert.equal(durationNs("1m30s"), 90e9);
        assert.equal(durationNs("250ms"), 250e6);
        assert.throws(() => durationNs("5 seconds"), /not a Go duration/);
    });

    it("target local: the volumes the program names, and nginx's port on the address it names", async () => {
        const { resources } = await declareLocal({ appVersion: 1 }, "unix:///tmp/e2e.sock");
        const body = (name: string) => containerCreateBody(resources.find((r) => r.name === name)!.inputs, remaps) as unknown as CreateBody;
        assert.deepEqual(body("berth-mysql").HostConfig.Binds, ["e2e-berth-mysql-data-1234567:/var/lib/mysql"]);
        assert.deepEqual(body("berth-nginx").HostConfig.Binds, ["e2e-berth-route-data-1234567:/etc/nginx/berth-route"]);
        assert.deepEqual(body("berth-dump").HostConfig.Binds, ["e2e-berth-dumps-data-1234567:/dumps"]);
        assert.deepEqual(body("berth-nginx").HostConfig.PortBindings, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
        assert.deepEqual(
            resources.filter((r) => r.kind === "volume").map((r) => [r.name, r.retainOnDelete]),
            [
                ["berth-mysql-data", true],
                ["berth-route-data", false],
                ["berth-dumps-data", true],
            ],
        );
        const cutover = resources.find((r) => r.name === "berth-cutover")!.inputs.environment as Record<string, string>;
        assert.equal(cutover.BERTH_DOCKER_HOST, "unix:///tmp/e2e.sock", "the program follows DOCKER_HOST");
    });
});
