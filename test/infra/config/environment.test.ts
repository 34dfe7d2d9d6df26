import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DOCKER_CLIENT_VARIABLES, dockerEnvironmentError, localEngineError, localEngineHost } from "../../../infra/config/environment";

describe("dockerEnvironmentError", () => {
    it("accepts an environment without Docker client variables, or with them empty", () => {
        assert.equal(dockerEnvironmentError({ PATH: "/usr/bin", HOME: "/root" }), undefined);
        assert.equal(dockerEnvironmentError({ DOCKER_HOST: "", DOCKER_TLS_VERIFY: "" }), undefined);
        // Variables the provider's client does not redirect with.
        assert.equal(dockerEnvironmentError({ DOCKER_CONFIG: "/tmp/docker", DOCKER_BUILDKIT: "1" }), undefined);
    });

    it("refuses one variable in one line naming it and the command to run", () => {
        const err = dockerEnvironmentError({ DOCKER_HOST: "unix:///Users/me/.colima/default/docker.sock" });
        assert.ok(err && pulumi.RunError.isInstance(err));
        assert.equal(
            err.message,
            "DOCKER_HOST is set: the Docker provider would follow it and build the app image on that engine instead of the Berth host. " +
                "Run `unset DOCKER_HOST` and try again",
        );
        assert.deepEqual(err.variables, ["DOCKER_HOST"]);
    });

    it("names every variable that is set, in a fixed order, and never their values", () => {
        const env = {
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: "/home/me/.docker/machine/certs",
            DOCKER_CONTEXT: "rancher-desktop",
            DOCKER_HOST: "tcp://192.168.64.2:2376",
        };
        const err = dockerEnvironmentError(env)!;
        assert.equal(
            err.message,
            "DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY are set: the Docker provider would follow them " +
                "and build the app image on that engine instead of the Berth host. " +
                "Run `unset DOCKER_HOST DOCKER_CONTEXT DOCKER_CERT_PATH DOCKER_TLS_VERIFY` and try again",
        );
        assert.equal(err.message.split("\n").length, 1);
        for (const value of Object.values(env)) assert.ok(!err.message.includes(value), value);
    });

    it("checks each of the four variables on its own", () => {
        for (const name of DOCKER_CLIENT_VARIABLES) {
            assert.deepEqual(dockerEnvironmentError({ [name]: "x" })?.variables, [name]);
        }
    });
});

describe("the local target's engine", () => {
    it("is DOCKER_HOST, or the default socket when it is unset or empty", () => {
        assert.equal(localEngineHost({}), "unix:///var/run/docker.sock");
        assert.equal(localEngineHost({ DOCKER_HOST: "" }), "unix:///var/run/docker.sock");
        assert.equal(
            localEngineHost({ DOCKER_HOST: "unix:///Users/me/.colima/default/docker.sock" }),
            "unix:///Users/me/.colima/default/docker.sock",
        );
    });

    it("accepts a unix socket, and the TLS variables beside it (they do not redirect a socket)", () => {
        assert.equal(localEngineError({}), undefined);
        assert.equal(localEngineError({ DOCKER_HOST: "unix:///run/user/1000/docker.sock", DOCKER_TLS_VERIFY: "1" }), undefined);
        assert.equal(localEngineError({ DOCKER_CONTEXT: "" }), undefined);
    });

    it("refuses a host the cutover cannot reach, in one line naming it", () => {
        const err = localEngineError({ DOCKER_HOST: "tcp://192.168.64.2:2376" });
        assert.ok(err && pulumi.RunError.isInstance(err));
        assert.equal(
            err.message,
            'DOCKER_HOST must be a unix socket (unix:///path/to/docker.sock) with target local, got "tcp://192.168.64.2:2376": ' +
                "the cutover step talks to the engine over it",
        );
    });

    it("refuses DOCKER_CONTEXT, and says how to name the context's engine instead", () => {
        const err = localEngineError({ DOCKER_CONTEXT: "colima", DOCKER_HOST: "unix:///var/run/docker.sock" });
        assert.ok(err && pulumi.RunError.isInstance(err));
        assert.equal(
            err.message,
            "DOCKER_CONTEXT is set: with target local, Berth reaches the engine through DOCKER_HOST or the default socket, " +
                "and its cutover step cannot follow a context. Run `unset DOCKER_CONTEXT` and, if the engine is not at " +
                "unix:///var/run/docker.sock, export DOCKER_HOST=$(docker context inspect --format '{{.Endpoints.docker.Host}}')",
        );
        assert.equal(err.message.split("\n").length, 1);
    });
});
