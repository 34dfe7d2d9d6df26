/**
 * Pure parsing of the stack configuration: raw strings in, a typed and frozen object out. Every
 * error names the key and the accepted form, so `pulumi up` fails before any resource exists.
 */
import {
    cidrList,
    command,
    enumOf,
    envMap,
    ConfigError,
    ConfigErrors,
    identifier,
    integer,
    optionalString,
    pattern,
    requiredInteger,
    size,
    string,
    boolean,
    checked,
} from "./fields";
import { isImageReference } from "./image";
import { HTTPS_KEYS, parseHttps } from "./https";
import { DAY2_KEYS, parseDay2 } from "./day2";
import { BerthConfig, RawConfig, Target } from "./types";

export { ConfigError, ConfigErrors, nearestKey } from "./fields";
export type { BerthConfig, RawConfig, Target } from "./types";
export { ACME_DIRECTORIES, DEFAULT_ACME_IMAGE, dnsNameProblem, HTTPS_KEYS } from "./https";
export type { HttpsConfig } from "./https";
export { BACKUP_INTERVAL_HOURS, DAY2_KEYS, LOG_RETENTION_DAYS, parseBackupSchedule } from "./day2";
export type { BackupSchedule, Day2Config } from "./day2";

/**
 * Default nginx image: the official image's current stable line (1.30), which has upstream `server ... resolve`
 * (1.27.3+) that the cutover relies on; the line tag gets its security fixes, never a new major.
 */
export const DEFAULT_NGINX_IMAGE = "nginx:1.30-alpine";
/** Default MySQL image: the current LTS line of the official image. */
export const DEFAULT_MYSQL_IMAGE = "mysql:8.4";

/** The names the deployment sets itself; `appEnv` may not override them. */
export const RESERVED_APP_ENV = [
    "PORT",
    "APP_VERSION",
    "MYSQL_HOST",
    "MYSQL_PORT",
    "MYSQL_USER",
    "MYSQL_PASSWORD",
    "MYSQL_DATABASE",
    "SECRET_KEY_BASE",
    "MAX_BODY_SIZE",
] as const;

export const TARGETS: readonly Target[] = ["aws", "local"];

/**
 * The keys that mean something on one target only, each with the value it takes when not set:
 * Pulumi.yaml's default as the CLI passes it on to every stack (test/pulumi-yaml.test.ts keeps the
 * two in step). With the other target, a key set to anything else is refused.
 */
export const TARGET_ONLY_KEYS: Readonly<Record<Target, Readonly<Record<string, string>>>> = {
    aws: {
        instanceType: "t3.small",
        instanceName: "",
        adminCidrs: "[]",
        allowPublicAdmin: "false",
        sshPublicKey: "",
        keyName: "",
        rootVolumeSize: "20",
        dataVolumeSize: "10",
        availabilityZone: "",
        subnetId: "",
        dataSnapshotId: "",
        amiId: "",
        updateStrategy: "reboot",
        // HTTPS needs a public address and port 80 reachable from the CA: the aws host's.
        ...HTTPS_KEYS,
        // Backups, alerts and logs are AWS services.
        ...DAY2_KEYS,
    },
    local: { localPort: "8080", localKeepData: "true" },
};

