import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import { DOCKER_TLS_PORT } from "../host/rules";

export interface DockerEndpointArgs {
    /** Address of the host. */
    host: pulumi.Input<string>;
    /** PEM of the CA that signed the daemon's certificate. */
    caCertPem: pulumi.Input<string>;
    /** PEM of the client certificate. */
    clientCertPem: pulumi.Input<string>;
    /** PEM of the client key (secret). */
    clientKeyPem: pulumi.Input<string>;
    /** Values whose change means a new daemon to wait for (e.g. the instance id). */
    triggers: pulumi.Input<unknown>[];
    /** Resources the daemon needs before it can answer (volume attachment, address association). */
    after?: pulumi.Input<pulumi.Resource>[];
    /** Seconds to wait for the daemon. Default 600. */
    timeoutSeconds?: number;
    /** What the gate names if the daemon never answers (instance, security group, admin CIDRs). Default: none. */
    diagnostics?: {
        instanceId: pulumi.Input<string>;
        securityGroupId: pulumi.Input<string>;
        adminCidrs: readonly string[];
    };
}

/** The script the gate runs, relative to the project directory (Pulumi's working directory). */
export const WAIT_SCRIPT = "scripts/wait-for-docker.js";

/**
 * The host's Docker daemon as a Pulumi provider, over mutual TLS. A readiness gate waits for the
 * daemon to answer first, since the provider pings it as soon as it is used.
 */
export class DockerEndpoint extends pulumi.ComponentResource {
    public readonly dockerHost: pulumi.Output<string>;
    public readonly gate: command.local.Command;
    public readonly provider: docker.Provider;

    constructor(name: string, args: DockerEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:DockerEndpoint", name, {}, opts);
        this.dockerHost = pulumi.interpolate`tcp://${args.host}:${DOCKER_TLS_PORT}`;
        this.gate = new command.local.Command(
            `${name}-ready`,
            {
                create: `node ${WAIT_SCRIPT}`,
                environment: {
                    BERTH_DOCKER_HOST: this.dockerHost,
                    BERTH_DOCKER_CA: args.caCertPem,
                    BERTH_DOCKER_CERT: args.clientCertPem,
                    BERTH_DOCKER_KEY: pulumi.secret(args.clientKeyPem),
                    BERTH_WAIT_TIMEOUT: String(args.timeoutSeconds ?? 600),
                    ...(args.diagnostics && {
                        BERTH_INSTANCE_ID: args.diagnostics.instanceId,
                        BERTH_SECURITY_GROUP_ID: args.diagnostics.securityGroupId,
                        BERTH_ADMIN_CIDRS: args.diagnostics.adminCidrs.join(","),
                    }),
                },
                triggers: args.triggers,
            },
            { parent: this, dependsOn: args.after },
        );
        this.provider = new docker.Provider(
            `${name}-provider`,
            {
                host: this.dockerHost,
                caMaterial: args.caCertPem,
                certMaterial: args.clientCertPem,
                keyMaterial: pulumi.secret(args.clientKeyPem),
                // The provider would ping the daemon when configured, and it is configured during
                // `pulumi preview` too: from a new operator address, before `up` has updated the
                // firewall, that ping fails and blocks preview, up and destroy alike. The readiness
                // gate (which runs after the rules) is what waits for the daemon instead.
                disableDockerDaemonCheck: true,
            },
            { parent: this, dependsOn: [this.gate] },
        );
        this.registerOutputs({ dockerHost: this.dockerHost });
    }
}
