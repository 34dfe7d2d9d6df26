import type { HttpsConfig } from "./https";
import type { Day2Config } from "./day2";

/** Where the app runs: an EC2 host Berth provisions, or the Docker engine on this machine. */
export type Target = "aws" | "local";

/** The `berth:*` keys as `pulumi.Config` stores them: strings, with lists and maps JSON-encoded. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** The validated stack configuration. Secrets are not here: they stay `pulumi.Output` secrets. */
export interface BerthConfig {
    readonly project: string;
    readonly stack: string;

    /** The app version to run; bump it to roll out a new version. Required, >= 1. */
    readonly appVersion: number;
    /** Directory holding the app's Dockerfile, relative to the project. Default "./app". */
    readonly appDir: string;
    /** Port the app listens on inside its container ($PORT). Default 3000. */
    readonly appPort: number;
    /** Path answered with 200 only when the app can serve. Default "/up". */
    readonly healthPath: string;
    /** Seconds to wait for a new app container to turn healthy, 5..3600. Default 120. */
    readonly healthTimeout: number;
    /** Seconds the create and migrate one-shot steps may run, 60..86400. Default 1800. */
    readonly migrateTimeout: number;
    /** Seconds an old app container gets to drain after SIGTERM. Default 30. */
    readonly stopGraceSeconds: number;
    /** App images kept on the engine after a deploy (the live one included), for rollbacks, 1..100. Default 3. */
    readonly keepImages: number;
    /** The app container's command; default: the image's own CMD. */
    readonly appCommand: readonly string[] | undefined;
    /** Run once, on the first deployment. Default `npm run db:create`. */
    readonly createCommand: readonly string[];
    /** Run once per new version, before it starts. Default `npm run db:migrate`. */
    readonly migrateCommand: readonly string[];
    /** Shell command run inside the app container as its health check; default: a node probe of healthPath. */
    readonly healthCheckCommand: string | undefined;
    /** Extra plain (non-secret) environment for the app. Default {}. */
    readonly appEnv: Readonly<Record<string, string>>;

    /** Where the app runs. Default "aws". */
    readonly target: Target;
    /** Target local: the port nginx publishes on 127.0.0.1. Default 8080. */
    readonly localPort: number;
    /** Target local: whether `pulumi destroy` keeps MySQL's Docker volume (retainOnDelete). Default true. */
    readonly localKeepData: boolean;

    /** EC2 instance type. Default "t3.small". */
    readonly instanceType: string;
    /** CPU architecture derived from the instance type. */
    readonly architecture: "x86_64" | "arm64";
    /** Name tag of the instance. Default "<project>-<stack>". */
    readonly instanceName: string;
    /** CIDRs allowed on 22 and 2376; undefined means "detect the operator's address". */
    readonly adminCidrs: readonly string[] | undefined;
    /** Whether 0.0.0.0/0 or ::/0 may appear in adminCidrs. Default false. */
    readonly allowPublicAdmin: boolean;
    /** OpenSSH public key added for the `core` user. */
    readonly sshPublicKey: string | undefined;
    /** Existing EC2 key pair name. */
    readonly keyName: string | undefined;
    /** Root volume size in GiB. Default 20. */
    readonly rootVolumeSize: number;
    /** Data volume size in GiB. Default 10. */
    readonly dataVolumeSize: number;
    /** Availability zone; default: the subnet's, or the region's first. */
    readonly availabilityZone: string | undefined;
    /** Subnet to launch in; default: the default VPC's subnet in the zone. */
    readonly subnetId: string | undefined;
    /** Create the data volume from this EBS snapshot (a restore); changing it replaces the volume. */
    readonly dataSnapshotId: string | undefined;
    /** Pin a specific AMI instead of the Flatcar stable lookup. */
    readonly amiId: string | undefined;
    /** Flatcar update strategy: "reboot" (in the maintenance window) or "off". Default "reboot". */
    readonly updateStrategy: "reboot" | "off";

    /** MySQL image. Default "mysql:8.4". */
    readonly mysqlImage: string;
    /** nginx image. Default: a pinned official image. */
    readonly nginxImage: string;
    /** Largest request body in bytes, 1k..1g: nginx answers 413 above it, the app gets it as MAX_BODY_SIZE. Default 1m. */
    readonly maxBodySize: number;
    /** Seconds a client may take to send its header, between reads of its body or of the response, 1..600. Default 15. */
    readonly clientTimeout: number;
    /** Requests in progress at once per client address at nginx, 0 (no limit)..100000; more get 429. Default 100. */
    readonly connLimitPerClient: number;
    /** Requests a second per client address at nginx (burst: as many), 0 (no limit)..100000; more get 429. Default 500. */
    readonly rateLimitPerClient: number;
    /** MySQL user for the app. Default "app". */
    readonly mysqlUser: string;
    /** MySQL database for the app. Default "app". */
    readonly mysqlDatabase: string;

    /** HTTPS for visitors (target aws): undefined while `domain` is unset, HTTP only. */
    readonly https: HttpsConfig | undefined;
    /** Backups, alerts and logs (target aws). */
    readonly day2: Day2Config;
    /**
     * An image to run instead of building `appDir`: a kept one to roll back to without a rebuild, or one
     * built elsewhere. Undefined: build `appDir`.
     */
    readonly appImage: string | undefined;
}
