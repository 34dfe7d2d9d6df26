import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfig, ConfigErrors, parseConfig, SECRET_CAPABLE_KEYS, SECRET_KEYS } from "./parse";
import { BuildContextError, checkBuildContext } from "../deploy/context";
import { dockerEnvironmentError, localEngineError } from "./environment";

export * from "./parse";
export { resolveAdminCidrs, detectPublicIp, adminAddressNotice } from "./admin";
export type { AdminNotice } from "./admin";
export {
    dockerEnvironmentError,
    DockerEnvironmentError,
    DOCKER_CLIENT_VARIABLES,
    DEFAULT_DOCKER_HOST,
    localEngineError,
    localEngineHost,
} from "./environment";

/** The secret keys, read so they stay Pulumi secrets; undefined means "generate one". */
export interface BerthSecrets {
    readonly mysqlPassword: pulumi.Output<string> | undefined;
    readonly mysqlRootPassword: pulumi.Output<string> | undefined;
    readonly secretKeyBase: pulumi.Output<string> | undefined;
    /**
     * The other keys stored as secrets (of SECRET_CAPABLE_KEYS): the deployment makes every input their
     * value reaches a secret, and names them instead of showing them in its errors.
     */
    readonly secretSettings: readonly (typeof SECRET_CAPABLE_KEYS)[number][];
}

// Internal to @pulumi/pulumi (runtime/config.ts, isConfigSecret: marked @internal, so not in its
// typings): whether a config value was stored as a secret. Without it every value counts as a secret,
// so no secret key is refused for being plain; test/infra/config/load.test.ts fails if it goes away.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
const isConfigSecret = (key: string) => (runtimeConfig.isConfigSecret ? runtimeConfig.isConfigSecret(key) : true);

/**
 * Reads the `berth:*` keys once and validates them, together with the environment, reporting every
 * problem at once. Secrets are read apart and stay secret; an empty one (Pulumi.yaml's default)
 * means "generate one".
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): {
    config: BerthConfig;
    secrets: BerthSecrets;
} {
    const raw: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
        if (!k.startsWith("berth:")) continue;
        const key = k.slice("berth:".length);
        raw[key] = v;
        if (isConfigSecret(k)) secretKeys.push(key);
    }
    const problems: pulumi.RunError[] = [];
    let config: BerthConfig | undefined;
    try {
        config = parseConfig(raw, {
            project: pulumi.getProject(),
            stack: pulumi.getStack(),
            secretKeys,
            dockerfileExists: (dir) => fs.existsSync(path.join(dir, "Dockerfile")),
        });
    } catch (err) {
        if (!(err instanceof ConfigErrors)) throw err;
        problems.push(...err.errors);
    }
    // The build context is read for the image's tag once the host exists: a file it cannot read is
    // refused now, before anything is declared.
    if (config !== undefined) {
        try {
            checkBuildContext(path.resolve(config.appDir));
        } catch (err) {
            if (!(err instanceof BuildContextError)) throw err;
            problems.push(err);
        }
    }
    // On aws the Docker client variables would redirect the build away from the host; on local,
    // DOCKER_HOST names the engine to deploy to. Reported first, with the config's problems.
    const local = (config?.target ?? raw.target) === "local";
    const envError = local ? localEngineError(env) : dockerEnvironmentError(env);
    if (envError) problems.unshift(envError);
    if (problems.length > 0 || config === undefined) throw new ConfigErrors(problems);
    const c = new pulumi.Config("berth");
    const secret = (key: (typeof SECRET_KEYS)[number]) => (raw[key] ? c.requireSecret(key) : undefined);
    return {
        config,
        secrets: {
            mysqlPassword: secret("mysqlPassword"),
            mysqlRootPassword: secret("mysqlRootPassword"),
            secretKeyBase: secret("secretKeyBase"),
            secretSettings: SECRET_CAPABLE_KEYS.filter((k) => secretKeys.includes(k) && raw[k]),
        },
    };
}
