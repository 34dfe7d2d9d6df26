import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { BerthConfig, ConfigError, parseConfig, SECRET_KEYS } from "./parse";

export * from "./parse";
export { resolveAdminCidrs, detectPublicIp } from "./admin";

/** The secret keys, read so they stay Pulumi secrets; undefined means "generate one". */
export interface BerthSecrets {
    readonly mysqlPassword: pulumi.Output<string> | undefined;
    readonly mysqlRootPassword: pulumi.Output<string> | undefined;
    readonly secretKeyBase: pulumi.Output<string> | undefined;
}

/** Reads the `berth:*` keys once and validates them; secrets are read apart and stay secret. */
export function loadConfig(): { config: BerthConfig; secrets: BerthSecrets } {
    const raw: Record<string, string> = {};
    for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
        const [ns, key] = k.split(":", 2);
        if (ns === "berth" && !(SECRET_KEYS as readonly string[]).includes(key)) raw[key] = v;
    }
    const config = parseConfig(raw, { project: pulumi.getProject(), stack: pulumi.getStack() });
    if (!fs.existsSync(path.join(config.appDir, "Dockerfile"))) {
        throw new ConfigError("appDir", "a directory holding the app's Dockerfile", config.appDir);
    }
    const c = new pulumi.Config("berth");
    return {
        config,
        secrets: {
            mysqlPassword: c.getSecret("mysqlPassword"),
            mysqlRootPassword: c.getSecret("mysqlRootPassword"),
            secretKeyBase: c.getSecret("secretKeyBase"),
        },
    };
}
