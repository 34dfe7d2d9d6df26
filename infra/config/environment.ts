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

/** Docker's default socket on Linux and macOS, where the provider goes when DOCKER_HOST is unset. */
export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

/**
 * With target local the engine is the operator's own, and DOCKER_HOST is how they name it: the
 * provider follows it (pulumi-docker provider/provider.go, setConfiguration), and so must the cutover
 * step, which is given this address. Undefined or empty: the default socket.
 */
export function localEngineHost(env: Readonly<Record<string, string | undefined>>): string {
    const host = env.DOCKER_HOST ?? "";
    return host === "" ? DEFAULT_DOCKER_HOST : host;
}

/**
 * With target local: refused when the cutover step could not reach the engine the provider uses. It
 * speaks the Engine API over a unix socket (scripts/cutover.js); a context would redirect the
 * provider alone (its `context` input "can also be set via DOCKER_CONTEXT").
 */
export function localEngineError(env: Readonly<Record<string, string | undefined>>): RunError | undefined {
    if ((env.DOCKER_CONTEXT ?? "") !== "") {
        return new RunError(
            "DOCKER_CONTEXT is set: with target local, Berth reaches the engine through DOCKER_HOST or the default socket, " +
                "and its cutover step cannot follow a context. Run `unset DOCKER_CONTEXT` and, if the engine is not at " +
                `${DEFAULT_DOCKER_HOST}, export DOCKER_HOST=$(docker context inspect --format '{{.Endpoints.docker.Host}}')`,
        );
    }
    const host = localEngineHost(env);
    if (!/^unix:\/\/\/./.test(host)) {
        return new RunError(
            `DOCKER_HOST must be a unix socket (unix:///path/to/docker.sock) with target local, got ${JSON.stringify(host)}: ` +
                "the cutover step talks to the engine over it",
        );
    }
    return undefined;
}
