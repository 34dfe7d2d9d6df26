// Berth: a MySQL-backed app shipped to a Docker engine with zero-downtime deploys: by default onto one
// hardened Flatcar host on EC2 over mutual TLS, or (target local) onto this machine's own engine.
// This file only composes; every decision lives in infra/ and cloud-config/.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./infra/config";
import { Deployment } from "./infra/deploy";
import { appSettings } from "./infra/deploy/plan";
import { cloudWatchTailCommand, logGroupName, providerRegion } from "./infra/host/logs";
import { awsTarget, localTarget } from "./infra/targets";

export = (async () => {
    const { config, secrets } = loadConfig();
    const target = config.target === "local" ? localTarget(config) : await awsTarget(config);
    const app = new Deployment("berth", { ...appSettings(config), ...secrets, ...target.deployment });

    const cloudWatch =
        config.target === "aws"
            ? pulumi
                  .all([app.appContainer, providerRegion()])
                  .apply(([container, region]) => cloudWatchTailCommand(logGroupName(config.stack), container, region))
            : undefined;
    return {
        url: target.url,
        appVersion: config.appVersion,
        appContainer: app.appContainer,
        ...target.outputs,
        ...(app.mysqlVolume && { mysqlVolume: app.mysqlVolume }),
        ...(app.acmeContainer && { certificateLogsCommand: pulumi.interpolate`${target.docker} logs --follow ${app.acmeContainer}` }),
        // Both ways on target aws: the engine's own copy (Docker's dual logging), then, after a shell comment
        // (`eval` and a paste run the first only), CloudWatch Logs, which keeps them after the container or the
        // host is gone; that one alone is cloudWatchLogsCommand.
        logsCommand:
            cloudWatch === undefined
                ? pulumi.interpolate`${target.docker} logs --follow ${app.appContainer}`
                : pulumi.interpolate`${target.docker} logs --follow ${app.appContainer}  # or, from CloudWatch Logs: ${cloudWatch}`,
        ...(cloudWatch && { cloudWatchLogsCommand: cloudWatch }),
        execCommand: pulumi.interpolate`${target.docker} exec -it ${app.appContainer} <command>`,
    };
})();
