/**
 * What the deployment is given, in two parts: the app's settings from the stack config (the same on
 * every target), and what the target decides. Plain data.
 */
/** What the stack's config says about the app, whatever the target. */
export interface AppSettings {
    /** Stack name, used in the image tag and the volumes' labels. */
    stack: string;
    /** Version to run; a new one builds, migrates and switches. */
    appVersion: number;
    /** Directory holding the app's Dockerfile. */
    appDir: string;
    /**
     * Run this image instead of building `appDir`; "kept": the kept image of `appVersion` (a rollback,
     * no build and no migration). Undefined: build.
     */
    appImage?: string;
    /** Port the app listens on. */
    appPort: number;
    /** Health path of the app. */
    healthPath: string;
    /** Seconds to wait for a new app container to be healthy. */
    healthTimeout: number;
    /** Seconds an old app container gets to drain. */
    stopGraceSeconds: number;
    /** Seconds the create and migrate steps may run. */
    migrateTimeout: number;
    /** App images kept on the engine after a switch, the live one included (rollbacks need them). */
    keepImages: number;
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
    /** Largest request body in bytes: nginx's client_max_body_size and the app's MAX_BODY_SIZE. */
    maxBodySize: number;
    /** Seconds nginx gives a client to send its header, between reads of its body or of the response. */
    clientTimeout: number;
    /** Requests in progress at once per client address at nginx; 0: no limit. */
    connLimitPerClient: number;
    /** Requests a second per client address at nginx, as many again in a burst; 0: no limit. */
    rateLimitPerClient: number;
    /** MySQL and nginx images, MySQL user and database. */
    mysqlImage: string;
    nginxImage: string;
    mysqlUser: string;
    mysqlDatabase: string;
}

/** The app settings out of a larger object (the stack config), by name. */
export function appSettings(c: AppSettings): AppSettings {
    return {
        stack: c.stack,
        appVersion: c.appVersion,
        appDir: c.appDir,
        appImage: c.appImage,
        appPort: c.appPort,
        healthPath: c.healthPath,
        healthTimeout: c.healthTimeout,
        stopGraceSeconds: c.stopGraceSeconds,
        migrateTimeout: c.migrateTimeout,
        keepImages: c.keepImages,
        appCommand: c.appCommand,
        createCommand: c.createCommand,
        migrateCommand: c.migrateCommand,
        healthCheckCommand: c.healthCheckCommand,
        appEnv: c.appEnv,
        maxBodySize: c.maxBodySize,
        clientTimeout: c.clientTimeout,
        connLimitPerClient: c.connLimitPerClient,
        rateLimitPerClient: c.rateLimitPerClient,
        mysqlImage: c.mysqlImage,
        nginxImage: c.nginxImage,
        mysqlUser: c.mysqlUser,
        mysqlDatabase: c.mysqlDatabase,
    };
}

/**
 * Where files that outlive a container are kept: a directory on the engine's host, or a named Docker
 * volume the deployment creates, kept by `pulumi destroy` when `keep` (Pulumi's retainOnDelete).
 */
export type Storage = { hostPath: string } | { volume: { keep: boolean } };

/** Where nginx publishes its port 80: a host port, on one address, or on all of them when `ip` is undefined. */
export interface Publish {
    port: number;
    ip?: string;
}

/** What the target decides; the rest of the plan is the same everywhere. */
export interface TargetSettings {
    /** Docker platform the app image is built for (the engine's CPU), e.g. "linux/amd64". */
    platform: string;
    /** Where MySQL's data directory lives. */
    mysqlStorage: Storage;
    /** Where nginx's route marker directory lives (it outlives nginx's container). */
    routeStorage: Storage;
    /** Where the database dumps taken before each migration are kept. */
    dumpStorage: Storage;
    /** Where nginx publishes. */
    publish: Publish;
    /** HTTPS for visitors; undefined: HTTP only. */
    https?: HttpsSettings;
}

/**
 * HTTPS: an ACME client container keeps a certificate for `domains` (HTTP-01, its challenge files served
 * by nginx) in a directory nginx reads; nginx serves HTTPS with it and redirects HTTP once it exists.
 */
export interface HttpsSettings {
    /** The certificate's names; the first is the visitors' host name. */
    domains: readonly string[];
    /** The ACME account's contact address. */
    email: string;
    /** The ACME directory URL. */
    server: string;
    /** PEM the ACME client trusts for the directory's own HTTPS (a private CA); undefined: the system's roots. */
    caCertificate?: string;
    /** HSTS max-age in seconds; 0: none. */
    hstsSeconds: number;
    /** The ACME client's image (lego). */
    acmeImage: string;
    /** The host directory of the ACME account, the certificates and the challenge files (it outlives containers). */
    storage: { hostPath: string };
    /** The host port nginx publishes HTTPS on, on the same address as `publish`. */
    port: number;
}
