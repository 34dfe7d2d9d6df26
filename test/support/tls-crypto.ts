/**
 * Real cryptography behind the @pulumi/tls resources under mocks, so the certificates the program
 * declares are real and can be used against a real Docker daemon.
 *
 * What goes into a certificate follows hashicorp/terraform-provider-tls (the provider @pulumi/tls
 * wraps), internal/provider/common_cert.go `createCertificate`, and Go's crypto/x509
 * `CreateCertificate`, which it calls:
 * - NotBefore is the provider's clock, NotAfter = NotBefore + validity_period_hours; the state keeps
 *   both as RFC 3339 (`validity_start_time`, `validity_end_time`).
 * - Both resources set `BasicConstraintsValid: true` (resource_self_signed_cert.go and
 *   resource_locally_signed_cert.go `Create`), so every certificate carries a critical
 *   basicConstraints, CA:FALSE unless `is_ca_certificate`.
 * - `max_path_length` becomes `template.MaxPathLen` and nothing else: the provider never sets
 *   `MaxPathLenZero`, and Go omits the pathLenConstraint when MaxPathLen is 0 without it
 *   (crypto/x509 `marshalBasicConstraints`). So 0, like -1 or unset, gives no pathlen; only N > 0 does.
 * - keyUsage (critical) only when some key usage is allowed; extKeyUsage (not critical) only when some
 *   extended usage is.
 * - `is_ca_certificate` (and `set_subject_key_id`) put a subject key identifier: SHA-1 of the
 *   PKCS #1 public key (`generateSubjectKeyID`). `set_authority_key_id` (self-signed only) puts the
 *   parent's, i.e. its own. Go itself gives a certificate signed by another one the authority key
 *   identifier of its issuer's subject key identifier, when the issuer has one.
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

function usageExtensions(uses: string[], isCa: boolean, maxPathLength: unknown): object[] {
    const ku: Record<string, boolean> = {};
    const eku: Record<string, boolean> = {};
    for (const u of uses) {
        if (KEY_USAGE[u]) ku[KEY_USAGE[u]] = true;
        else if (EXT_KEY_USAGE[u]) eku[EXT_KEY_USAGE[u]] = true;
        else throw new Error(`tls mock: unknown allowed use ${u}`);
    }
    const pathLen = typeof maxPathLength === "number" && maxPathLength > 0 ? { pathLenConstraint: maxPathLength } : {};
    const exts: object[] = [{ name: "basicConstraints", cA: isCa, ...(isCa ? pathLen : {}), critical: true }];
    if (Object.keys(ku).length > 0) exts.push({ ...ku, name: "keyUsage", critical: true });
    if (Object.keys(eku).length > 0) exts.push({ name: "extKeyUsage", ...eku });
    return exts;
}

/** SHA-1 of the PKCS #1 RSAPublicKey, as the provider's generateSubjectKeyID computes it. */
function subjectKeyId(pub: forge.pki.rsa.PublicKey): string {
    return pki.getPublicKeyFingerprint(pub, { type: "RSAPublicKey", md: forge.md.sha1.create(), encoding: "hex" });
}

/** The subject key identifier of a certificate, hex, or undefined. */
function certSubjectKeyId(cert: forge.pki.Certificate): string | undefined {
    const ext = cert.getExtension("subjectKeyIdentifier") as { subjectKeyIdentifier?: string } | null;
    return ext?.subjectKeyIdentifier;
}

