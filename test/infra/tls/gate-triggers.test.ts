// The readiness gate waits for the daemon again whenever the daemon restarts with other material:
// new user data stops and starts the instance (same id), so the instance id alone does not say so.
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, one, runProgram, type ProgramResult } from "../../support/program";
import { parseCloudConfig } from "../../support/mtls/host-files";

const SSH_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyA op@laptop";
const SSH_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBerthTestKeyB op@laptop";

const gate = (r: ProgramResult) => one(r, "command:local:Command", "-ready");
const triggers = (r: ProgramResult) => gate(r).inputs.triggers as unknown[];
const userData = (r: ProgramResult) => String(one(r, "aws:ec2/instance:Instance").inputs.userData);
const serverCert = (r: ProgramResult) =>
    String(parseCloudConfig(userData(r)).write_files?.find((f) => f.path === "/etc/docker/server.pem")?.content);

describe("the readiness gate's triggers", () => {
    let dir = "";
    let first: ProgramResult;
    let again: ProgramResult;
    let otherKey: ProgramResult;
    let rotated: ProgramResult;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-gate-triggers-"));
        const kept = path.join(dir, "tls");
        first = await runProgram({ config: { ...BASE_CONFIG, sshPublicKey: SSH_A }, tlsStateDir: kept });
        [again, otherKey, rotated] = await Promise.all([
            runProgram({ config: { ...BASE_CONFIG, sshPublicKey: SSH_A }, tlsStateDir: kept }),
            runProgram({ config: { ...BASE_CONFIG, sshPublicKey: SSH_B }, tlsStateDir: kept }),
            // New TLS state: every key and certificate made again, as after `pulumi up --replace`.
            runProgram({ config: { ...BASE_CONFIG, sshPublicKey: SSH_A }, tlsStateDir: path.join(dir, "tls-rotated") }),
        ]);
        for (const r of [first, again, otherKey, rotated]) assert.equal(r.error, undefined);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("hold the instance id and the server certificate the user data installs", () => {
        const t = triggers(first);
        assert.ok(
            t.some((x) => typeof x === "string" && /^i-[0-9a-f]+$/.test(x)),
            `no instance id in ${JSON.stringify(t)}`,
        );
        assert.match(serverCert(first), /^-----BEGIN CERTIFICATE-----/);
        assert.ok(t.includes(serverCert(first)), "the server certificate is not among the triggers");
    });

    it("are the same on a run that changes nothing, so the gate does not run for nothing", () => {
        assert.deepEqual(triggers(again), triggers(first));
    });

    it("change when the server certificate is renewed", () => {
        assert.notEqual(serverCert(rotated), serverCert(first));
        assert.ok(triggers(rotated).includes(serverCert(rotated)));
        assert.notDeepEqual(triggers(rotated), triggers(first));
    });

    it("change when other user data changes (an SSH key), the certificates being the same", () => {
        assert.equal(serverCert(otherKey), serverCert(first));
        assert.notEqual(userData(otherKey), userData(first));
        assert.notDeepEqual(triggers(otherKey), triggers(first));
    });

    it("keep secret what is derived from the user data: the triggers are a secret input, with no key or user data in them", () => {
        assert.ok(gate(first).secretInputs.includes("triggers"), "a digest of the server key and user data must stay a secret");
        const text = JSON.stringify(triggers(first));
        assert.doesNotMatch(text, /PRIVATE KEY/);
        assert.ok(!text.includes(userData(first).slice(0, 200)));
    });
});
