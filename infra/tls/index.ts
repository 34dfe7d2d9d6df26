import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

export interface DockerTlsArgs {
    /** Addresses the daemon is reached at: go into the server certificate's IP SANs. */
    ipAddresses: pulumi.Input<pulumi.Input<string>[]>;
    /** Names the daemon is reached at: go into the server certificate's DNS SANs. */
    dnsNames: pulumi.Input<pulumi.Input<string>[]>;
    /** Common name prefix for the subjects. Default "berth". */
    commonName?: string;
}

/** Validity periods, in hours. The server certificate lives in user data, so it is long-lived. */
export const VALIDITY_HOURS = {
    ca: 10 * 365 * 24,
    server: 5 * 365 * 24,
    client: 2 * 365 * 24,
} as const;
/** Renew a client certificate on the first `pulumi up` in its last 30 days. */
const CLIENT_EARLY_RENEWAL_HOURS = 30 * 24;

/**
 * The mutual-TLS material of the Docker API: a CA, a server certificate for the daemon and a client
 * certificate for Pulumi and the operator. https://docs.docker.com/engine/security/protect-access/
 * Private keys are secrets (the provider marks them so); certificates are public.
 */
export class DockerTls extends pulumi.ComponentResource {
    public readonly caCertPem: pulumi.Output<string>;
    public readonly serverCertPem: pulumi.Output<string>;
    public readonly serverKeyPem: pulumi.Output<string>;
    public readonly clientCertPem: pulumi.Output<string>;
    public readonly clientKeyPem: pulumi.Output<string>;

    constructor(name: string, args: DockerTlsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:DockerTls", name, {}, opts);
        const cn = args.commonName ?? "berth";
        const child = { parent: this };
        const key = (role: string, rsaBits: number) => new tls.PrivateKey(`${name}-${role}-key`, { algorithm: "RSA", rsaBits }, child);

        const caKey = key("ca", 4096);
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                isCaCertificate: true,
                validityPeriodHours: VALIDITY_HOURS.ca,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
                subject: { commonName: `${cn} Docker CA`, organization: "Berth" },
            },
            child,
        );

        const sign = (role: "server" | "client", csr: tls.CertRequestArgs, uses: string[], hours: number, early?: number) => {
            const req = new tls.CertRequest(`${name}-${role}-csr`, csr, child);
            return new tls.LocallySignedCert(
                `${name}-${role}`,
                {
                    certRequestPem: req.certRequestPem,
                    caPrivateKeyPem: caKey.privateKeyPem,
                    caCertPem: ca.certPem,
                    validityPeriodHours: hours,
                    earlyRenewalHours: early,
                    allowedUses: uses,
                },
                child,
            );
        };

        const serverKey = key("server", 2048);
        const server = sign(
            "server",
            {
                privateKeyPem: serverKey.privateKeyPem,
                subject: { commonName: `${cn} Docker daemon`, organization: "Berth" },
                ipAddresses: args.ipAddresses,
                dnsNames: args.dnsNames,
            },
            ["digital_signature", "key_encipherment", "server_auth"],
            VALIDITY_HOURS.server,
        );

        const clientKey = key("client", 2048);
        const client = sign(
            "client",
            {
                privateKeyPem: clientKey.privateKeyPem,
                subject: { commonName: `${cn} operator`, organization: "Berth" },
            },
            ["digital_signature", "key_encipherment", "client_auth"],
            VALIDITY_HOURS.client,
            CLIENT_EARLY_RENEWAL_HOURS,
        );

        this.caCertPem = ca.certPem;
        this.serverCertPem = server.certPem;
        this.serverKeyPem = pulumi.secret(serverKey.privateKeyPem);
        this.clientCertPem = client.certPem;
        this.clientKeyPem = pulumi.secret(clientKey.privateKeyPem);
        this.registerOutputs({
            caCertPem: this.caCertPem,
            serverCertPem: this.serverCertPem,
            serverKeyPem: this.serverKeyPem,
            clientCertPem: this.clientCertPem,
            clientKeyPem: this.clientKeyPem,
        });
    }
}
