// Berth: one hardened Flatcar host on EC2, and the app shipped onto it over mutual TLS.
// This file only composes; every decision lives in infra/ and cloud-config/.
import { loadConfig, resolveAdminCidrs } from "./infra/config";
import { Host } from "./infra/host";
import { DockerEndpoint } from "./infra/docker-endpoint";

export = (async () => {
    const { config } = loadConfig();
    const adminCidrs = await resolveAdminCidrs(config.adminCidrs);

    const host = new Host("host", { ...config, adminCidrs });
    const docker = new DockerEndpoint("docker", {
        host: host.publicIp,
        caCertPem: host.tls.caCertPem,
        clientCertPem: host.tls.clientCertPem,
        clientKeyPem: host.tls.clientKeyPem,
        triggers: [host.instanceId],
        after: host.ready,
    });

    return {
        publicIp: host.publicIp,
        publicDns: host.publicDns,
        dockerHost: docker.dockerHost,
        sshCommand: host.publicIp.apply((ip) => `ssh core@${ip}`),
    };
})();
