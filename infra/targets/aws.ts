/**
 * Target aws: the hardened Flatcar host on EC2 (infra/host), and a Docker provider aimed at its
 * daemon over mutual TLS once it answers (infra/docker-endpoint).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { adminAddressNotice, BerthConfig, resolveAdminCidrs } from "../config";
import { DockerEndpoint } from "../docker-endpoint";
import { dockerPlatform } from "../deploy/spec";
import { Host } from "../host";
import { amiArchitecture, existingHost, hostChangeProblems } from "../host/existing";
import { openAdminCidrs } from "../host/admin-rules";
import { AwsAccount, Backups, partitionOf } from "../host/backups";
import { Alerts } from "../host/alarms";
import { operatorCommands } from "../outputs";
import type { Target } from ".";

/** MySQL's files and the route marker, on the data volume cloud-config mounts at /opt/data. */
export const MYSQL_HOST_DIR = "/opt/data/mysql";
export const ROUTE_HOST_DIR = "/opt/data/berth/route";
/** The dumps taken before each migration, on the data volume beside MySQL's files. */
export const DUMPS_HOST_DIR = "/opt/data/berth/dumps";
/** The ACME client's account, certificates and challenge files, on the data volume: a new instance keeps them. */
export const ACME_HOST_DIR = "/opt/data/berth/acme";
/** nginx serves visitors on port 80 of every address, and 443 with HTTPS; the security group opens them to the world. */
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** TTL of the A records Berth creates in Route 53. */
export const DNS_TTL_SECONDS = 300;