/** The provider's clock: `clock` (ISO) when given, else now. */
function validity(cert: forge.pki.Certificate, hours: number, clock?: string): { validityStartTime: string; validityEndTime: string } {
    const start = clock ? new Date(clock) : new Date();
    if (Number.isNaN(start.getTime())) throw new Error(`tls mock: clock ${clock} is not a date`);
    const end = new Date(start.getTime() + hours * 3600_000);
    cert.validity.notBefore = start;
    cert.validity.notAfter = end;
    return { validityStartTime: start.toISOString(), validityEndTime: end.toISOString() };
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

/** Outputs the provider computes for both certificate resources; ready_for_renewal at the current time, as `modifyStateIfCertificateReadyForRenewal`. */
function computed(inputs: State, times: { validityStartTime: string; validityEndTime: string }): State {
    const now = Date.now();
    const renewAt = new Date(times.validityEndTime).getTime() - Number(inputs.earlyRenewalHours ?? 0) * 3600_000;
    return { ...times, earlyRenewalHours: Number(inputs.earlyRenewalHours ?? 0), readyForRenewal: renewAt <= now };
}

export function selfSignedCert(inputs: State, clock?: string): State {
    const key = pki.privateKeyFromPem(String(inputs.privateKeyPem));
    const cert = pki.createCertificate();
    cert.publicKey = pki.setRsaPublicKey(key.n, key.e);
    cert.serialNumber = serial();
    const times = validity(cert, Number(inputs.validityPeriodHours), clock);
    const attrs = subjectAttrs(inputs.subject as Subject);
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    const isCa = Boolean(inputs.isCaCertificate);
    const ski = isCa || inputs.setSubjectKeyId ? subjectKeyId(cert.publicKey) : undefined;
    // set_authority_key_id fails without a subject key identifier ("Could not determine Authority Key Identifier").
    if (inputs.setAuthorityKeyId && !ski)
        throw new Error("tls mock: Invalid Certificate Authority: Could not determine Authority Key Identifier");
    cert.setExtensions([
        ...usageExtensions(inputs.allowedUses as string[], isCa, inputs.maxPathLength),
        // node-forge computes the identifier itself, the same way (RFC 5280 4.2.1.2 method 1).
        ...(ski ? [{ name: "subjectKeyIdentifier" }] : []),
        ...(ski && inputs.setAuthorityKeyId ? [{ name: "authorityKeyIdentifier", keyIdentifier: forge.util.hexToBytes(ski) }] : []),
    ]);
    cert.sign(key, forge.md.sha256.create());
    return { ...inputs, certPem: pki.certificateToPem(cert), ...computed(inputs, times) };
}

export function certRequest(inputs: State): State {
    const key = pki.privateKeyFromPem(String(inputs.privateKeyPem));
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

export function locallySignedCert(inputs: State, clock?: string): State {
    const csr = pki.certificationRequestFromPem(String(inputs.certRequestPem));
    const caCert = pki.certificateFromPem(String(inputs.caCertPem));
    const caKey = pki.privateKeyFromPem(String(inputs.caPrivateKeyPem));
    const cert = pki.createCertificate();
    cert.publicKey = csr.publicKey as forge.pki.rsa.PublicKey;
    cert.serialNumber = serial();
    const times = validity(cert, Number(inputs.validityPeriodHours), clock);
    cert.setSubject(csr.subject.attributes);
    cert.setIssuer(caCert.subject.attributes);
    // Only the CSR's names are taken (resource_locally_signed_cert.go: Subject, DNSNames, IPAddresses, URIs).
    const requested = (csr.getAttribute({ name: "extensionRequest" }) as { extensions?: { name: string }[] } | null)?.extensions ?? [];
    const isCa = Boolean(inputs.isCaCertificate);
    const ski = isCa || inputs.setSubjectKeyId ? subjectKeyId(cert.publicKey) : undefined;
    const issuerSki = certSubjectKeyId(caCert);
    cert.setExtensions([
        ...usageExtensions(inputs.allowedUses as string[], isCa, inputs.maxPathLength),
        ...requested.filter((e) => e.name === "subjectAltName"),
        ...(ski ? [{ name: "subjectKeyIdentifier" }] : []),
        ...(issuerSki ? [{ name: "authorityKeyIdentifier", keyIdentifier: forge.util.hexToBytes(issuerSki) }] : []),
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    return { ...inputs, certPem: pki.certificateToPem(cert), ...computed(inputs, times) };
}

/** State for a tls resource type, or undefined for other types. */
export function tlsState(type: string, inputs: State, clock?: string): State | undefined {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return privateKey(inputs);
        case "tls:index/selfSignedCert:SelfSignedCert":
            return selfSignedCert(inputs, clock);
        case "tls:index/certRequest:CertRequest":
            return certRequest(inputs);
        case "tls:index/locallySignedCert:LocallySignedCert":
            return locallySignedCert(inputs, clock);
        default:
            return undefined;
    }
}
