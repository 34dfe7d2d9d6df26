// The Docker API's mutual-TLS material as the program declares it (real cryptography under mocks):
// the CA only signs, the server certificate only serves, the client certificate only authenticates a
// client. Parsed from what the host and the operator get: the cloud-config and the stack outputs.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { BASE_CONFIG, one, output, runProgram, type ProgramResult } from "../../support/program";
import { parseCloudConfig } from "../../support/mtls/host-files";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

interface Ext {
    name: string;
    critical?: boolean;
    cA?: boolean;
    pathLenConstraint?: number;
    subjectKeyIdentifier?: string;
    value?: string;
    [usage: string]: unknown;
}

function extensions(pem: string): Ext[] {
    return forge.pki.certificateFromPem(pem).extensions as Ext[];
}
const ext = (pem: string, name: string) => extensions(pem).find((e) => e.name === name);
const KEY_USAGES = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];
/** The key usages a certificate allows, by their RFC 5280 names. */
const keyUsages = (pem: string) => KEY_USAGES.filter((u) => ext(pem, "keyUsage")?.[u] === true).sort();
/** The authority key identifier's keyIdentifier, hex (the extension value is SEQUENCE { [0] keyIdentifier }). */
function authorityKeyId(pem: string): string | undefined {
    const e = ext(pem, "authorityKeyIdentifier");
    if (!e?.value) return undefined;
    const seq = forge.asn1.fromDer(e.value);
    const id = (seq.value as forge.asn1.Asn1[]).find(
        (v) => v.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && v.type === (0 as forge.asn1.Type),
    );
    return id ? forge.util.bytesToHex(id.value as string) : undefined;
}

describe("the Docker API's TLS material", () => {
    let r: ProgramResult;
    let ca = "";
    let server = "";
    let client = "";
    before(async () => {
        r = await runProgram({ config: BASE_CONFIG });
        assert.equal(r.error, undefined);
        ca = String(output(r, "dockerCaCert").value);
        client = String(output(r, "dockerClientCert").value);
        const doc = parseCloudConfig(String(one(r, "aws:ec2/instance:Instance").inputs.userData));
        server = String(doc.write_files?.find((f) => f.path === "/etc/docker/server.pem")?.content);
    });

    it("the CA is a CA (critical basicConstraints), may sign certificates and CRLs only, and names its own key", () => {
        const bc = ext(ca, "basicConstraints");
        assert.equal(bc?.cA, true);
        assert.equal(bc?.critical, true);
        assert.ok(new X509Certificate(ca).ca);
        assert.deepEqual(keyUsages(ca), ["cRLSign", "keyCertSign"]);
        assert.equal(ext(ca, "keyUsage")?.critical, true);
        assert.equal(ext(ca, "extKeyUsage"), undefined, "a CA limited by EKU would also limit what it may sign for");
        const ski = ext(ca, "subjectKeyIdentifier")?.subjectKeyIdentifier;
        assert.match(String(ski), /^[0-9a-f]{40}$/);
        assert.equal(authorityKeyId(ca), ski, "the self-signed CA's authority key identifier is its own key's");
    });

    it("the CA resource asks for exactly that", () => {
        const res = one(r, "tls:index/selfSignedCert:SelfSignedCert").inputs;
        assert.equal(res.isCaCertificate, true);
        assert.equal(res.setAuthorityKeyId, true);
        assert.deepEqual(res.allowedUses, ["cert_signing", "crl_signing"]);
    });

    it("the server certificate is no CA and serves TLS only: digitalSignature and keyEncipherment (RSA), serverAuth", () => {
        const x = new X509Certificate(server);
        assert.equal(x.ca, false);
        assert.equal(ext(server, "basicConstraints")?.cA, false);
        assert.equal(ext(server, "basicConstraints")?.critical, true);
        assert.equal(x.publicKey.asymmetricKeyType, "rsa", "keyEncipherment fits an RSA key only");
        assert.deepEqual(keyUsages(server), ["digitalSignature", "keyEncipherment"]);
        assert.deepEqual(x.keyUsage, [SERVER_AUTH]);
        assert.equal(authorityKeyId(server), ext(ca, "subjectKeyIdentifier")?.subjectKeyIdentifier);
    });

    it("the client certificate is no CA and authenticates a client only: digitalSignature, clientAuth", () => {
        const x = new X509Certificate(client);
        assert.equal(x.ca, false);
        assert.equal(ext(client, "basicConstraints")?.cA, false);
        assert.deepEqual(keyUsages(client), ["digitalSignature"]);
        assert.deepEqual(x.keyUsage, [CLIENT_AUTH]);
        assert.equal(authorityKeyId(client), ext(ca, "subjectKeyIdentifier")?.subjectKeyIdentifier);
    });
});
