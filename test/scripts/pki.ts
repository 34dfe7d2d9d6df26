/**
 * Small PKI for tests: a CA and certificates it signs, built with the same real-crypto helpers the
 * Pulumi mocks use for the @pulumi/tls resources.
 */
import { certRequest, locallySignedCert, privateKey, selfSignedCert } from "../support/tls-crypto";

export interface Ca {
    certPem: string;
    keyPem: string;
}

export interface Issued {
    certPem: string;
    keyPem: string;
}

const keyPem = (): string => String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);

export function makeCa(commonName: string): Ca {
    const key = keyPem();
    const cert = selfSignedCert({
        privateKeyPem: key,
        validityPeriodHours: 2,
        subject: { commonName, organization: "berth tests" },
        allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
        isCaCertificate: true,
    });
    return { certPem: String(cert.certPem), keyPem: key };
}

export function issue(ca: Ca, commonName: string, use: "server_auth" | "client_auth", ipAddresses: string[] = []): Issued {
    const key = keyPem();
    const csr = certRequest({ privateKeyPem: key, subject: { commonName }, ipAddresses });
    const cert = locallySignedCert({
        certRequestPem: csr.certRequestPem,
        caCertPem: ca.certPem,
        caPrivateKeyPem: ca.keyPem,
        validityPeriodHours: 2,
        allowedUses: ["digital_signature", "key_encipherment", use],
    });
    return { certPem: String(cert.certPem), keyPem: key };
}
