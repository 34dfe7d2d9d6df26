/**
 * The deploy plan: every decision of the deployment as plain data, from plain config. The component
 * (index.ts) only maps it to resources, so what runs is tested here with literal inputs and exact
 * outputs, the way Kamal tests its commands.
 */
import {
    ACME_CA_FILE,
    ACME_DIR,
    ACME_SUBDIRS,
    acmeEnvironment,
    acmeScript,
    CERT_CHECK_INTERVAL,
    NGINX_ACME_ROOT,
    NGINX_CERT_DIR,
} from "./acme";
import { nginxSize, renderNginxConfig, routeMarker } from "./nginx";
import {
    appEnvironmentNames,
    appHealthCheck,
    appImageName,
    HealthCheck,
    MYSQL_ALIAS,
    MYSQL_STOP_GRACE_SECONDS,
    mysqlHealthCheck,
} from "./spec";
import type { AppSettings, HttpsSettings, Storage, TargetSettings } from "./settings";

export { appSettings } from "./settings";
export type { AppSettings, HttpsSettings, Publish, Storage, TargetSettings } from "./settings";

/** The two slots' names on the front network; only the cutover gives one to a healthy app container. */
export const SLOTS = { blue: "app-blue", green: "app-green" } as const;
/** Where nginx reads the route marker (its directory on the host or in a volume is the target's). */
export const ROUTE_DIR = "/etc/nginx/berth-route";
/** nginx's loopback-only listener the cutover probes each slot through. */
export const PROBE_PORT = 8081;
/** The cutover script, relative to the project directory (Pulumi's working directory). */
export const CUTOVER_SCRIPT = "scripts/cutover.js";
/** Seconds the cutover waits after the switch before the old version may be stopped. */
export const DRAIN_SECONDS = 2;
/** Seconds nginx gets to finish in-flight requests when it is replaced or stopped. */
export const NGINX_STOP_GRACE_SECONDS = 30;
/**
 * Extra seconds on top of a step's own limit for the provider's create timeout (its default is 20
 * minutes for a container: terraform-provider-docker resource_docker_container.go), so the step's
 * own limit is the one that fires and names itself.
 */
export const TIMEOUT_MARGIN_SECONDS = 300;
/** CPU weight of the one-shot steps against the serving containers' default 1024. */
export const ONE_SHOT_CPU_SHARES = 256;
/**
 * A new app container starts with the one-shots' weight, so its start (runtime, code loading, health
 * checks) yields the CPUs to the version that serves; the cutover gives it SERVING_CPU_SHARES (Docker's
 * default) just before it takes the traffic.
 */
export const STARTING_CPU_SHARES = ONE_SHOT_CPU_SHARES;
export const SERVING_CPU_SHARES = 1024;
/**
 * Build cache the engine keeps after a switch (bytes): the newest layers, so the next build of the
 * app stays fast. Beyond it, unused build cache is pruned with the old images.
 */
export const BUILD_CACHE_KEEP_BYTES = 1024 * 1024 * 1024;

export interface PlanInput extends AppSettings, TargetSettings {
    /** Digest of the app's build context (a code change gives a new image even at the same version). */
    contextDigest: string;
}

export type NetworkRole = "backend" | "front";
export type ImageRole = "mysql" | "app" | "nginx" | "acme";
export type VolumeRole = "mysql" | "route" | "dumps";

/** A container's mount: a host directory, or one of the deployment's volumes by role. */
export type Mount =
    { hostPath: string; containerPath: string; readOnly?: boolean } | { volume: VolumeRole; containerPath: string; readOnly?: boolean };

/** A named Docker volume the deployment creates. */
export interface VolumePlan {
    role: VolumeRole;
    /** Left in place by `pulumi destroy` (retainOnDelete). */
    keep: boolean;
    labels: Record<string, string>;
}

