import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { contextDigest } from "./context";
import {
    AppSettings,
    ContainerPlan,
    DeployPlan,
    NetworkRole,
    planDeployment,
    SECRET_SETTING_INPUTS,
    TargetSettings,
    VolumeRole,
} from "./plan";
import { appEnvironment, maskWords, mysqlEnvironment, stepFailure } from "./spec";

/** How the cutover step reaches the engine the provider deploys to. */
export interface EngineEndpoint {
    /** tcp://IP:2376 (mutual TLS) or unix:///path. */
    host: pulumi.Input<string>;
    /** PEM material for a tcp host. */
    caCertPem?: pulumi.Input<string>;
    clientCertPem?: pulumi.Input<string>;
    clientKeyPem?: pulumi.Input<string>;
}

export interface DeploymentArgs extends AppSettings, TargetSettings {
    /** The Docker provider aimed at the engine the app runs on. */
    provider: docker.Provider;
    /** The same engine, for the cutover step. */
    engine: EngineEndpoint;
    /**
     * The identity of the machine the engine runs on (the EC2 instance id). When it changes, the
     * engine is a new one: every Docker object is declared again on it (the engine's
     * replacementTrigger option: pulumi/pulumi pkg/resource/deploy/step_generator.go,
     * shouldTriggerReplace), since nothing else in their inputs changes. Undefined: never.
     */
    hostId?: pulumi.Input<string>;
    /** Secrets; each is generated (and kept in state as a secret) when not given. */
    mysqlPassword?: pulumi.Input<string>;
    mysqlRootPassword?: pulumi.Input<string>;
    secretKeyBase?: pulumi.Input<string>;
    /** What the ACME client waits for before it starts (DNS records), with HTTPS. */
    acmeDependsOn?: pulumi.Resource[];
    /** Settings stored as secrets: every input their value reaches is a secret, and errors name them instead. */
    secretSettings?: readonly (keyof AppSettings)[];
}

/**
 * The app on the engine, as `planDeployment` decides it: networks, volumes, MySQL, image, the create/migrate
 * gates, the app container (health-gated, beside the old one), nginx (no version changes it), and the
 * cutover step that moves nginx to the new version once it is healthy.
 */
export class Deployment extends pulumi.ComponentResource {
    public readonly appContainer: pulumi.Output<string>;
    public readonly appImage: pulumi.Output<string>;
    public readonly networkName: pulumi.Output<string>;
    /** The named volume holding MySQL's data, when the target keeps it in one. */
    public readonly mysqlVolume: pulumi.Output<string> | undefined;
    /** The ACME client's container, with HTTPS. */
    public readonly acmeContainer: pulumi.Output<string> | undefined;