export async function awsTarget(config: BerthConfig): Promise<Target> {
    const adminCidrs = await resolveAdminCidrs(config.adminCidrs);
    // Auto-detected: say when the address differs from the one the firewall is open to now.
    const notice = config.adminCidrs === undefined ? adminAddressNotice(await openAdminCidrs(config.instanceName), adminCidrs) : undefined;
    if (notice) void pulumi.log[notice.level](notice.message);

    // Changes the host cannot take in place are refused here, before anything is declared.
    const existing = await existingHost(config.instanceName, config.stack);
    const problems = hostChangeProblems(existing, {
        instanceType: config.instanceType,
        architecture: config.architecture,
        amiId: config.amiId,
        amiArchitecture: config.amiId === undefined ? undefined : await amiArchitecture(config.amiId),
        availabilityZone: config.availabilityZone,
    });
    if (problems.length > 0) throw new pulumi.RunError(problems.join("\n\n"));
    const https = config.https;
    const names = https === undefined ? [] : [https.domain, ...https.aliases];
    // The zone is read first: a name it cannot hold is refused before anything is declared.
    const zone = https?.route53ZoneId === undefined ? undefined : await route53Zone(https.route53ZoneId, names);

    const host = new Host("host", {
        instanceType: config.instanceType,
        architecture: config.architecture,
        instanceName: config.instanceName,
        adminCidrs,
        sshPublicKey: config.sshPublicKey,
        keyName: config.keyName,
        rootVolumeSize: config.rootVolumeSize,
        dataVolumeSize: config.dataVolumeSize,
        availabilityZone: config.availabilityZone,
        subnetId: config.subnetId,
        amiId: config.amiId,
        dataSnapshotId: config.dataSnapshotId,
        updateStrategy: config.updateStrategy,
        https: https !== undefined,
        logRetentionDays: config.day2.logRetentionDays,
        dumpBucket: config.day2.dumpBucket,
    });
    // Scheduled snapshots of the data volume, and the alarms with their topic.
    const account = await awsAccount();
    const { backupSchedule, backupRetain, alertEmail } = config.day2;
    const backups =
        backupSchedule.kind === "off"
            ? undefined
            : new Backups("backups", {
                  instanceName: config.instanceName,
                  schedule: backupSchedule,
                  retain: backupRetain,
                  dataVolumeId: host.dataVolumeId,
                  account,
              });
    const alerts = new Alerts("alerts", {
        instanceName: config.instanceName,
        instanceId: host.instanceId,
        instanceType: config.instanceType,
        alertEmail,
        account,
    });
    // The A records, when Berth manages the zone; created before the ACME client starts, so its first order
    // finds them (Route 53 changes are waited for until INSYNC: terraform-provider-aws route53/record.go).
    const records =
        zone === undefined
            ? []
            : names.map(
                  (n) =>
                      new aws.route53.Record(`dns-${n}`, {
                          zoneId: zone,
                          name: n,
                          type: "A",
                          ttl: DNS_TTL_SECONDS,
                          records: [host.publicIp],
                      }),
              );
    const endpoint = new DockerEndpoint("docker", {
        host: host.publicIp,
        caCertPem: host.tls.caCertPem,
        clientCertPem: host.tls.clientCertPem,
        clientKeyPem: host.tls.clientKeyPem,
        // New user data (a renewed server certificate, another SSH key) stops and starts the instance
        // under the same id (terraform-provider-aws ec2_instance.go resourceInstanceUpdate:
        // modifyInstanceAttributeWithStopStart), so the gate must wait for the daemon again then too.
        triggers: [host.instanceId, host.tls.serverCertPem, host.userDataDigest],
        after: host.ready,
        diagnostics: host.diagnostics,
    });

    const commands = operatorCommands({ stack: config.stack });
    return {
        deployment: {
            provider: endpoint.provider,
            // A new instance is a new, empty engine: MySQL, the app and nginx are created again on it,
            // from the data volume it was given.
            hostId: host.instanceId,
            engine: {
                host: endpoint.dockerHost,
                caCertPem: host.tls.caCertPem,
                clientCertPem: host.tls.clientCertPem,
                clientKeyPem: host.tls.clientKeyPem,
            },
            platform: dockerPlatform(config.architecture),
            mysqlStorage: { hostPath: MYSQL_HOST_DIR },
            routeStorage: { hostPath: ROUTE_HOST_DIR },
            dumpStorage: { hostPath: DUMPS_HOST_DIR },
            publish: { port: HTTP_PORT },
            https:
                https === undefined
                    ? undefined
                    : {
                          domains: names,
                          email: https.acmeEmail,
                          server: https.acmeServer,
                          caCertificate: https.acmeCaCertificate,
                          hstsSeconds: https.hstsSeconds,
                          acmeImage: https.acmeImage,
                          storage: { hostPath: ACME_HOST_DIR },
                          port: HTTPS_PORT,
                      },
            acmeDependsOn: records,
        },
        url: https === undefined ? pulumi.interpolate`http://${host.publicDns}/` : `https://${https.domain}/`,
        docker: commands.docker,
        outputs: {
            publicIp: host.publicIp,
            publicDns: host.publicDns,
            dockerHost: endpoint.dockerHost,
            sshCommand: pulumi.interpolate`ssh core@${host.publicIp}`,
            dockerContextCommand: commands.dockerContext,
            dockerCaCert: host.tls.caCertPem,
            dockerClientCert: host.tls.clientCertPem,
            dockerClientKey: host.tls.clientKeyPem,
            tlsExpiry: host.tls.expiry,
            alertTopicArn: alerts.topicArn,
            ...(host.dumpBucketName ? { dumpBucket: host.dumpBucketName } : {}),
            ...(backups === undefined ? {} : { backupPolicyId: backups.policyId }),
            // Without a managed zone: the records to create at the DNS provider, ready to paste.
            ...(https !== undefined && zone === undefined
                ? { dnsRecords: host.publicIp.apply((ip) => names.map((n) => `${n}. ${DNS_TTL_SECONDS} IN A ${ip}`)) }
                : {}),
        },
    };
}

/** The provider's partition, region and account, which the backups' and alarms' ARNs name. */
async function awsAccount(): Promise<AwsAccount> {
    const [region, identity] = await Promise.all([aws.getRegion(), aws.getCallerIdentity()]);
    return { partition: partitionOf(identity.arn), region: region.region, accountId: identity.accountId };
}

/**
 * The hosted zone's id, once every name is checked to be in it (the zone's name or below it); a name outside
 * it is refused with the list of such names.
 */
async function route53Zone(zoneId: string, names: readonly string[]): Promise<string> {
    const zone = await aws.route53.getZone({ zoneId }).catch((err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        throw new pulumi.RunError(
            `berth:route53ZoneId ${zoneId}: the zone could not be read (${why}); ` +
                `check the id (aws route53 list-hosted-zones) and that the credentials may call route53:GetHostedZone`,
        );
    });
    const apex = zone.name.toLowerCase().replace(/\.$/, "");
    const outside = names.filter((n) => n !== apex && !n.endsWith(`.${apex}`));
    if (outside.length > 0) {
        throw new pulumi.RunError(
            `berth:route53ZoneId ${zoneId} is the zone ${apex}, which cannot hold ${outside.join(", ")}: ` +
                `set berth:route53ZoneId to the zone of those names, or unset it and create the A records yourself`,
        );
    }
    return zoneId;
}
