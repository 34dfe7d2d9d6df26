import { createHash } from "node:crypto";
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
/**
 * `pulumi up` warns this many days before a certificate expires, and names the renewal steps.
 * The same window renews the client certificate on its own: the provider plans a replacement once
 * `early_renewal_hours` before the end has passed (hashicorp/terraform-provider-tls
 * internal/provider/common_cert.go, modifyPlanIfCertificateReadyForRenewal); only the operator's
 * docker context needs the new files then. An expired certificate is replaced by the next `pulumi up`
 * the same way, early renewal or not.
 */
export const EXPIRY_WARNING_DAYS = 30;
export const ROTATION_DOC = "docs/tls-rotation.md";
const CLIENT_EARLY_RENEWAL_HOURS = EXPIRY_WARNING_DAYS * 24;
/**
 * The server certificate renews on its own only in its last 7 days: it lives in user data, and new
 * user data stops and starts the instance (minutes without the app). The warning comes 23 days
 * earlier, so the operator can pick the moment; past it, a restart beats an expired daemon certificate.
 * The CA is never renewed early: a new CA replaces every certificate and the user data at once.
 */
const SERVER_EARLY_RENEWAL_HOURS = 7 * 24;

/** When each certificate stops being valid: ISO 8601 times, UTC. Public, like the certificates. */
export interface TlsExpiry {
    ca: string;
    server: string;
    client: string;
}

const LABELS: Record<keyof TlsExpiry, string> = {
    ca: "CA certificate",
    server: "server (daemon) certificate",
    client: "client certificate",
};

/**
 * One warning per certificate that expires within `days` of `now`, or has expired, naming it, the
 * time and where the renewal steps are. Pure: the component logs them.
 */
export function expiryWarnings(expiry: TlsExpiry, now: Date, days = EXPIRY_WARNING_DAYS): string[] {
    const out: string[] = [];
    for (const role of ["ca", "server", "client"] as const) {
        const end = new Date(expiry[role]);
        const left = (end.getTime() - now.getTime()) / 86_400_000;
        if (left > days) continue;
        const when = left <= 0 ? `expired on ${expiry[role]}` : `expires on ${expiry[role]} (in ${Math.ceil(left)} days)`;
        out.push(`The Docker API's ${LABELS[role]} ${when}: renew it as ${ROTATION_DOC} describes.`);
    }
    return out;
}

/**
 * A digest that changes with the values and stays secret: for triggers that must see a change to a
 * secret (the server key, the user data) without storing it or anything derived from it in plain.
 */
export function secretDigest(...values: pulumi.Input<unknown>[]): pulumi.Output<string> {
    return pulumi.secret(pulumi.all(values).apply((v) => createHash("sha256").update(JSON.stringify(v)).digest("hex")));
}

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
    /** When each certificate expires (plain). */
    public readonly expiry: pulumi.Output<TlsExpiry>;

    constructor(name: string, args: DockerTlsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("berth:infra:DockerTls", name, {}, opts);
        const cn = args.commonName ?? "berth";
        const child = { parent: this };
        const key = (role: string, rsaBits: number) => new tls.PrivateKey(`${name}-${role}-key`, { algorithm: "RSA", rsaBits }, child);

        const caKey = key("ca", 4096);
        // A CA that signs certificates and CRLs and nothing else (RFC 5280 4.2.1.3), with its key
        // identifier as authority key identifier so issued certificates can be matched to it.
        // `maxPathLength: 0` is not set: the provider passes it to Go's x509 as MaxPathLen without
        // MaxPathLenZero, and Go then writes no pathLenConstraint at all (crypto/x509
        // marshalBasicConstraints; terraform-provider-tls common_cert.go createCertificate), so it
        // would claim a limit the certificate does not carry, and would replace the CA when added
        // (RequiresReplace). What keeps the chain one level deep instead: only this program signs with
        // the CA key, and every leaf it signs has a critical basicConstraints CA:FALSE, which Go
        // (dockerd, the docker CLI, the provider) and OpenSSL (Node) refuse as an issuer.
        const ca = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                isCaCertificate: true,
                setAuthorityKeyId: true,
                validityPeriodHours: VALIDITY_HOURS.ca,
                allowedUses: ["cert_signing", "crl_signing"],
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
            // RSA key: digitalSignature for (EC)DHE handshakes, keyEncipherment for RSA key transport
            // (RFC 5246 7.4.2); serverAuth only, so it cannot pass as a client.
            ["digital_signature", "key_encipherment", "server_auth"],
            VALIDITY_HOURS.server,
            SERVER_EARLY_RENEWAL_HOURS,
        );

        const clientKey = key("client", 2048);
        const client = sign(
            "client",
            {
                privateKeyPem: clientKey.privateKeyPem,
                subject: { commonName: `${cn} operator`, organization: "Berth" },
            },
            // A TLS client only signs (CertificateVerify): no keyEncipherment; clientAuth only.
            ["digital_signature", "client_auth"],
            VALIDITY_HOURS.client,
            CLIENT_EARLY_RENEWAL_HOURS,
        );

        this.caCertPem = ca.certPem;
        this.serverCertPem = server.certPem;
        this.serverKeyPem = pulumi.secret(serverKey.privateKeyPem);
        this.clientCertPem = client.certPem;
        this.clientKeyPem = pulumi.secret(clientKey.privateKeyPem);
        // validity_end_time is RFC 3339 in the provider's zone; outputs carry it as ISO 8601 UTC.
        const iso = (t: pulumi.Output<string>) => t.apply((v) => new Date(v).toISOString());
        this.expiry = pulumi.output({
            ca: iso(ca.validityEndTime),
            server: iso(server.validityEndTime),
            client: iso(client.validityEndTime),
        });
        // Runs when the times are known: at `pulumi up`, and at preview for certificates it keeps.
        this.expiry.apply((e) => {
            for (const w of expiryWarnings(e, new Date())) void pulumi.log.warn(w, this);
        });
        this.registerOutputs({
            caCertPem: this.caCertPem,
            serverCertPem: this.serverCertPem,
            serverKeyPem: this.serverKeyPem,
            clientCertPem: this.clientCertPem,
            clientKeyPem: this.clientKeyPem,
            expiry: this.expiry,
        });
    }
}