    constructor(name: string, args: DeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:Deployment", name, {}, opts);
        const plan = planDeployment({ ...args, contextDigest: contextDigest(path.resolve(args.appDir)) });
        // replacementTrigger: a value the engine compares with the one in the state; a change
        // replaces the resource. The old object's delete then finds nothing on the new engine, which
        // the Docker provider takes as deleted (terraform-provider-docker resource_docker_container_funcs.go
        // resourceDockerContainerDelete ignores "No such container"; resource_docker_network_funcs.go
        // resourceDockerNetworkRemoveRefreshFunc: a network that is not found is "removed").
        const child = { parent: this, provider: args.provider, replacementTrigger: args.hostId };
        const secretSettings = new Set<string>(args.secretSettings ?? []);
        const anySecret = (settings: readonly (keyof AppSettings)[] | undefined) => (settings ?? []).some((s) => secretSettings.has(s));
        /** `value` as a Pulumi secret when a setting it is made from is stored as one. */
        const hide = <T>(settings: readonly (keyof AppSettings)[] | undefined, value: T): T =>
            value !== undefined && anySecret(settings) ? (pulumi.secret(value) as unknown as T) : value;
        const secret = (role: string, given: pulumi.Input<string> | undefined, length: number) =>
            given !== undefined
                ? pulumi.secret(given)
                : pulumi.secret(new random.RandomPassword(`${name}-${role}`, { length, special: false }, { parent: this }).result);
        const mysqlPassword = secret("mysql-password", args.mysqlPassword, 32);
        const mysqlRootPassword = secret("mysql-root-password", args.mysqlRootPassword, 32);
        const secretKeyBase = secret("secret-key-base", args.secretKeyBase, 64);

        // backend: the app versions and MySQL. front: nginx, and only the app versions the cutover let in.
        const networks: Record<NetworkRole, docker.Network> = {
            backend: new docker.Network(`${name}-net`, { driver: "bridge" }, child),
            front: new docker.Network(`${name}-front`, { driver: "bridge" }, child),
        };
        // Named volumes, when the target keeps files in them rather than on its host. A kept one outlives
        // `pulumi destroy`: the engine drops it from the state without deleting it (retainOnDelete).
        const volumes: Partial<Record<VolumeRole, docker.Volume>> = Object.fromEntries(
            plan.volumes.map((v) => [
                v.role,
                new docker.Volume(
                    `${name}-${v.role}-data`,
                    { labels: Object.entries(v.labels).map(([label, value]) => ({ label, value })) },
                    { ...child, retainOnDelete: v.keep },
                ),
            ]),
        );
        const images = {
            mysql: new docker.RemoteImage(`${name}-mysql-image`, { name: args.mysqlImage, keepLocally: true }, child),
            nginx: new docker.RemoteImage(`${name}-nginx-image`, { name: args.nginxImage, keepLocally: true }, child),
            acme:
                args.https === undefined
                    ? undefined
                    : new docker.RemoteImage(`${name}-acme-image`, { name: args.https.acmeImage, keepLocally: true }, child),
        };
        // Built from appDir, or pinned: an image the engine has (a kept one, found locally without a pull:
        // terraform-provider-docker resource_docker_image_funcs.go findImage searches local images first) or
        // pulls. Kept on the engine when the stack moves on (keepLocally), for the next rollback.
        const appImage = plan.image.pinned
            ? new docker.RemoteImage(`${name}-app-pinned-image`, { name: plan.image.name, keepLocally: true }, child)
            : new docker.Image(
                  `${name}-app-image`,
                  {
                      imageName: plan.image.name,
                      build: { context: plan.image.context, dockerfile: plan.image.dockerfile, platform: plan.image.platform },
                      skipPush: true,
                      // Preview never talks to the engine: it may be unreachable until `up` updates the rules.
                      buildOnPreview: false,
                  },
                  child,
              );
        /** What the app's containers run: the built image's digest, or the pinned image's id. */
        const appImageRef = appImage instanceof docker.RemoteImage ? appImage.imageId : appImage.repoDigest;
        const envs = {
            mysql: pulumi.secret(
                pulumi
                    .all([mysqlRootPassword, mysqlPassword])
                    .apply(([root, pw]) =>
                        mysqlEnvironment({ rootPassword: root, user: args.mysqlUser, password: pw, database: args.mysqlDatabase }),
                    ),
            ),
            app: pulumi.secret(
                pulumi
                    .all([mysqlPassword, secretKeyBase])
                    .apply(([pw, skb]) => appEnvironment({ ...args, mysqlPassword: pw, secretKeyBase: skb })),
            ),
            none: undefined,
        };

        const container = (
            role: string,
            c: ContainerPlan,
            extra: { labels?: Record<string, pulumi.Input<string>>; dependsOn?: pulumi.Resource[] } = {},
        ) => {
            const key = (Object.keys(plan.containers) as (keyof DeployPlan["containers"])[]).find((k) => plan.containers[k] === c)!;
            const from = SECRET_SETTING_INPUTS.containers[key];
            return new docker.Container(
                `${name}-${role}`,
                {
                    image: c.image === "app" ? appImageRef : images[c.image]!.imageId,
                    entrypoints: c.entrypoint,
                    command: hide(from.command, c.command),
                    envs: c.env === "none" ? c.plainEnv : envs[c.env],
                    networksAdvanced: c.networks.map((n) => ({ name: networks[n.network].name, aliases: n.aliases })),
                    healthcheck: hide(from.healthcheck, c.healthcheck),
                    wait: c.waitSeconds !== undefined ? true : undefined,
                    waitTimeout: c.waitSeconds,
                    attach: c.oneShot ? true : undefined,
                    logs: c.oneShot ? true : undefined,
                    mustRun: c.oneShot ? false : undefined,
                    restart: c.restart,
                    cpuShares: c.cpuShares,
                    stopSignal: c.stopSignal,
                    stopTimeout: hide(from.stopTimeout, c.stopTimeout),
                    destroyGraceSeconds: hide(from.destroyGraceSeconds, c.destroyGraceSeconds),
                    volumes: c.volumes.length
                        ? c.volumes.map((m) =>
                              "hostPath" in m
                                  ? m
                                  : { volumeName: volumes[m.volume]!.name, containerPath: m.containerPath, readOnly: m.readOnly },
                          )
                        : undefined,
                    ports: c.ports.length ? c.ports : undefined,
                    uploads: hide(from.uploads, c.uploads.length ? c.uploads : undefined),
                    labels: Object.entries({ ...c.labels, ...extra.labels }).map(([label, value]) => ({ label, value })),
                },
                {
                    ...child,
                    dependsOn: extra.dependsOn,
                    ignoreChanges: c.ignoreChanges.length ? c.ignoreChanges : undefined,
                    // Stated for every container: the provider's default is delete-before-replace.
                    deleteBeforeReplace: c.replace.deleteBeforeReplace,
                    customTimeouts: { create: `${c.createTimeoutSeconds}s` },
                },
            );
        };

        const mysql = container("mysql", plan.containers.mysql);

        // One-shot steps: run to completion, then their exit code decides whether the deploy goes on.
        // A command stored as a secret is named, not shown, and its words are masked in the step's output.
        const oneShot = (
            role: string,
            c: ContainerPlan,
            setting: "createCommand" | "migrateCommand" | undefined,
            dependsOn: pulumi.Resource[],
            extra: { labels?: Record<string, pulumi.Input<string>>; describe?: string } = {},
        ) => {
            const step = container(role, c, { dependsOn, labels: extra.labels });
            const secret = setting !== undefined && secretSettings.has(setting);
            const what = secret
                ? `${role} (berth:${setting}, not shown: it is stored as a secret)`
                : `${role} (${extra.describe ?? c.command!.join(" ")})`;
            const ok = pulumi.all([step.exitCode, step.containerLogs, step.name, step.urn]).apply(([exitCode, logs, name, urn]) => {
                if (exitCode !== 0) {
                    const shown = secret && setting !== undefined ? maskWords(logs ?? "", args[setting]) : (logs ?? "");
                    throw new Error(stepFailure(what, { container: name, exitCode, logs: shown, urn }));
                }
                return name;
            });
            return { step, ok };
        };
        const create = oneShot("db-create", plan.containers.dbCreate, "createCommand", [mysql]);
        // A dump of the database before every migration: the step is new whenever the app image is (as
        // migrate is), and migrate takes its outcome, so a failed dump stops the deploy before it.
        const dump = oneShot("dump", plan.containers.dump, undefined, [mysql, create.step], {
            labels: { "berth.before-image": appImageRef },
            describe: "mysqldump of the app's database",
        });
        const migrate = oneShot("migrate", plan.containers.migrate, "migrateCommand", [mysql, create.step, dump.step], {
            labels: { "berth.dumped-by": dump.ok },
        });
        // The gates' outcomes are labels: a failed step leaves no new app container behind.
        const app = container("app", plan.containers.app, {
            labels: { "berth.created-by": create.ok, "berth.migrated-by": migrate.ok },
            // The cutover connects the app to the front network outside Pulumi's graph; this edge says so,
            // so `destroy` always removes the app before that network, which Docker refuses to remove while
            // it has endpoints (the provider retries for 30 s only: terraform-provider-docker
            // resource_docker_network_funcs.go resourceDockerNetworkRemoveRefreshFunc). dependsOn only:
            // no input of the app takes the network's outputs, so nothing cascades.
            dependsOn: [migrate.step, networks.front],
        });
        const nginx = container("nginx", plan.containers.nginx);
        // After nginx, which serves its challenge files; nothing waits for it: the first certificate may
        // take a while (DNS not pointed yet), and the site serves HTTP meanwhile.
        const acme = plan.containers.acme && container("acme", plan.containers.acme, { dependsOn: [nginx, ...(args.acmeDependsOn ?? [])] });

        // The cutover: once the new container is healthy (the provider waited), nginx routes to it.
        const e = args.engine;
        new command.local.Command(
            `${name}-cutover`,
            {
                create: `node ${plan.cutover.script}`,
                environment: hide(SECRET_SETTING_INPUTS.cutoverEnv, {
                    ...plan.cutover.env,
                    BERTH_DOCKER_HOST: e.host,
                    ...(e.caCertPem ? { BERTH_DOCKER_CA: e.caCertPem } : {}),
                    ...(e.clientCertPem ? { BERTH_DOCKER_CERT: e.clientCertPem } : {}),
                    ...(e.clientKeyPem ? { BERTH_DOCKER_KEY: pulumi.secret(e.clientKeyPem) } : {}),
                    BERTH_APP_CONTAINER: app.name,
                    BERTH_NGINX_CONTAINER: nginx.name,
                    BERTH_FRONT_NETWORK: networks.front.name,
                }),
                // A new app container or a new nginx: switch (again). The script is idempotent.
                triggers: [app.id, nginx.id],
            },
            { parent: this, dependsOn: [app, nginx] },
        );

        this.appContainer = app.name;
        this.appImage = appImage instanceof docker.RemoteImage ? appImage.name : appImage.imageName;
        this.networkName = networks.backend.name;
        this.mysqlVolume = volumes.mysql?.name;
        this.acmeContainer = acme?.name;
        this.registerOutputs({
            appContainer: this.appContainer,
            appImage: this.appImage,
            networkName: this.networkName,
            mysqlVolume: this.mysqlVolume,
            acmeContainer: this.acmeContainer,
        });
    }
}