/** Whether a stored value differs from the key's default (the CLI passes defaults on as if set). */
function setToOtherThan(value: string | undefined, def: string): boolean {
    const v = (value ?? "").replace(/\s+/g, "");
    return v !== "" && v !== def;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/**
 * Keys that may be stored as a secret although Berth does not need them to be: the deployment keeps
 * such a value secret wherever it goes (the inputs it reaches are Pulumi secrets as a whole, and errors
 * name the key, never the value). The other keys reach places that cannot hold a secret (the host's
 * tags, the stack's outputs, resource options, resource ids: the Docker provider's id of a pulled image
 * ends with its reference, terraform-provider-docker resource_docker_image_funcs.go), so a value stored
 * with --secret is refused for them.
 */
export const SECRET_CAPABLE_KEYS = [
    "appPort",
    "healthPath",
    "stopGraceSeconds",
    "appCommand",
    "createCommand",
    "migrateCommand",
    "healthCheckCommand",
    "appEnv",
    "mysqlUser",
    "mysqlDatabase",
] as const;

/**
 * Shortest secrets accepted, in characters. An empty MySQL password would make the official image's
 * MYSQL_ROOT_PASSWORD= (or a password-less app user); 12 characters of a generated password are ~70 bits.
 * secretKeyBase signs the app's sessions: 32 characters, as the key of an HMAC-SHA256 wants 256 bits.
 */
export const SECRET_MIN_LENGTH: Readonly<Record<(typeof SECRET_KEYS)[number], number>> = {
    mysqlPassword: 12,
    mysqlRootPassword: 12,
    secretKeyBase: 32,
};

/**
 * Accounts the mysql image makes itself or MySQL reserves (https://dev.mysql.com/doc/refman/8.4/en/reserved-accounts.html):
 * the app never gets one. Compared without case.
 */
export const RESERVED_MYSQL_USERS = ["root", "mysql.sys", "mysql.session", "mysql.infoschema"] as const;
/**
 * MySQL's own schemas (https://dev.mysql.com/doc/refman/8.4/en/system-schema.html, sys-schema.html,
 * information-schema.html, performance-schema.html). The image grants the app user ALL on its database
 * (docker-entrypoint.sh: GRANT ALL ON `$MYSQL_DATABASE`.*), so `mysql` would hand it the grant tables.
 * Compared without case: with lower_case_table_names=1 (macOS, Windows) MYSQL is mysql.
 */
export const RESERVED_MYSQL_DATABASES = ["mysql", "sys", "information_schema", "performance_schema"] as const;

export interface ParseContext {
    project: string;
    stack: string;
    /** The keys (without namespace) whose stored value is a Pulumi secret. Default: none. */
    secretKeys?: readonly string[];
    /** Whether `appDir` holds a Dockerfile; not checked when absent (the caller reads the disk). */
    dockerfileExists?: (appDir: string) => boolean;
}

/**
 * Validates `raw` (the `berth:*` keys without their namespace, as strings the way `pulumi.Config`
 * stores them) and applies the defaults. An empty value counts as unset: Pulumi.yaml gives the
 * optional keys without a natural default `""` (or `[]`), and the CLI passes that on.
 * Throws `ConfigErrors` with one line for each bad key, all of them at once.
 */
export function parseConfig(raw: RawConfig, ctx: ParseContext): BerthConfig {
    const errors: ConfigError[] = [];
    const secretKeys = new Set(ctx.secretKeys ?? []);
    const known = new Set<string>(KNOWN_KEYS);
    const plain: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(raw)) {
        if (!known.has(key)) {
            errors.push(ConfigError.unknownKey(key, KNOWN_KEYS));
        } else if ((SECRET_KEYS as readonly string[]).includes(key)) {
            if (value !== undefined && value !== "" && !secretKeys.has(key)) errors.push(ConfigError.notStoredAsSecret(key));
        } else if (secretKeys.has(key) && value !== undefined && value !== "" && !isSecretCapable(key)) {
            // Not parsed: a value stored as a secret never appears in an error message.
            errors.push(ConfigError.storedAsSecret(key));
        } else {
            plain[key] = value;
        }
    }

    // A secret given as a secret must still be a sane one; the error never says what it is.
    for (const key of SECRET_KEYS) {
        const value = raw[key];
        if (value === undefined || value === "" || !secretKeys.has(key)) continue;
        const min = SECRET_MIN_LENGTH[key];
        if ([...value].length < min) {
            errors.push(ConfigError.withoutValue(key, `at least ${min} characters`, "the value is not shown: it is a secret"));
        }
    }

    /** The value `read` returns, or `fallback` after recording its error. */
    function field<T>(read: () => T, fallback: T): T {
        try {
            return read();
        } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            errors.push(err);
            return fallback;
        }
    }

    // The target first: the other target's keys are refused when set, then read as unset.
    const targetErrors = errors.length;
    const target = field(() => enumOf(plain, "target", TARGETS, "aws"), "aws");
    if (errors.length === targetErrors) {
        for (const other of TARGETS.filter((t) => t !== target)) {
            for (const [key, def] of Object.entries(TARGET_ONLY_KEYS[other])) {
                if (setToOtherThan(plain[key], def)) errors.push(ConfigError.onlyForTarget(key, other, target));
                delete plain[key];
            }
        }
    }

    const instanceType = field(
        () => pattern(plain, "instanceType", /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an EC2 instance type such as "t3.small"', "t3.small"),
        "t3.small",
    );
    const allowPublicAdmin = field(() => boolean(plain, "allowPublicAdmin", false), false);
    const appDir = field(() => string(plain, "appDir", "./app"), "./app");
    if (ctx.dockerfileExists && !ctx.dockerfileExists(appDir)) {
        errors.push(new ConfigError("appDir", "a directory holding the app's Dockerfile", appDir));
    }
    const mysqlUser = field(() => identifier(plain, "mysqlUser", "app", 32), "app");
    if ((RESERVED_MYSQL_USERS as readonly string[]).includes(mysqlUser.toLowerCase())) {
        errors.push(
            new ConfigError(
                "mysqlUser",
                `a user name other than ${RESERVED_MYSQL_USERS.join(", ")} (the app never gets root or an account MySQL keeps for itself)`,
                mysqlUser,
            ),
        );
    }
    const mysqlDatabase = field(() => identifier(plain, "mysqlDatabase", "app", 64), "app");
    if ((RESERVED_MYSQL_DATABASES as readonly string[]).includes(mysqlDatabase.toLowerCase())) {
        errors.push(
            new ConfigError(
                "mysqlDatabase",
                `a database other than MySQL's own ${RESERVED_MYSQL_DATABASES.join(", ")} (the app user gets all privileges on it)`,
                mysqlDatabase,
            ),
        );
    }

    const cfg: BerthConfig = {
        project: ctx.project,
        stack: ctx.stack,
        appVersion: field(() => requiredInteger(plain, "appVersion", 1), 1),
        appDir,
        appPort: field(() => integer(plain, "appPort", 1, 65535, 3000), 3000),
        healthPath: field(
            () => pattern(plain, "healthPath", /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, 'a URL path starting with "/"', "/up"),
            "/up",
        ),
        healthTimeout: field(() => integer(plain, "healthTimeout", 5, 3600, 120), 120),
        migrateTimeout: field(() => integer(plain, "migrateTimeout", 60, 86400, 1800), 1800),
        stopGraceSeconds: field(() => integer(plain, "stopGraceSeconds", 1, 3600, 30), 30),
        keepImages: field(() => integer(plain, "keepImages", 1, 100, 3), 3),
        appCommand: field(() => command(plain, "appCommand"), undefined),
        createCommand: field(() => command(plain, "createCommand"), undefined) ?? ["npm", "run", "db:create"],
        migrateCommand: field(() => command(plain, "migrateCommand"), undefined) ?? ["npm", "run", "db:migrate"],
        healthCheckCommand: optionalString(plain, "healthCheckCommand"),
        appEnv: field(() => envMap(plain, "appEnv", RESERVED_APP_ENV), {}),
        target,
        localPort: field(() => integer(plain, "localPort", 1, 65535, 8080), 8080),
        localKeepData: field(() => boolean(plain, "localKeepData", true), true),
        instanceType,
        architecture: architectureOf(instanceType),
        instanceName: field(
            () => pattern(plain, "instanceName", NAME_RE, "1-63 letters, digits, '.', '_' or '-'", `${ctx.project}-${ctx.stack}`),
            `${ctx.project}-${ctx.stack}`,
        ),
        adminCidrs: field(() => cidrList(plain, "adminCidrs", allowPublicAdmin), undefined),
        allowPublicAdmin,
        sshPublicKey: field(
            () =>
                pattern(
                    plain,
                    "sshPublicKey",
                    // One line: no control character (a CR or a newline would break the cloud-config renderer's
                    // line, or add a line of its own to authorized_keys).
                    /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^\x00-\x1f\x7f]*)?$/,
                    'an OpenSSH public key line such as "ssh-ed25519 AAAA... me@laptop"',
                    undefined,
                ),
            undefined,
        ),
        keyName: field(
            () => pattern(plain, "keyName", /^[\x20-\x7e]{1,255}$/, "the name of an existing EC2 key pair", undefined),
            undefined,
        ),
        rootVolumeSize: field(() => integer(plain, "rootVolumeSize", 8, 16384, 20), 20),
        dataVolumeSize: field(() => integer(plain, "dataVolumeSize", 1, 16384, 10), 10),
        availabilityZone: field(
            () =>
                pattern(plain, "availabilityZone", /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'an availability zone such as "eu-west-1a"', undefined),
            undefined,
        ),
        subnetId: field(
            () => pattern(plain, "subnetId", /^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as "subnet-0123abcd"', undefined),
            undefined,
        ),
        dataSnapshotId: field(
            () =>
                pattern(plain, "dataSnapshotId", /^snap-[0-9a-f]{8,17}$/, 'an EBS snapshot id such as "snap-0123456789abcdef0"', undefined),
            undefined,
        ),
        amiId: field(
            () => pattern(plain, "amiId", /^ami-[0-9a-f]{8,17}$/, 'an AMI id such as "ami-0123456789abcdef0"', undefined),
            undefined,
        ),
        mysqlImage: field(
            () => checked(plain, "mysqlImage", isImageReference, 'an image reference such as "mysql:8.4"', DEFAULT_MYSQL_IMAGE),
            DEFAULT_MYSQL_IMAGE,
        ),
        nginxImage: field(
            () =>
                checked(plain, "nginxImage", isImageReference, `an image reference such as "${DEFAULT_NGINX_IMAGE}"`, DEFAULT_NGINX_IMAGE),
            DEFAULT_NGINX_IMAGE,
        ),
        maxBodySize: field(() => size(plain, "maxBodySize", 1024, 1024 ** 3, 1024 ** 2), 1024 ** 2),
        clientTimeout: field(() => integer(plain, "clientTimeout", 1, 600, 15), 15),
        connLimitPerClient: field(() => integer(plain, "connLimitPerClient", 0, 100000, 100), 100),
        rateLimitPerClient: field(() => integer(plain, "rateLimitPerClient", 0, 100000, 500), 500),
        mysqlUser,
        mysqlDatabase,
        updateStrategy: field(() => enumOf(plain, "updateStrategy", ["reboot", "off"] as const, "reboot"), "reboot"),
        https: parseHttps(plain, (e) => errors.push(e)),
        day2: parseDay2(plain, (e) => errors.push(e)),
        appImage: field(() => {
            const v = optionalString(plain, "appImage");
            if (v !== undefined && !isImageReference(v.trim())) {
                throw new ConfigError(
                    "appImage",
                    'an image reference such as "berth-dev-app:v3-0123456789ab" (a kept image) or "registry.example.com/app:3"',
                    v,
                );
            }
            return v?.trim();
        }, undefined),
    };
    // A key stored as a secret is described without its value.
    const shown = errors.map((e) => (secretKeys.has(e.key) && isSecretCapable(e.key) ? e.redacted() : e));
    if (shown.length > 0) throw new ConfigErrors(sortByKey(shown));
    return deepFreeze(cfg);
}