/** One container as the Docker provider takes it, with its replace policy and the reason for it. */
export interface ContainerPlan {
    image: ImageRole;
    /** Replaces the image's entrypoint (the image's CMD is then not used either). */
    entrypoint?: string[];
    command?: string[];
    /** Names of the environment variables (values come from config and secrets at run time). */
    env: "mysql" | "app" | "none";
    /** With env "none": plain `KEY=value` entries, no secret among them. */
    plainEnv?: string[];
    networks: { network: NetworkRole; aliases: string[] }[];
    healthcheck?: HealthCheck;
    /** Wait until healthy, this many seconds at most. */
    waitSeconds?: number;
    /** A one-shot step: run to completion; its exit code decides whether the deploy goes on. */
    oneShot: boolean;
    restart: "no" | "always" | "unless-stopped";
    stopSignal?: string;
    stopTimeout?: number;
    destroyGraceSeconds?: number;
    volumes: Mount[];
    ports: { internal: number; external: number; ip?: string }[];
    labels: Record<string, string>;
    uploads: { file: string; content: string }[];
    /** Relative CPU weight (Docker's default 1024); undefined: the default. */
    cpuShares?: number;
    /** The provider's create timeout, in seconds. */
    createTimeoutSeconds: number;
    /** Inputs a later version never changes (the step ran once). */
    ignoreChanges: string[];
    replace: { deleteBeforeReplace: boolean; why: string };
}

export interface DeployPlan {
    /** The app image: built from its context, or (pinned) an image already on the engine or in a registry. */
    image: { name: string; context: string; dockerfile: string; platform: string; pinned: boolean };
    /** A rollback to the kept image of `appVersion`: no build, no migration. */
    rollback: boolean;
    /** The named volumes to create, in the order the containers use them (none when the target keeps files on its host). */
    volumes: VolumePlan[];
    containers: {
        mysql: ContainerPlan;
        dbCreate: ContainerPlan;
        dump: ContainerPlan;
        migrate: ContainerPlan;
        app: ContainerPlan;
        nginx: ContainerPlan;
        /** With HTTPS only: the ACME client that keeps nginx's certificate. */
        acme?: ContainerPlan;
    };
    /** The cutover step's settings (the engine address and the containers' names come at run time). */
    cutover: { script: string; env: Record<string, string> };
    /** The environment variable names the app gets, for docs and tests. */
    appEnvNames: string[];
}

const ONE_SHOT = (role: string, command: readonly string[], timeout: number): ContainerPlan => ({
    image: "app",
    command: [...command],
    env: "app",
    networks: [{ network: "backend", aliases: [] }],
    oneShot: true,
    restart: "no",
    volumes: [],
    ports: [],
    labels: { "berth.step": role },
    uploads: [],
    // A migration runs while the old version serves on the same CPUs: under contention it gets a
    // quarter of a serving container's share, so a deploy does not slow the live site down.
    cpuShares: ONE_SHOT_CPU_SHARES,
    createTimeoutSeconds: timeout + TIMEOUT_MARGIN_SECONDS,
    ignoreChanges: [],
    replace: {
        deleteBeforeReplace: false,
        why: "a finished one-shot holds nothing: the new one runs beside it, so no replacement cascades into the app",
    },
});

function mount(storage: Storage, role: VolumeRole, containerPath: string): Mount {
    return "hostPath" in storage ? { hostPath: storage.hostPath, containerPath } : { volume: role, containerPath };
}

function volumes(i: PlanInput): VolumePlan[] {
    const storages: [VolumeRole, Storage][] = [
        ["mysql", i.mysqlStorage],
        ["route", i.routeStorage],
        ["dumps", i.dumpStorage],
    ];
    return storages.flatMap(([role, s]) =>
        "volume" in s ? [{ role, keep: s.volume.keep, labels: { "berth.stack": i.stack, "berth.volume": role } }] : [],
    );
}

/** Where the dump step writes, in its container. */
export const DUMP_DIR = "/dumps";
/** Dumps kept: the newest this many, older ones removed by the dump step itself. */
export const KEEP_DUMPS = 10;

