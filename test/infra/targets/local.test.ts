// Target local under mocks: the same deployment on this machine's engine, and nothing of AWS's.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { localPlatform } from "../../../infra/targets/local";
import { BASE_CONFIG, byType, one, output, ProgramResult, runProgram } from "../../support/program";

const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const LOCAL = { appVersion: 1, target: "local" };

describe("target local under mocks", () => {
    let local: ProgramResult;
    let aws: ProgramResult;
    before(async () => {
        [local, aws] = await Promise.all([runProgram({ config: LOCAL }), runProgram({ config: BASE_CONFIG })]);
        assert.equal(local.error, undefined);
        assert.equal(aws.error, undefined);
    });

    it("declares no AWS resource and calls no AWS invoke, nor any other (no admin-rules lookup, no IP detection)", () => {
        assert.deepEqual(
            local.resources.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws").map((r) => r.type),
            [],
        );
        assert.deepEqual(local.invokes, [], "no invoke at all");
        // No Host, no DockerEndpoint, no TLS material, no readiness gate.
        for (const type of ["berth:infra:Host", "berth:infra:DockerEndpoint", "tls:index/privateKey:PrivateKey"]) {
            assert.equal(byType(local, type).length, 0, type);
        }
        assert.deepEqual(
            byType(local, "command:local:Command").map((c) => c.name),
            ["berth-cutover"],
        );
        assert.deepEqual(local.logs, [], "nothing to say about admin addresses");
    });

    it("refuses AWS keys set on the local stack, each by name, before anything is declared or looked up", async () => {
        const r = await runProgram({ config: { ...LOCAL, adminCidrs: ["203.0.113.7/32"], instanceType: "t3.large", keyName: "me" } });
        assert.equal(
            r.error,
            [
                "berth:instanceType only applies to target aws, and this stack's target is local: remove it with pulumi config rm instanceType",
                "berth:adminCidrs only applies to target aws, and this stack's target is local: remove it with pulumi config rm adminCidrs",
                "berth:keyName only applies to target aws, and this stack's target is local: remove it with pulumi config rm keyName",
            ].join("\n"),
        );
        assert.deepEqual(r.resources, []);
        assert.deepEqual(r.invokes, []);
    });

    it("gives the deployment a Docker provider with no host: DOCKER_HOST or the default socket", () => {
        const provider = one(local, "pulumi:providers:docker");
        assert.deepEqual(provider.inputs, {});
        for (const r of local.resources.filter((x) => x.type.startsWith("docker:"))) {
            assert.ok(r.provider.startsWith(`${provider.urn}::`), `${r.name} uses the local provider`);
        }
        const cutover = one(local, "command:local:Command", "-cutover");
        const env = cutover.inputs.environment as Record<string, string>;
        assert.equal(env.BERTH_DOCKER_HOST, "unix:///var/run/docker.sock");
        for (const k of ["BERTH_DOCKER_CA", "BERTH_DOCKER_CERT", "BERTH_DOCKER_KEY"]) assert.equal(env[k], undefined, k);
    });

    it("declares the same deployment as aws: the same containers, images, networks and cutover", () => {
        const shape = (r: ProgramResult) =>
            r.resources
                .filter((x) => x.type.startsWith("docker:") || x.name === "berth-cutover")
                .filter((x) => x.type !== VOLUME)
                .map((x) => `${x.type} ${x.name}`)
                .sort();
        assert.deepEqual(shape(local), shape(aws));
        const same = ["-db-create", "-migrate", "-app"];
        for (const suffix of same) {
            const a = one(aws, CONTAINER, suffix);
            const l = one(local, CONTAINER, suffix);
            assert.deepEqual(l.inputs, a.inputs, `${suffix} is the same container`);
            assert.equal(l.deleteBeforeReplace, a.deleteBeforeReplace);
        }
    });

    it("keeps MySQL's data and the dumps in named volumes kept on destroy, and the route marker in one that is not", () => {
        const volumes = byType(local, VOLUME);
        assert.deepEqual(
            volumes.map((v) => [v.name, v.retainOnDelete, v.inputs.labels]),
            [
                [
                    "berth-mysql-data",
                    true,
                    [
                        { label: "berth.stack", value: "dev" },
                        { label: "berth.volume", value: "mysql" },
                    ],
                ],
                [
                    "berth-route-data",
                    false,
                    [
                        { label: "berth.stack", value: "dev" },
                        { label: "berth.volume", value: "route" },
                    ],
                ],
                [
                    "berth-dumps-data",
                    true,
                    [
                        { label: "berth.stack", value: "dev" },
                        { label: "berth.volume", value: "dumps" },
                    ],
                ],
            ],
        );
        assert.deepEqual(one(local, CONTAINER, "-mysql").inputs.volumes, [
            { volumeName: "berth-mysql-data-1234567", containerPath: "/var/lib/mysql" },
        ]);
        assert.deepEqual(one(local, CONTAINER, "-nginx").inputs.volumes, [
            { volumeName: "berth-route-data-1234567", containerPath: "/etc/nginx/berth-route" },
        ]);
        const mysql = one(local, CONTAINER, "-mysql");
        assert.ok(
            mysql.propertyDependencies.volumes?.includes(volumes[0]!.urn),
            "mysql takes the volume's name: created first, deleted last",
        );
        assert.equal(byType(aws, VOLUME).length, 0, "aws keeps them on the host's data volume");
    });

    it("deletes MySQL's volume on destroy when localKeepData is false", async () => {
        const r = await runProgram({ config: { ...LOCAL, localKeepData: false } });
        assert.deepEqual(
            byType(r, VOLUME).map((v) => v.retainOnDelete),
            [false, false, false],
        );
    });

    it("publishes nginx on 127.0.0.1 only, at localPort, and nothing else", async () => {
        for (const c of byType(local, CONTAINER)) {
            if (c.name.endsWith("-nginx")) assert.deepEqual(c.inputs.ports, [{ internal: 80, external: 8080, ip: "127.0.0.1" }]);
            else assert.equal(c.inputs.ports, undefined, `${c.name} publishes nothing`);
        }
        const r = await runProgram({ config: { ...LOCAL, localPort: 9090 } });
        assert.deepEqual(one(r, CONTAINER, "-nginx").inputs.ports, [{ internal: 80, external: 9090, ip: "127.0.0.1" }]);
        assert.equal(output(r, "url").value, "http://localhost:9090/");
    });

    it("builds the image for this machine's CPU", () => {
        const build = one(local, "docker:index/image:Image").inputs.build as { platform: string };
        assert.equal(build.platform, localPlatform(process.arch));
        assert.equal(localPlatform("x64"), "linux/amd64");
        assert.equal(localPlatform("arm64"), "linux/arm64");
        assert.throws(() => localPlatform("mips"), /target local: no Docker platform is known for this machine's CPU \(mips\)/);
    });

    it("outputs what makes sense here, with commands without a context, and no AWS output", () => {
        const name = String(output(local, "appContainer").value);
        assert.deepEqual(Object.fromEntries(Object.entries(local.outputs).map(([k, o]) => [k, o.value])), {
            url: "http://localhost:8080/",
            appVersion: 1,
            appContainer: name,
            mysqlVolume: "berth-mysql-data-1234567",
            logsCommand: `docker logs --follow ${name}`,
            execCommand: `docker exec -it ${name} <command>`,
        });
        assert.equal(aws.outputs.mysqlVolume, undefined);
    });
});
