/**
 * Real cryptography behind the @pulumi/tls resources under mocks, so the certificates the program
 * declares are real and can be used against a real Docker daemon.
 */
import * as crypto from "crypto";
import forge from "node-forge";

type State = Record<string, unknown>;
const pki = forge.pki;

interface Subject {
    commonName?: string;
    organization?: string;
}

function subjectAttrs(s: Subject | undefined): forge.pki.CertificateField[] {
    const attrs: forge.pki.CertificateField[] = [];
    if (s?.commonName) attrs.push({ name: "commonName", value: s.commonName });
    if (s?.organization) attrs.push({ name: "organizationName", value: s.organization });
    return attrs;
}

function serial(): string {
    // Positive, 16 bytes, as RFC 5280 asks.
    return "01" + crypto.randomBytes(15).toString("hex");
}

const KEY_USAGE: Record<string, string> = {
    cert_signing: "keyCertSign",
    crl_signing: "cRLSign",
    digital_signature: "digitalSignature",
    key_encipherment: "keyEncipherment",
};
const EXT_KEY_USAGE: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };

function usageExtensions(uses: string[], isCa: boolean): object[] {
    const ku: Record<string, boolean> = { name: true } as never;
    const eku: Record<string, boolean> = {};
    for (const u of uses) {
        if (KEY_USAGE[u]) ku[KEY_USAGE[u]] = true;
        else if (EXT_KEY_USAGE[u]) eku[EXT_KEY_USAGE[u]] = true;
        else throw new Error(`tls mock: unknown allowed use ${u}`);
    }
    const exts: object[] = [
        { name: "basicConstraints", cA: isCa, critical: true },
        { ...ku, name: "keyUsage", critical: true },
    ];
    if (Object.keys(eku).length > 0) exts.push({ name: "extKeyUsage", ...eku });
    return exts;
}

function validity(cert: forge.pki.Certificate, hours: number): void {
    const now = new Date();
    cert.validity.notBefore = new Date(now.getTime() - 60_000);
    cert.validity.notAfter = new Date(now.getTime() + hours * 3600_000);
}

export function privateKey(inputs: State): State {
    if (inputs.algorithm !== "RSA") throw new Error(`tls mock: only RSA keys, got ${String(inputs.algorithm)}`);
    const bits = Number(inputs.rsaBits ?? 2048);
    const { privateKey: priv, publicKey: pub } = crypto.generateKeyPairSync("rsa", { modulusLength: bits });
    return {
        ...inputs,
        privateKeyPem: priv.export({ type: "pkcs1", format: "pem" }).toString(),
        publicKeyPem: pub.export({ type: "spki", format: "pem" }).toString(),
    };
}

export function selfSignedCert(inputs: State): State {
    const key = pki.privateKeyFromPem(String(inputs.privateKeyPem));
    const cert = pki.createCertificate();
    cert.publicKey = pki.setRsaPublicKey((key as forge.pki.rsa.PrivateKey).n, (key as forge.pki.rsa.PrivateKey).e);
    cert.serialNumber = serial();
    validity(cert, Number(inputs.validityPeriodHours));
    const attrs = subjectAttrs(inputs.subject as Subject);
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    cert.setExtensions([
        ...usageExtensions(inputs.allowedUses as string[], Boolean(inputs.isCaCertificate)),
        { name: "subjectKeyIdentifier" },
    ]);
    cert.sign(key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return { ...inputs, certPem: pki.certificateToPem(cert) };
}

export function certRequest(inputs: State): State {
    const key = pki.privateKeyFromPem(String(inputs.privateKeyPem)) as forge.pki.rsa.PrivateKey;
    const csr = pki.createCertificationRequest();
    csr.publicKey = pki.setRsaPublicKey(key.n, key.e);
    csr.setSubject(subjectAttrs(inputs.subject as Subject));
    const altNames = [
        ...((inputs.dnsNames as string[] | undefined) ?? []).map((value) => ({ type: 2, value })),
        ...((inputs.ipAddresses as string[] | undefined) ?? []).map((ip) => ({ type: 7, ip })),
    ];
    if (altNames.length > 0) {
        csr.setAttributes([{ name: "extensionRequest", extensions: [{ name: "subjectAltName", altNames }] }]);
    }
    csr.sign(key, forge.md.sha256.create());
    return { ...inputs, certRequestPem: pki.certificationRequestToPem(csr) };
}

export function locallySignedCert(inputs: State): State {
    const csr = pki.certificationRequestFromPem(String(inputs.certRequestPem));
    const caCert = pki.certificateFromPem(String(inputs.caCertPem));
    const caKey = pki.privateKeyFromPem(String(inputs.caPrivateKeyPem)) as forge.pki.rsa.PrivateKey;
    const cert = pki.createCertificate();
    cert.publicKey = csr.publicKey as forge.pki.rsa.PublicKey;
    cert.serialNumber = serial();
    validity(cert, Number(inputs.validityPeriodHours));
    cert.setSubject(csr.subject.attributes);
    cert.setIssuer(caCert.subject.attributes);
    const requested = (csr.getAttribute({ name: "extensionRequest" }) as { extensions?: object[] } | null)?.extensions ?? [];
    cert.setExtensions([...usageExtensions(inputs.allowedUses as string[], false), ...requested]);
    cert.sign(caKey, forge.md.sha256.create());
    return { ...inputs, certPem: pki.certificateToPem(cert), validityStartTime: cert.validity.notBefore.toISOString() };
}

/** State for a tls resource type, or undefined for other types. */
export function tlsState(type: string, inputs: State): State | undefined {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return privateKey(inputs);
        case "tls:index/selfSignedCert:SelfSignedCert":
            return selfSignedCert(inputs);
        case "tls:index/certRequest:CertRequest":
            return certRequest(inputs);
        case "tls:index/locallySignedCert:LocallySignedCert":
            return locallySignedCert(inputs);
        default:
            return undefined;
    }
}