function isSecretCapable(key: string): boolean {
    return (SECRET_CAPABLE_KEYS as readonly string[]).includes(key);
}

/** Unknown keys first, then the known ones in the order Pulumi.yaml documents them. */
function sortByKey(errors: ConfigError[]): ConfigError[] {
    const rank = (e: ConfigError) => {
        const i = (KNOWN_KEYS as readonly string[]).indexOf(e.key);
        return i === -1 ? -1 : i;
    };
    return errors
        .map((e, i) => ({ e, i }))
        .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
        .map(({ e }) => e);
}

/** Graviton instance families (a "g" after the generation digit, plus a1) run arm64. */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
    // split() always yields at least one element; the default only satisfies the index check.
    const [family = ""] = instanceType.split(".");
    return /^a1$|^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x86_64";
}

/** Keys that hold secrets: read with `requireSecret`/`getSecret`, never through `parseConfig`. */
export const SECRET_KEYS = ["mysqlPassword", "mysqlRootPassword", "secretKeyBase"] as const;

export const KNOWN_KEYS = [
    "appVersion",
    "appDir",
    "appPort",
    "healthPath",
    "healthTimeout",
    "migrateTimeout",
    "stopGraceSeconds",
    "keepImages",
    "appCommand",
    "createCommand",
    "migrateCommand",
    "healthCheckCommand",
    "appEnv",
    "target",
    "localPort",
    "localKeepData",
    "instanceType",
    "instanceName",
    "adminCidrs",
    "allowPublicAdmin",
    "sshPublicKey",
    "keyName",
    "rootVolumeSize",
    "dataVolumeSize",
    "availabilityZone",
    "subnetId",
    "dataSnapshotId",
    "amiId",
    "mysqlImage",
    "nginxImage",
    "maxBodySize",
    "clientTimeout",
    "connLimitPerClient",
    "rateLimitPerClient",
    "mysqlUser",
    "mysqlDatabase",
    "updateStrategy",
    ...Object.keys(HTTPS_KEYS),
    ...Object.keys(DAY2_KEYS),
    "appImage",
    ...SECRET_KEYS,
] as const;

function deepFreeze<T>(value: T): T {
    if (value && typeof value === "object") {
        for (const v of Object.values(value)) deepFreeze(v);
        Object.freeze(value);
    }
    return value;
}
