/**
 * The operator's environment, checked before anything is declared. Pure: takes the environment.
 */
import { RunError } from "@pulumi/pulumi";

/**
 * Docker client variables that redirect the Docker provider away from the host it is given.
 *
 * The provider builds images with a client made in pulumi/pulumi-docker provider/image.go,
 * configureDockerClientInner: with TLS material it sets `client.WithHost(host)` and then
 * `client.FromEnv`, which applies DOCKER_HOST, DOCKER_CERT_PATH and DOCKER_TLS_VERIFY after it, so
 * the image would be built on the engine they name (checked at 237b7899, v5.1.0+24; npm 5.2.0).
 * provider/provider.go setConfiguration also reads DOCKER_HOST and DOCKER_CERT_PATH into the
 * provider's own config, and the provider schema's `context` input "can also be set via
 * DOCKER_CONTEXT" and then overrides `host` (provider/cmd/pulumi-resource-docker/schema.json).
 * Go's Docker client and the docker CLI treat an empty value as unset, and so does this check.
 */
export const DOCKER_CLIENT_VARIABLES = ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"] as const;

/** Refused before anything is created: one line naming the variables to unset. */
export class DockerEnvironmentError extends RunError {
    constructor(readonly variables: readonly string[]) {
        const list = variables.join(", ");
        super(
            `${list} ${variables.length === 1 ? "is" : "are"} set: the Docker provider would follow ` +
                `${variables.length === 1 ? "it" : "them"} and build the app image on that engine instead of the Berth host. ` +
                `Run \`unset ${variables.join(" ")}\` and try again`,
        );
        this.name = "DockerEnvironmentError";
    }
}

/** The refusal for `env`, or undefined when no Docker client variable is set. */
export function dockerEnvironmentError(env: Readonly<Record<string, string | undefined>>): DockerEnvironmentError | undefined {
    const set = DOCKER_CLIENT_VARIABLES.filter((name) => (env[name] ?? "") !== "");
    return set.length === 0 ? undefined : new DockerEnvironmentError(set);
}