/**
 * The dump step's script (bash: both the official image and its stand-in have it). A consistent dump
 * of the app's database (--single-transaction: InnoDB, no lock on the serving version), written under a
 * temporary name and renamed when complete, so a dump that is there is whole. The client reads the
 * password from MYSQL_PWD, never from its command line. Any failure exits non-zero and stops the deploy
 * before the migration.
 */
export function dumpScript(appVersion: number, keep: number = KEEP_DUMPS): string {
    return [
        "set -euo pipefail",
        `f="${DUMP_DIR}/v${appVersion}-$(date -u +%Y%m%dT%H%M%SZ).sql"`,
        `MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqldump --single-transaction --routines --triggers --no-tablespaces -h ${MYSQL_ALIAS} -u root "$MYSQL_DATABASE" > "$f.partial"`,
        'mv "$f.partial" "$f"',
        'echo "dumped $MYSQL_DATABASE to $f ($(wc -c < "$f") bytes)"',
        `ls -1t ${DUMP_DIR}/*.sql | tail -n +${keep + 1} | while read -r old; do rm -f -- "$old"; echo "removed $old"; done`,
    ].join("\n");
}

/** A subdirectory of the ACME storage on the host. */
function acmePath(h: HttpsSettings, sub: keyof typeof ACME_SUBDIRS): string {
    return `${h.storage.hostPath.replace(/\/+$/, "")}/${ACME_SUBDIRS[sub]}`;
}

/**
 * The ACME client: lego in a loop (acme.ts) that gets and renews the certificate and publishes it where
 * nginx reads it. It gates nothing: until a certificate exists the site serves HTTP, and a failure is
 * retried while whatever was published keeps serving.
 */
function acmeContainer(h: HttpsSettings): ContainerPlan {
    return {
        image: "acme",
        // The official image's entrypoint is lego itself; the loop runs it.
        entrypoint: ["/bin/sh", "-c", acmeScript()],
        env: "none",
        plainEnv: acmeEnvironment({ domains: h.domains, email: h.email, server: h.server, caCertificate: h.caCertificate }),
        // On the front network, for the way out to the directory; nginx serves the challenge from the files.
        networks: [{ network: "front", aliases: [] }],
        oneShot: false,
        restart: "unless-stopped",
        stopTimeout: 10,
        destroyGraceSeconds: 10,
        volumes: [{ hostPath: h.storage.hostPath, containerPath: ACME_DIR }],
        ports: [],
        labels: { "berth.role": "acme" },
        uploads: h.caCertificate === undefined ? [] : [{ file: ACME_CA_FILE, content: h.caCertificate }],
        createTimeoutSeconds: 5 * 60,
        ignoreChanges: [],
        replace: {
            deleteBeforeReplace: true,
            why: "two ACME clients must never write the same account and certificate files at once",
        },
    };
}

/** The keyword of `appImage` that rolls back to the kept image of `appVersion`. */
export const KEPT_IMAGE = "kept";

/**
 * The tag the cutover gives the image that went live as `appVersion` (beside its build tag), so a later
 * rollback finds it: `berth-<stack>-app:v<version>`. Pruned with the image.
 */
export function keptImageName(stack: string, appVersion: number): string {
    return `${appImageName(stack, appVersion, "").split(":")[0]!}:v${appVersion}`;
}

/**
 * The migrate step of a rollback: migrations only go forward, and the kept version works with the current
 * schema (the app contract: each migration keeps the previous version working), so nothing runs but a line
 * in the step's output. On the mysql image, whose bash the dump step uses too.
 */
function rollbackStep(i: PlanInput): ContainerPlan {
    const line = `rolling back to the kept image of v${i.appVersion}: no migration runs (migrations only go forward; v${i.appVersion} works with the current schema)`;
    return { ...ONE_SHOT("migrate", ["bash", "-c", `echo "${line}"`], i.migrateTimeout), image: "mysql", env: "none" };
}

