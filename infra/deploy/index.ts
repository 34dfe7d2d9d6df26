import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { renderNginxConfig } from "./nginx";
import {
    APP_ALIAS,
    MYSQL_ALIAS,
    MYSQL_HOST_DIR,
    MYSQL_STOP_GRACE_SECONDS,
    appEnvironment,
    appHealthCheck,
    appImageName,
    contextDigest,
    dockerPlatform,
    mysqlEnvironment,
    mysqlHealthCheck,
    stepFailure,
} from "./spec";

export interface DeploymentArgs {
    /** The Docker provider aimed at the host's daemon (mutual TLS). */
    provider: docker.Provider;
    /** Stack name, used in the image tag. */
    stack: string;
    /** CPU architecture of the host: the image is built for it. */
    architecture: "x86_64" | "arm64";
    /** Version to run; a new one builds, migrates and switches. */
    appVersion: number;
    /** Directory holding the app's Dockerfile. */
    appDir: string;
    /** Port the app listens on. */
    appPort: number;
    /** Health path of the app. */
    healthPath: string;
    /** Seconds to wait for a new app container to be healthy. */
    healthTimeout: number;
    /** Seconds an old app container gets to drain. */
    stopGraceSeconds: number;
    /** App command; default: the image's CMD. */
    appCommand?: readonly string[];
    /** First-deployment database creation command. */
    createCommand: readonly string[];
    /** Per-version migration command. */
    migrateCommand: readonly string[];
    /** Shell health check command; default: a node probe of healthPath. */
    healthCheckCommand?: string;
    /** Extra plain environment. */
    appEnv: Readonly<Record<string, string>>;
    /** MySQL and nginx images, MySQL user and database. */
    mysqlImage: string;
    nginxImage: string;
    mysqlUser: string;
    mysqlDatabase: string;
    /** Secrets; each is generated (and kept in state as a secret) when not given. */
    mysqlPassword?: pulumi.Input<string>;
    mysqlRootPassword?: pulumi.Input<string>;
    secretKeyBase?: pulumi.Input<string>;
}

/**
 * The app on the host: network, MySQL, image, the create/migrate gates, the app container
 * (health-gated, created before the old one is deleted) and nginx, which no version changes.
 */
export class Deployment extends pulumi.ComponentResource {
    public readonly appContainer: pulumi.Output<string>;
    public readonly appImage: pulumi.Output<string>;
    public readonly networkName: pulumi.Output<string>;

    constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:Deployment", name, {}, opts);
        const child = { parent: this, provider: args.provider };
        const secret = (role: string, given: pulumi.Input<string> | undefined, length: number) =>
            given !== undefined
                ? pulumi.secret(given)
                : pulumi.secret(new random.RandomPassword(`${name}-${role}`, { length, special: false }, { parent: this }).result);
        const mysqlPassword = secret("mysql-password", args.mysqlPassword, 32);
        const mysqlRootPassword = secret("mysql-root-password", args.mysqlRootPassword, 32);
        const secretKeyBase = secret("secret-key-base", args.secretKeyBase, 64);

        // Containers reach each other by alias here; only nginx publishes a port.
        const network = new docker.Network(`${name}-net`, { driver: "bridge" }, child);
        const onNetwork = (aliases: string[] = []) => [{ name: network.name, aliases }];

        const mysqlImage = new docker.RemoteImage(`${name}-mysql-image`, { name: args.mysqlImage, keepLocally: true }, child);
        const mysql = new docker.Container(
            `${name}-mysql`,
            {
                image: mysqlImage.imageId,
                envs: pulumi.secret(
                    pulumi
                        .all([mysqlRootPassword, mysqlPassword])
                        .apply(([root, pw]) =>
                            mysqlEnvironment({ rootPassword: root, user: args.mysqlUser, password: pw, database: args.mysqlDatabase }),
                        ),
                ),
                networksAdvanced: onNetwork([MYSQL_ALIAS]),
                volumes: [{ hostPath: MYSQL_HOST_DIR, containerPath: "/var/lib/mysql" }],
                healthcheck: mysqlHealthCheck(),
                wait: true,
                waitTimeout: 300,
                restart: "always",
                stopTimeout: MYSQL_STOP_GRACE_SECONDS,
                destroyGraceSeconds: MYSQL_STOP_GRACE_SECONDS,
            },
            {
                ...child,
                // Two MySQL servers must never open the same data directory.
                deleteBeforeReplace: true,
            },
        );

