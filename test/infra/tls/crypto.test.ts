// The mocks' stand-in for @pulumi/tls makes certificates the way the provider does
// (hashicorp/terraform-provider-tls internal/provider/common_cert.go createCertificate over Go's
// crypto/x509), so what the program's tests see is what `pulumi up` makes.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { certRequest, locallySignedCert, privateKey, selfSignedCert } from "../../support/tls-crypto";

type Ext = { name: string; cA?: boolean; pathLenConstraint?: number; subjectKeyIdentifier?: string; value?: string };
const exts = (pem: unknown) => forge.pki.certificateFromPem(String(pem)).extensions as Ext[];
const ext = (pem: unknown, name: string) => exts(pem).find((e) => e.name === name);
const keyId = (pem: unknown) => {
    const e = ext(pem, "authorityKeyIdentifier");
    if (!e?.value) return undefined;
    const [keyIdentifier] = forge.asn1.fromDer(e.value).value as forge.asn1.Asn1[];
    if (typeof keyIdentifier?.value !== "string") throw new Error("an authorityKeyIdentifier extension without a keyIdentifier");
    return forge.util.bytesToHex(keyIdentifier.value);
};

describe("the TLS provider stand-in", () => {
    let key = "";
    before(() => {
        key = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
    });
    const ca = (extra: Record<string, unknown>) =>
        selfSignedCert({
            privateKeyPem: key,
            isCaCertificate: true,
            validityPeriodHours: 1,
            allowedUses: ["cert_signing"],
            subject: { commonName: "t" },
            ...extra,
        });

    it("writes no pathLenConstraint for max_path_length 0 (Go needs MaxPathLenZero, which the provider never sets), nor for -1", () => {
        assert.equal(ext(ca({ maxPathLength: 0 }).certPem, "basicConstraints")?.pathLenConstraint, undefined);
        assert.equal(ext(ca({ maxPathLength: -1 }).certPem, "basicConstraints")?.pathLenConstraint, undefined);
        assert.equal(ext(ca({ maxPathLength: 2 }).certPem, "basicConstraints")?.pathLenConstraint, 2);
        assert.equal(ext(ca({}).certPem, "basicConstraints")?.cA, true);
    });

    it("gives a CA a subject key identifier (SHA-1 of the PKCS #1 key), and the authority key identifier only when asked", () => {
        const plain = ca({}).certPem;
        const pub = forge.pki.certificateFromPem(String(plain)).publicKey as forge.pki.rsa.PublicKey;
        const sha1 = forge.md.sha1
            .create()
            .update(forge.asn1.toDer(forge.pki.publicKeyToRSAPublicKey(pub) as forge.asn1.Asn1).getBytes())
            .digest()
            .toHex();
        assert.equal(ext(plain, "subjectKeyIdentifier")?.subjectKeyIdentifier, sha1);
        assert.equal(ext(plain, "authorityKeyIdentifier"), undefined);
        assert.equal(keyId(ca({ setAuthorityKeyId: true }).certPem), sha1);
        assert.throws(
            () =>
                selfSignedCert({
                    privateKeyPem: key,
                    validityPeriodHours: 1,
                    allowedUses: [],
                    subject: { commonName: "t" },
                    setAuthorityKeyId: true,
                }),
            /Could not determine Authority Key Identifier/,
        );
    });

    it("signs a leaf with CA:FALSE, the issuer's key identifier, no keyUsage when none is allowed, and the CSR's names", () => {
        const issuer = ca({ setAuthorityKeyId: true });
        const leafKey = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
        const csr = certRequest({ privateKeyPem: leafKey, subject: { commonName: "leaf" }, ipAddresses: ["127.0.0.1"] }).certRequestPem;
        const leaf = locallySignedCert({
            certRequestPem: csr,
            caCertPem: issuer.certPem,
            caPrivateKeyPem: key,
            validityPeriodHours: 1,
            allowedUses: ["client_auth"],
        });
        assert.equal(ext(leaf.certPem, "basicConstraints")?.cA, false);
        assert.equal(ext(leaf.certPem, "keyUsage"), undefined);
        assert.equal(ext(leaf.certPem, "subjectKeyIdentifier"), undefined);
        assert.equal(keyId(leaf.certPem), ext(issuer.certPem, "subjectKeyIdentifier")?.subjectKeyIdentifier);
        assert.equal(new X509Certificate(String(leaf.certPem)).checkIP("127.0.0.1"), "127.0.0.1");
    });

    it("issues at the provider's clock and reports validity and early renewal as the provider's state does", () => {
        const clock = "2030-01-01T00:00:00.000Z";
        const c = ca({ validityPeriodHours: 48, earlyRenewalHours: 24 });
        assert.equal(c.readyForRenewal, false);
        const at = selfSignedCert(
            { privateKeyPem: key, isCaCertificate: true, validityPeriodHours: 48, allowedUses: [], subject: { commonName: "t" } },
            clock,
        );
        assert.equal(at.validityStartTime, clock);
        assert.equal(at.validityEndTime, "2030-01-03T00:00:00.000Z");
        assert.equal(new Date(new X509Certificate(String(at.certPem)).validTo).toISOString(), "2030-01-03T00:00:00.000Z");
        const late = selfSignedCert(
            {
                privateKeyPem: key,
                isCaCertificate: true,
                validityPeriodHours: 48,
                earlyRenewalHours: 30,
                allowedUses: [],
                subject: { commonName: "t" },
            },
            new Date(Date.now() - 20 * 3600_000).toISOString(),
        );
        assert.equal(late.readyForRenewal, true, "28 hours left, renewal from 30 hours before the end");
    });
});
