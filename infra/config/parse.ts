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
    identifier,
    integer,
    optionalString,
    pattern,
    requiredInteger,
    string,
    boolean,
} from "./fields";
import { BerthConfig, RawConfig } from "./types";

export { ConfigError } from "./fields";
export type { BerthConfig, RawConfig } from "./types";

/** Default for the pinned official nginx image; pinned so a deploy never picks up a new major by surprise. */
export const DEFAULT_NGINX_IMAGE = "nginx:1.28.0-alpine";
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
] as const;

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const IMAGE_RE = /^[a-z0-9][a-z0-9._\-/:@]*$/;

export interface ParseContext {
    project: string;
    stack: string;
}

/**
 * Validates `raw` (the `berth:*` keys without their namespace, as strings the way `pulumi.Config`
 * stores them) and applies the defaults. Throws `ConfigError` on the first bad key.
 */
export function parseConfig(raw: RawConfig, ctx: ParseContext): BerthConfig {
    const known = new Set<string>(KNOWN_KEYS);
    for (const key of Object.keys(raw)) {
        if (!known.has(key)) {
            throw ConfigError.unknownKey(key, KNOWN_KEYS);
        }
    }

    const instanceType = pattern(
        raw,
        "instanceType",
        /^[a-z][a-z0-9-]*\.[a-z0-9]+$/,
        'an EC2 instance type such as "t3.small"',
        "t3.small",
    );
    const allowPublicAdmin = boolean(raw, "allowPublicAdmin", false);
    const adminCidrs = cidrList(raw, "adminCidrs", allowPublicAdmin);
    const healthPath = pattern(raw, "healthPath", /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, 'a URL path starting with "/"', "/up");
    const appPort = integer(raw, "appPort", 1, 65535, 3000);
    const appEnv = envMap(raw, "appEnv", RESERVED_APP_ENV);

    const cfg: BerthConfig = {
        project: ctx.project,
        stack: ctx.stack,
        appVersion: requiredInteger(raw, "appVersion", 1),
        appDir: string(raw, "appDir", "./app"),
        appPort,
        healthPath,
        healthTimeout: integer(raw, "healthTimeout", 5, 3600, 120),
        stopGraceSeconds: integer(raw, "stopGraceSeconds", 1, 3600, 30),
        appCommand: command(raw, "appCommand"),
        createCommand: command(raw, "createCommand") ?? ["npm", "run", "db:create"],
        migrateCommand: command(raw, "migrateCommand") ?? ["npm", "run", "db:migrate"],
        healthCheckCommand: optionalString(raw, "healthCheckCommand"),
        appEnv,
        instanceType,
        architecture: architectureOf(instanceType),
        instanceName: pattern(raw, "instanceName", NAME_RE, "1-63 letters, digits, '.', '_' or '-'", `${ctx.project}-${ctx.stack}`),
        adminCidrs,
        allowPublicAdmin,
        sshPublicKey: pattern(
            raw,
            "sshPublicKey",
            /^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^\n]*)?$/,
            'an OpenSSH public key line such as "ssh-ed25519 AAAA... me@laptop"',
            undefined,
        ),
        keyName: pattern(raw, "keyName", /^[\x20-\x7e]{1,255}$/, "the name of an existing EC2 key pair", undefined),
        rootVolumeSize: integer(raw, "rootVolumeSize", 8, 16384, 20),
        dataVolumeSize: integer(raw, "dataVolumeSize", 1, 16384, 10),
        availabilityZone: pattern(
            raw,
            "availabilityZone",
            /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/,
            'an availability zone such as "eu-west-1a"',
            undefined,
        ),
        subnetId: pattern(raw, "subnetId", /^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as "subnet-0123abcd"', undefined),
        amiId: pattern(raw, "amiId", /^ami-[0-9a-f]{8,17}$/, 'an AMI id such as "ami-0123456789abcdef0"', undefined),
        mysqlImage: pattern(raw, "mysqlImage", IMAGE_RE, 'an image reference such as "mysql:8.4"', DEFAULT_MYSQL_IMAGE),
        nginxImage: pattern(raw, "nginxImage", IMAGE_RE, `an image reference such as "${DEFAULT_NGINX_IMAGE}"`, DEFAULT_NGINX_IMAGE),
        mysqlUser: identifier(raw, "mysqlUser", "app", 32),
        mysqlDatabase: identifier(raw, "mysqlDatabase", "app", 64),
        updateStrategy: enumOf(raw, "updateStrategy", ["reboot", "off"] as const, "reboot"),
    };
    if (cfg.mysqlUser === "root") {
        throw new ConfigError("mysqlUser", "a user name other than root (the app never gets the root account)", "root");
    }
    return deepFreeze(cfg);
}

/** Graviton instance families (a "g" after the generation digit, plus a1) run arm64. */
export function architectureOf(instanceType: string): "x86_64" | "arm64" {
    const family = instanceType.split(".")[0];
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
    "stopGraceSeconds",
    "appCommand",
    "createCommand",
    "migrateCommand",
    "healthCheckCommand",
    "appEnv",
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
    "amiId",
    "mysqlImage",
    "nginxImage",
    "mysqlUser",
    "mysqlDatabase",
    "updateStrategy",
    ...SECRET_KEYS,
] as const;

function deepFreeze<T>(value: T): T {
    if (value && typeof value === "object") {
        for (const v of Object.values(value)) deepFreeze(v);
        Object.freeze(value);
    }
    return value;
}
