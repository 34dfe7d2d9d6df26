/**
 * The deploy plan: every decision of the deployment as plain data, from plain config. The component
 * (index.ts) only maps it to resources, so what runs is tested here with literal inputs and exact
 * outputs, the way Kamal tests its commands.
 */
import { renderNginxConfig, routeMarker } from "./nginx";
import {
    appEnvironmentNames,
    appHealthCheck,
    appImageName,
    dockerPlatform,
    HealthCheck,
    MYSQL_ALIAS,
    MYSQL_HOST_DIR,
    MYSQL_STOP_GRACE_SECONDS,
    mysqlHealthCheck,
} from "./spec";

/** The two slots' names on the front network; only the cutover gives one to a healthy app container. */
export const SLOTS = { blue: "app-blue", green: "app-green" } as const;
/** Where nginx reads the route marker, and where that directory lives on the host (the data volume). */
export const ROUTE_DIR = "/etc/nginx/berth-route";
export const ROUTE_HOST_DIR = "/opt/data/berth/route";
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

export interface PlanInput {
    stack: string;
    architecture: "x86_64" | "arm64";
    appVersion: number;
    appDir: string;
    appPort: number;
    healthPath: string;
    healthTimeout: number;
    stopGraceSeconds: number;
    migrateTimeout: number;
    appCommand?: readonly string[];
    createCommand: readonly string[];
    migrateCommand: readonly string[];
    healthCheckCommand?: string;
    appEnv: Readonly<Record<string, string>>;
    mysqlImage: string;
    nginxImage: string;
    mysqlUser: string;
    mysqlDatabase: string;
    /** Digest of the app's build context (a code change gives a new image even at the same version). */
    contextDigest: string;
}

export type NetworkRole = "backend" | "front";
export type ImageRole = "mysql" | "app" | "nginx";

/** One container as the Docker provider takes it, with its replace policy and the reason for it. */
export interface ContainerPlan {
    image: ImageRole;
    command?: string[];
    /** Names of the environment variables (values come from config and secrets at run time). */
    env: "mysql" | "app" | "none";
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
    volumes: { hostPath: string; containerPath: string }[];
    ports: { internal: number; external: number }[];
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
    image: { name: string; context: string; dockerfile: string; platform: string };
    containers: { mysql: ContainerPlan; dbCreate: ContainerPlan; migrate: ContainerPlan; app: ContainerPlan; nginx: ContainerPlan };
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

export function planDeployment(i: PlanInput): DeployPlan {
    const migrate = ONE_SHOT("migrate", i.migrateCommand, i.migrateTimeout);
    const dbCreate: ContainerPlan = {
        ...ONE_SHOT("db-create", i.createCommand, i.migrateTimeout),
        // Created once with the first version's image; later versions never run it again.
        ignoreChanges: ["image", "envs", "command", "networksAdvanced", "labels"],
    };
    return {
        image: {
            name: appImageName(i.stack, i.appVersion, i.contextDigest),
            context: i.appDir,
            dockerfile: `${i.appDir.replace(/\/+$/, "")}/Dockerfile`,
            platform: dockerPlatform(i.architecture),
        },
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
                volumes: [{ hostPath: MYSQL_HOST_DIR, containerPath: "/var/lib/mysql" }],
                ports: [],
                labels: {},
                uploads: [],
                createTimeoutSeconds: 300 + TIMEOUT_MARGIN_SECONDS,
                ignoreChanges: [],
                replace: { deleteBeforeReplace: true, why: "two MySQL servers must never open the same data directory" },
            },
            dbCreate,
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
                createTimeoutSeconds: i.healthTimeout + TIMEOUT_MARGIN_SECONDS,
                ignoreChanges: [],
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
                volumes: [{ hostPath: ROUTE_HOST_DIR, containerPath: ROUTE_DIR }],
                ports: [{ internal: 80, external: 80 }],
                labels: {},
                uploads: [
                    {
                        file: "/etc/nginx/conf.d/default.conf",
                        content: renderNginxConfig({ slots: SLOTS, appPort: i.appPort, routeDir: ROUTE_DIR, probePort: PROBE_PORT }),
                    },
                ],
                createTimeoutSeconds: 20 * 60,
                ignoreChanges: [],
                replace: { deleteBeforeReplace: true, why: "one host port 80: the new nginx can only bind it once the old one is gone" },
            },
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
            },
        },
        appEnvNames: appEnvironmentNames(i.appEnv),
    };
}

/** The marker file whose presence routes to the green slot, for tests and operators. */
export const ROUTE_MARKER = routeMarker(ROUTE_DIR, SLOTS);
