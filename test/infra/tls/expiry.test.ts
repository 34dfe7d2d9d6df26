// When the Docker API's certificates expire: plain stack outputs, and a warning from `pulumi up` in
// the last 30 days that names the certificate, the time and the renewal steps.
import { before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { BASE_CONFIG, byType, one, output, runProgram, type ProgramResult } from "../../support/program";
import { parseCloudConfig } from "../../support/mtls/host-files";
import { expiryWarnings, ROTATION_DOC, VALIDITY_HOURS } from "../../../infra/tls";

const DAY = 86_400_000;
const ROOT = path.join(__dirname, "../../..");
const certWarnings = (r: ProgramResult) => r.logs.filter((l) => l.level === "warn" && /certificate/.test(l.message));
/** A provider clock that makes a certificate valid for `hours` end `daysLeft` days from now. */
const clockFor = (hours: number, daysLeft: number) => new Date(Date.now() - hours * 3600_000 + daysLeft * DAY).toISOString();

describe("expiryWarnings", () => {
    const now = new Date("2030-01-01T00:00:00.000Z");
    const far = "2031-01-01T00:00:00.000Z";

    it("says nothing while every certificate has more than 30 days left", () => {
        assert.deepEqual(expiryWarnings({ ca: far, server: far, client: "2030-01-31T00:00:01.000Z" }, now), []);
    });

    it("names the certificate, its end and the renewal steps from 30 days before it", () => {
        assert.deepEqual(expiryWarnings({ ca: far, server: far, client: "2030-01-11T00:00:00.000Z" }, now), [
            `The Docker API's client certificate expires on 2030-01-11T00:00:00.000Z (in 10 days): renew it as ${ROTATION_DOC} describes.`,
        ]);
    });

    it("says which have expired, one warning each", () => {
        const w = expiryWarnings({ ca: "2030-01-20T00:00:00.000Z", server: "2029-12-01T00:00:00.000Z", client: far }, now);
        assert.equal(w.length, 2);
        assert.match(w[0]!, /CA certificate expires on 2030-01-20T00:00:00\.000Z \(in 19 days\)/);
        assert.match(w[1]!, /server \(daemon\) certificate expired on 2029-12-01T00:00:00\.000Z/);
    });

    it("points to a document that exists", () => {
        assert.ok(fs.existsSync(path.join(ROOT, ROTATION_DOC)), `${ROTATION_DOC} is missing`);
    });
});

describe("certificate expiry under mocks", () => {
    let fresh: ProgramResult;
    let clientSoon: ProgramResult;
    let serverSoon: ProgramResult;
    before(async () => {
        [fresh, clientSoon, serverSoon] = await Promise.all([
            runProgram({ config: BASE_CONFIG }),
            runProgram({ config: BASE_CONFIG, tlsClock: clockFor(VALIDITY_HOURS.client, 10) }),
            runProgram({ config: BASE_CONFIG, tlsClock: clockFor(VALIDITY_HOURS.server, 3) }),
        ]);
        for (const r of [fresh, clientSoon, serverSoon]) assert.equal(r.error, undefined);
    });

    it("exports tlsExpiry {ca, server, client} as plain ISO times, the certificates' own ends", () => {
        const out = fresh.outputs.tlsExpiry;
        assert.ok(out, "no tlsExpiry output");
        assert.equal(out.secret, false);
        const e = out.value as { ca: string; server: string; client: string };
        assert.deepEqual(Object.keys(e).sort(), ["ca", "client", "server"]);
        for (const v of Object.values(e)) assert.match(v, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const server = parseCloudConfig(String(one(fresh, "aws:ec2/instance:Instance").inputs.userData)).write_files?.find(
            (f) => f.path === "/etc/docker/server.pem",
        )?.content;
        const notAfter = (pem: unknown) => new Date(new X509Certificate(String(pem)).validTo).getTime();
        // X.509 keeps whole seconds.
        const near = (iso: string, pem: unknown) =>
            assert.ok(Math.abs(new Date(iso).getTime() - notAfter(pem)) < 1000, `${iso} vs ${String(pem)}`);
        near(e.ca, output(fresh, "dockerCaCert").value);
        near(e.client, output(fresh, "dockerClientCert").value);
        near(e.server, server);
        const years = (iso: string) => (new Date(iso).getTime() - Date.now()) / (365 * DAY);
        assert.ok(years(e.ca) > 9.9 && years(e.server) > 4.9 && years(e.client) > 1.9, JSON.stringify(e));
    });

    it("warns about nothing on a fresh stack", () => {
        assert.deepEqual(certWarnings(fresh), []);
    });

    it("warns when the client certificate has 10 days left, naming it, its end and the rotation document", () => {
        const w = certWarnings(clientSoon);
        assert.equal(w.length, 1, JSON.stringify(w));
        const end = (output(clientSoon, "tlsExpiry").value as Record<string, string>).client;
        assert.equal(
            w[0]!.message,
            `The Docker API's client certificate expires on ${end} (in 10 days): renew it as docs/tls-rotation.md describes.`,
        );
    });

    it("warns when the server certificate has 3 days left (and about the client certificate, long expired)", () => {
        const w = certWarnings(serverSoon).map((l) => l.message);
        assert.equal(w.length, 2, JSON.stringify(w));
        assert.match(w[0]!, /server \(daemon\) certificate expires on .* \(in 3 days\): renew it as docs\/tls-rotation\.md describes\./);
        assert.match(w[1]!, /client certificate expired on /);
    });

    it("renews leaves on their own late in their life, the client in its last 30 days, the server in its last 7; never the CA", () => {
        const leaves = byType(fresh, "tls:index/locallySignedCert:LocallySignedCert");
        const hours = (suffix: string) => leaves.find((l) => l.name.endsWith(suffix))?.inputs.earlyRenewalHours;
        assert.equal(hours("-client"), 30 * 24);
        assert.equal(hours("-server"), 7 * 24);
        assert.equal(one(fresh, "tls:index/selfSignedCert:SelfSignedCert").inputs.earlyRenewalHours, undefined);
    });
});