export function planDeployment(i: PlanInput): DeployPlan {
    const rollback = i.appImage === KEPT_IMAGE;
    const migrate = rollback ? rollbackStep(i) : ONE_SHOT("migrate", i.migrateCommand, i.migrateTimeout);
    const dbCreate: ContainerPlan = {
        ...ONE_SHOT("db-create", i.createCommand, i.migrateTimeout),
        // Created once with the first version's image; later versions never run it again.
        ignoreChanges: ["image", "envs", "command", "networksAdvanced", "labels"],
    };
    return {
        image: {
            name: rollback ? keptImageName(i.stack, i.appVersion) : (i.appImage ?? appImageName(i.stack, i.appVersion, i.contextDigest)),
            context: i.appDir,
            dockerfile: `${i.appDir.replace(/\/+$/, "")}/Dockerfile`,
            platform: i.platform,
            pinned: i.appImage !== undefined,
        },
        rollback,
        volumes: volumes(i),
        containers: {
            mysql: {
                image: "mysql",
                env: "mysql",
                networks: [{ network: "backend", aliases: [MYSQL_ALIAS] }],
                healthcheck: mysqlHealthCheck(),
                waitSeconds: 300,
                oneShot: false,
                restart: "always",
                stopTimeout: MYSQL_STOP_GRACE_SECONDS,
                destroyGraceSeconds: MYSQL_STOP_GRACE_SECONDS,
                volumes: [mount(i.mysqlStorage, "mysql", "/var/lib/mysql")],
                ports: [],
                labels: {},
                uploads: [],
                createTimeoutSeconds: 300 + TIMEOUT_MARGIN_SECONDS,
                ignoreChanges: [],
                replace: { deleteBeforeReplace: true, why: "two MySQL servers must never open the same data directory" },
            },
            dbCreate,
            // Before every migration: a dump of the app's database, taken while the old version serves.
            dump: {
                ...ONE_SHOT("dump", ["bash", "-c", dumpScript(i.appVersion)], i.migrateTimeout),
                image: "mysql",
                env: "mysql",
                volumes: [mount(i.dumpStorage, "dumps", DUMP_DIR)],
            },
            migrate,
            app: {
                image: "app",
                command: i.appCommand ? [...i.appCommand] : undefined,
                env: "app",
                // The front network is joined by the cutover, once the container is healthy.
                networks: [{ network: "backend", aliases: [] }],
                healthcheck: appHealthCheck({ appPort: i.appPort, healthPath: i.healthPath, command: i.healthCheckCommand }),
                waitSeconds: i.healthTimeout,
                oneShot: false,
                restart: "unless-stopped",
                stopSignal: "SIGTERM",
                stopTimeout: i.stopGraceSeconds,
                destroyGraceSeconds: i.stopGraceSeconds,
                volumes: [],
                ports: [],
                labels: { "berth.version": String(i.appVersion) },
                uploads: [],
                cpuShares: STARTING_CPU_SHARES,
                createTimeoutSeconds: i.healthTimeout + TIMEOUT_MARGIN_SECONDS,
                // The cutover raises the weight on the engine; a refresh that reads it back is no change to make.
                ignoreChanges: ["cpuShares"],
                replace: {
                    deleteBeforeReplace: false,
                    why: "the new version starts beside the old one, which serves until the cutover and is deleted at the end of the update",
                },
            },
            nginx: {
                image: "nginx",
                env: "none",
                networks: [{ network: "front", aliases: [] }],
                oneShot: false,
                restart: "always",
                stopTimeout: NGINX_STOP_GRACE_SECONDS,
                destroyGraceSeconds: NGINX_STOP_GRACE_SECONDS,
                // The route marker outlives nginx's container: a new nginx routes where the last one did.
                volumes: [
                    mount(i.routeStorage, "route", ROUTE_DIR),
                    ...(i.https === undefined
                        ? []
                        : [
                              { hostPath: acmePath(i.https, "webroot"), containerPath: NGINX_ACME_ROOT, readOnly: true },
                              { hostPath: acmePath(i.https, "live"), containerPath: NGINX_CERT_DIR, readOnly: true },
                          ]),
                ],
                ports: [
                    { internal: 80, external: i.publish.port, ...(i.publish.ip === undefined ? {} : { ip: i.publish.ip }) },
                    ...(i.https === undefined
                        ? []
                        : [{ internal: 443, external: i.https.port, ...(i.publish.ip === undefined ? {} : { ip: i.publish.ip }) }]),
                ],
                labels: {},
                uploads: [
                    {
                        file: "/etc/nginx/conf.d/default.conf",
                        content: renderNginxConfig({
                            slots: SLOTS,
                            appPort: i.appPort,
                            routeDir: ROUTE_DIR,
                            probePort: PROBE_PORT,
                            clientMaxBodySize: nginxSize(i.maxBodySize),
                            clientTimeout: `${i.clientTimeout}s`,
                            connLimitPerClient: i.connLimitPerClient,
                            rateLimitPerClient: i.rateLimitPerClient,
                            tls:
                                i.https === undefined
                                    ? undefined
                                    : {
                                          certDir: NGINX_CERT_DIR,
                                          acmeWebroot: `${NGINX_ACME_ROOT}/.well-known/acme-challenge`,
                                          hstsSeconds: i.https.hstsSeconds,
                                          certCheckInterval: CERT_CHECK_INTERVAL,
                                      },
                        }),
                    },
                ],
                createTimeoutSeconds: 20 * 60,
                ignoreChanges: [],
                replace: {
                    deleteBeforeReplace: true,
                    why: `one host port ${i.publish.port}: the new nginx can only bind it once the old one is gone`,
                },
            },
            ...(i.https === undefined ? {} : { acme: acmeContainer(i.https) }),
        },
        cutover: {
            script: CUTOVER_SCRIPT,
            env: {
                BERTH_SLOTS: `${SLOTS.blue},${SLOTS.green}`,
                BERTH_APP_PORT: String(i.appPort),
                BERTH_HEALTH_PATH: i.healthPath,
                BERTH_ROUTE_DIR: ROUTE_DIR,
                BERTH_PROBE_PORT: String(PROBE_PORT),
                BERTH_CUTOVER_TIMEOUT: String(i.healthTimeout),
                BERTH_DRAIN_SECONDS: String(DRAIN_SECONDS),
                BERTH_SERVING_CPU_SHARES: String(SERVING_CPU_SHARES),
                BERTH_APP_IMAGE_REPO: appImageName(i.stack, i.appVersion, i.contextDigest).split(":")[0]!,
                BERTH_APP_VERSION: String(i.appVersion),
                BERTH_KEEP_APP_IMAGES: String(i.keepImages),
                BERTH_BUILD_CACHE_KEEP_BYTES: String(BUILD_CACHE_KEEP_BYTES),
            },
        },
        appEnvNames: appEnvironmentNames(i.appEnv),
    };
}