        const digest = contextDigest(path.resolve(args.appDir));
        const image = new docker.Image(
            `${name}-app-image`,
            {
                imageName: appImageName(args.stack, args.appVersion, digest),
                build: {
                    context: args.appDir,
                    dockerfile: path.join(args.appDir, "Dockerfile"),
                    platform: dockerPlatform(args.architecture),
                },
                skipPush: true,
            },
            child,
        );

        const envs = pulumi.secret(
            pulumi
                .all([mysqlPassword, secretKeyBase])
                .apply(([pw, skb]) => appEnvironment({ ...args, mysqlPassword: pw, secretKeyBase: skb })),
        );

        // One-shot steps: run to completion, then their exit code decides whether the deploy goes on.
        const oneShot = (role: string, command: readonly string[], extra: pulumi.CustomResourceOptions) => {
            const c = new docker.Container(
                `${name}-${role}`,
                {
                    image: image.repoDigest,
                    command: [...command],
                    envs,
                    networksAdvanced: onNetwork(),
                    attach: true,
                    logs: true,
                    mustRun: false,
                    restart: "no",
                    labels: [{ label: "berth.step", value: role }],
                },
                { ...child, ...extra },
            );
            const ok = pulumi.all([c.exitCode, c.containerLogs, c.name, c.urn]).apply(([exitCode, logs, container, urn]) => {
                if (exitCode !== 0)
                    throw new Error(stepFailure(`${role} (${command.join(" ")})`, { container, exitCode, logs: logs ?? "", urn }));
                return container;
            });
            return { container: c, ok };
        };
        // Created once with the first version's image; later versions never run it again.
        const create = oneShot("db-create", args.createCommand, {
            dependsOn: [mysql],
            ignoreChanges: ["image", "envs", "command", "networksAdvanced", "labels"],
        });
        const migrate = oneShot("migrate", args.migrateCommand, { dependsOn: [mysql, create.container] });

        const app = new docker.Container(
            `${name}-app`,
            {
                image: image.repoDigest,
                command: args.appCommand ? [...args.appCommand] : undefined,
                envs,
                networksAdvanced: onNetwork([APP_ALIAS]),
                healthcheck: appHealthCheck({ appPort: args.appPort, healthPath: args.healthPath, command: args.healthCheckCommand }),
                wait: true,
                waitTimeout: args.healthTimeout,
                restart: "unless-stopped",
                stopSignal: "SIGTERM",
                stopTimeout: args.stopGraceSeconds,
                destroyGraceSeconds: args.stopGraceSeconds,
                // Only once both gates passed: a failed step leaves no new app container behind.
                labels: [
                    { label: "berth.version", value: String(args.appVersion) },
                    { label: "berth.created-by", value: create.ok },
                    { label: "berth.migrated-by", value: migrate.ok },
                ],
            },
            {
                ...child,
                dependsOn: [migrate.container],
                // The new version starts beside the old one; Pulumi deletes the old one once it is healthy.
                deleteBeforeReplace: false,
            },
        );

        const nginxImage = new docker.RemoteImage(`${name}-nginx-image`, { name: args.nginxImage, keepLocally: true }, child);
        new docker.Container(
            `${name}-nginx`,
            {
                image: nginxImage.imageId,
                networksAdvanced: onNetwork(),
                ports: [{ internal: 80, external: 80 }],
                uploads: [
                    { file: "/etc/nginx/conf.d/default.conf", content: renderNginxConfig({ appHost: APP_ALIAS, appPort: args.appPort }) },
                ],
                restart: "always",
                stopTimeout: 30,
                destroyGraceSeconds: 30,
                // nginx opens a new connection to the app per request (so each one resolves the alias
                // afresh); without reuse, TIME_WAIT sockets exhaust its ports at a few hundred requests
                // a second (measured: throughput fell from ~1800 to ~700 req/s within a minute).
                sysctls: { "net.ipv4.tcp_tw_reuse": "1" },
            },
            { ...child, dependsOn: [app], deleteBeforeReplace: true },
        );

        this.appContainer = app.name;
        this.appImage = image.imageName;
        this.networkName = network.name;
        this.registerOutputs({ appContainer: this.appContainer, appImage: this.appImage, networkName: this.networkName });
    }
}
