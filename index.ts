// Berth: one hardened Flatcar host on EC2, and the app shipped onto it over mutual TLS.
// This file only composes; every decision lives in infra/ and cloud-config/.
import * as pulumi from "@pulumi/pulumi";
import { adminAddressNotice, loadConfig, resolveAdminCidrs } from "./infra/config";
import { Host } from "./infra/host";
import { openAdminCidrs } from "./infra/host/admin-rules";
import { DockerEndpoint } from "./infra/docker-endpoint";
import { Deployment } from "./infra/deploy";
import { operatorCommands } from "./infra/outputs";

export = (async () => {
    const { config, secrets } = loadConfig();
    const adminCidrs = await resolveAdminCidrs(config.adminCidrs);
    // Auto-detected: say when the address differs from the one the firewall is open to now.
    const notice = config.adminCidrs === undefined ? adminAddressNotice(await openAdminCidrs(config.instanceName), adminCidrs) : undefined;
    if (notice) pulumi.log[notice.level](notice.message);

    const host = new Host("host", { ...config, adminCidrs });
    const docker = new DockerEndpoint("docker", {
        host: host.publicIp,
        caCertPem: host.tls.caCertPem,
        clientCertPem: host.tls.clientCertPem,
        clientKeyPem: host.tls.clientKeyPem,
        triggers: [host.instanceId],
        after: host.ready,
        diagnostics: host.diagnostics,
    });
    const app = new Deployment("berth", {
        ...config,
        ...secrets,
        provider: docker.provider,
        engine: {
            host: docker.dockerHost,
            caCertPem: host.tls.caCertPem,
            clientCertPem: host.tls.clientCertPem,
            clientKeyPem: host.tls.clientKeyPem,
        },
    });

    const commands = operatorCommands({ stack: config.stack });
    return {
        url: pulumi.interpolate`http://${host.publicDns}/`,
        appVersion: config.appVersion,
        appContainer: app.appContainer,
        publicIp: host.publicIp,
        publicDns: host.publicDns,
        dockerHost: docker.dockerHost,
        sshCommand: pulumi.interpolate`ssh core@${host.publicIp}`,
        dockerContextCommand: commands.dockerContext,
        logsCommand: pulumi.interpolate`${commands.docker} logs --follow ${app.appContainer}`,
        execCommand: pulumi.interpolate`${commands.docker} exec -it ${app.appContainer} <command>`,
        dockerCaCert: host.tls.caCertPem,
        dockerClientCert: host.tls.clientCertPem,
        dockerClientKey: host.tls.clientKeyPem,
    };
})();