/**
 * The settings that may be stored as secrets (infra/config SECRET_CAPABLE_KEYS), and the inputs each
 * one's value reaches besides the environment (always a secret): the component makes such an input a
 * Pulumi secret as a whole when one of its settings is stored as a secret. Container inputs are named
 * as in ContainerPlan; test/infra/deploy/plan.test.ts
 * checks that every plan field holding a setting's value is listed here.
 */
export const SECRET_SETTING_INPUTS: {
    containers: Readonly<Record<keyof DeployPlan["containers"], Partial<Record<keyof ContainerPlan, readonly (keyof AppSettings)[]>>>>;
    cutoverEnv: readonly (keyof AppSettings)[];
} = {
    containers: {
        mysql: {},
        dbCreate: { command: ["createCommand"] },
        dump: {},
        migrate: { command: ["migrateCommand"] },
        app: {
            command: ["appCommand"],
            healthcheck: ["healthCheckCommand", "appPort", "healthPath"],
            stopTimeout: ["stopGraceSeconds"],
            destroyGraceSeconds: ["stopGraceSeconds"],
        },
        nginx: { uploads: ["appPort"] },
        acme: {},
    },
    cutoverEnv: ["appPort", "healthPath"],
};

/** The marker file whose presence routes to the green slot, for tests and operators. */
export const ROUTE_MARKER = routeMarker(ROUTE_DIR, SLOTS);
