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

    return {
        url: target.url,
        appVersion: config.appVersion,
        appContainer: app.appContainer,
        ...target.outputs,
        ...(app.mysqlVolume && { mysqlVolume: app.mysqlVolume }),
        ...(app.acmeContainer && { certificateLogsCommand: pulumi.interpolate`${target.docker} logs --follow ${app.acmeContainer}` }),
        logsCommand: pulumi.interpolate`${target.docker} logs --follow ${app.appContainer}`,
        // The same logs from CloudWatch Logs (target aws), kept there after the container or the host is gone.
        ...(config.target === "aws" && {
            cloudWatchLogsCommand: pulumi
                .all([app.appContainer, providerRegion()])
                .apply(([container, region]) => cloudWatchTailCommand(logGroupName(config.stack), container, region)),
        }),
        execCommand: pulumi.interpolate`${target.docker} exec -it ${app.appContainer} <command>`,
    };
})();
