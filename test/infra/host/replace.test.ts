/**
 * Replacing the instance, under mocks: the steps `pulumi up` takes, as the planner (a port of the
 * engine's step generator, test/e2e/apply/plan.ts) and the providers' rules (provider-rules.ts,
 * ported from terraform-provider-aws and terraform-provider-docker) make them from two runs of the
 * program. What a replacement must do: stop the old instance and detach the data volume before the
 * new instance attaches it, move the address only after that, and create the whole deployment again
 * on the new, empty engine; the zone stays where the volume is.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, MockInput, one, ProgramResult, runProgram } from "../../support/program";
import { DockerResource, freshState, planUpdate, programResources, showStep, Step } from "../../e2e/apply/plan";

const TLS = path.join(os.tmpdir(), `berth-replace-test-${process.pid}`);
const CONFIG = { ...BASE_CONFIG, appVersion: 3 };
const run = (extra: Partial<MockInput> & { config?: Record<string, unknown> } = {}) =>
    runProgram({ ...extra, config: { ...CONFIG, ...extra.config }, tlsStateDir: TLS });

const DOCKER_KINDS = new Set(["network", "remoteImage", "image", "container"]);

function plan(before: ProgramResult, now: ProgramResult): { steps: Step[]; show: string[]; at: (text: string) => number } {
    const steps = planUpdate(freshState(programResources(before)), programResources(now));
    const show = steps.map(showStep);
    const at = (text: string) => {
        const i = show.indexOf(text);
        assert.ok(i >= 0, `no "${text}" in:\n${show.join("\n")}`);
        return i;
    };
    return { steps, show, at };
}

describe("replacing the instance (under mocks, through the ported engine and provider rules)", () => {
    let first: ProgramResult;
    let declared: DockerResource[];
    before(async () => {
        first = await run();
        assert.equal(first.error, undefined);
        declared = programResources(first);
    });
    after(() => rmSync(TLS, { recursive: true, force: true }));

    it("a second run with nothing changed plans no step but `same`", () => {
        const steps = planUpdate(freshState(declared), declared);
        assert.deepEqual(steps.filter((s) => s.op !== "same").map(showStep), []);
    });

    // A new key pair stands for every cause of a new instance (a new subnet, `pulumi up --replace`,
    // an AMI pinned for another architecture): the steps after the instance's follow from it alone.
    for (const [why, change] of [["a new key pair (keyName is ForceNew)", { config: { keyName: "ops-2026" } }]] as const) {
        it(`${why}: stop and detach, then attach, then the address, then the whole deployment again`, async () => {
            const now = await run({ ...change, instanceGeneration: 2 });
            assert.equal(now.error, undefined);
            const { steps, show, at } = plan(first, now);
            const newInstance = at("replace-create host-instance (cbd: keyName)");
            const detach = at("delete host-data-attachment (replace)");
            const attach = at("replace-create host-data-attachment (dbr: instanceId)");
            const address = at("replace-create host-eip-association (cbd: instanceId)");
            const gate = show.findIndex((s) => s.startsWith("replace-create docker-ready"));
            assert.ok(newInstance < detach, "the new instance exists before the old one is stopped");
            assert.ok(detach < attach, "the volume is detached from the old instance (stopped first) before the new one attaches it");
            assert.ok(attach < address, "the address moves only once the new instance has the data volume");
            assert.ok(address < gate, "the readiness gate waits for the new daemon after that");
            const started = at("replace-create host-running (cbd: instanceId)");
            assert.ok(attach < started && started < gate, "the new instance is made sure to run once it has the volume");

            // The data volume itself stays: same zone, same volume.
            assert.ok(show.includes("same host-data"), show.join("\n"));
            assert.equal(steps.filter((s) => s.resource.name === "host-data" && s.op !== "same").length, 0);

            // Every Docker object is created again on the new engine, after the gate.
            const dockerSteps = steps.filter((s) => DOCKER_KINDS.has(s.resource.kind) && s.op !== "delete");
            assert.ok(dockerSteps.length >= 9, show.join("\n"));
            for (const s of dockerSteps) {
                assert.equal(s.op, "replace-create", `${showStep(s)}: the new engine has none of it`);
                assert.ok(steps.indexOf(s) > gate, `${showStep(s)} comes after the gate`);
            }
            // MySQL is delete-first: its old container is deleted (on the new engine: nothing to do)
            // before the new one starts on the same files. The cutover runs again for the new app.
            assert.ok(at("delete berth-mysql (replace)") < at("replace-create berth-mysql (dbr: #trigger)"));
            assert.ok(show.some((s) => s.startsWith("replace-create berth-cutover")));

            // The old instance goes last, after the old Docker objects.
            const deletes = steps.map((s, i) => ({ s, i })).filter(({ s }) => s.op === "delete" && s.reason !== "replace");
            const oldInstance = deletes.find(({ s }) => s.resource.name === "host-instance");
            assert.ok(oldInstance, "the old instance is deleted");
            for (const { s, i } of deletes.filter(({ s }) => DOCKER_KINDS.has(s.resource.kind)))
                assert.ok(i < oldInstance.i, `${showStep(s)} before the old instance`);
        });
    }

    it("fails if the attachment is left create-first: the new instance would attach a volume still in use", async () => {
        const now = await run({ config: { keyName: "ops-2026" }, instanceGeneration: 2 });
        const cbd = programResources(now).map((r) => (r.name === "host-data-attachment" ? { ...r, deleteBeforeReplace: undefined } : r));
        const show = planUpdate(freshState(declared), cbd).map(showStep);
        const attach = show.indexOf("replace-create host-data-attachment (cbd: instanceId)");
        const detach = show.indexOf("delete host-data-attachment (replaced)");
        assert.ok(attach >= 0 && detach > attach, "create-first attaches before the old attachment is deleted: VolumeInUse");
    });

    it("without the trigger, a new instance would get no MySQL, app or nginx (nothing in their inputs changes)", async () => {
        const now = await run({ config: { keyName: "ops-2026" }, instanceGeneration: 2 });
        const untriggered = programResources(now).map((r) => ({ ...r, replacementTrigger: undefined }));
        const steps = planUpdate(freshState(declared), untriggered);
        const mysql = steps.find((s) => s.resource.name === "berth-mysql" && s.op !== "delete")!;
        assert.equal(mysql.op, "same");
        // And the program does set it, to the instance's id, on every Docker object.
        const before = new Set(declared.filter((x) => DOCKER_KINDS.has(x.kind)).map((x) => x.replacementTrigger));
        const after = new Set(
            programResources(now)
                .filter((x) => DOCKER_KINDS.has(x.kind))
                .map((x) => x.replacementTrigger),
        );
        assert.equal(before.size, 1);
        assert.equal(after.size, 1);
        assert.match(String([...before][0]), /^i-[0-9a-f]+$/);
        assert.notEqual([...before][0], [...after][0]);
    });

    it("the zone is pinned by the data volume: a lookup that answers another first zone moves nothing", async () => {
        const moved = await run({ zones: ["eu-west-1c", "eu-west-1a"] });
        assert.equal(moved.error, undefined);
        const volume = one(moved, "aws:ebs/volume:Volume");
        assert.deepEqual(volume.ignoreChanges, ["availabilityZone"]);
        const instance = one(moved, "aws:ec2/instance:Instance");
        // The instance's zone is the volume's output and nothing else: a `same` volume keeps the
        // outputs in the state (pkg/resource/deploy/step.go, SameStep), so the instance keeps its zone.
        assert.deepEqual(instance.propertyDependencies.availabilityZone, [volume.urn]);
        const show = plan(first, moved).show;
        assert.ok(show.includes("same host-data"), show.join("\n"));
    });

    it("a configured zone the data volume is not in is refused before anything is declared", async () => {
        const r = await runProgram({
            config: { ...CONFIG, availabilityZone: "eu-west-1c" },
            existingInstance: { instanceType: "t3.small", ami: "ami-0aaaaaaaaaaaaaaa1", availabilityZone: "eu-west-1a" },
        });
        assert.match(r.error ?? "", /berth:availabilityZone is eu-west-1c, but the host and its data volume are in eu-west-1a/);
        assert.equal(r.resources.filter((x) => x.custom).length, 0);
    });
});

describe("restoring an EBS snapshot (berth:dataSnapshotId)", () => {
    const SNAP = "snap-0123456789abcdef0";
    const tls = path.join(os.tmpdir(), `berth-restore-test-${process.pid}`);
    after(() => rmSync(tls, { recursive: true, force: true }));

    it("creates the data volume from the snapshot and attaches it, then starts the host again, keeping the deployment", async () => {
        const before = await runProgram({ config: CONFIG, tlsStateDir: tls });
        const now = await runProgram({ config: { ...CONFIG, dataSnapshotId: SNAP }, volumeGeneration: 2, tlsStateDir: tls });
        assert.equal(now.error, undefined);
        const volume = one(now, "aws:ebs/volume:Volume");
        assert.equal(volume.inputs.snapshotId, SNAP, "the volume is created from the snapshot");
        assert.equal(volume.inputs.finalSnapshot, true);
        const attachment = one(now, "aws:ec2/volumeAttachment:VolumeAttachment");
        assert.deepEqual(attachment.propertyDependencies.volumeId, [volume.urn], "the attachment attaches that volume");
        const show = planUpdate(freshState(programResources(before)), programResources(now)).map(showStep);
        const at = (text: string) => {
            const i = show.indexOf(text);
            assert.ok(i >= 0, `no "${text}" in:\n${show.join("\n")}`);
            return i;
        };
        const created = at("replace-create host-data (cbd: snapshotId)");
        const detach = at("delete host-data-attachment (replace)");
        const attach = at("replace-create host-data-attachment (dbr: volumeId)");
        // The detach stopped the instance and attaching starts nothing: it is started again.
        const started = at("replace-create host-running (cbd: #trigger)");
        const gate = show.findIndex((s) => s.startsWith("replace-create docker-ready"));
        assert.ok(created < detach && detach < attach && attach < started && started < gate, show.join("\n"));
        // The same instance and the same engine: the containers stay, and start on the restored files.
        for (const name of ["host-instance", "berth-mysql", "berth-app", "berth-nginx"])
            assert.ok(!show.some((s) => s.startsWith(`replace-create ${name} `)), `${name} is not replaced:\n${show.join("\n")}`);
        // The old volume goes at the end, leaving its final snapshot.
        assert.ok(at("delete host-data (replaced)") > gate);
    });

    it("refuses what is not a snapshot id, naming the key", async () => {
        const r = await runProgram({ config: { ...CONFIG, dataSnapshotId: "vol-0123" } });
        assert.match(r.error ?? "", /berth:dataSnapshotId must be an EBS snapshot id such as "snap-0123456789abcdef0"/);
    });
});

describe("changing the CPU architecture", () => {
    const existing = { instanceType: "t3.small", ami: "ami-0aaaaaaaaaaaaaaa1", availabilityZone: "eu-west-1a" };

    it("is refused before anything is declared when the host's AMI would stay, with the commands that do it", async () => {
        const r = await runProgram({ config: { ...CONFIG, instanceType: "t4g.small" }, existingInstance: existing });
        const error = r.error ?? "";
        assert.match(error, /berth:instanceType t4g\.small is arm64, but the host i-\w+ \(t3\.small\) runs an x86_64 AMI/);
        assert.match(error, /pulumi config set berth:amiId \$\(aws ec2 describe-images .*Values=arm64/);
        assert.equal(r.resources.filter((x) => x.custom).length, 0, "nothing declared");
    });

    it("a pinned AMI of the other architecture is refused too", async () => {
        const r = await runProgram({ config: { ...CONFIG, instanceType: "t4g.small", amiId: "ami-0aaaabbbbccccdddd" } });
        assert.match(r.error ?? "", /berth:amiId ami-0aaaabbbbccccdddd is an x86_64 image, but berth:instanceType t4g\.small is arm64/);
    });

    it("with an arm64 AMI pinned, the host is replaced from it and the app image is built for arm64", async () => {
        const tls = path.join(os.tmpdir(), `berth-arch-test-${process.pid}`);
        try {
            const before = await runProgram({ config: CONFIG, tlsStateDir: tls });
            const now = await runProgram({
                config: { ...CONFIG, instanceType: "t4g.small", amiId: "ami-0123456789abcdef0" },
                amiArchitectures: { "ami-0123456789abcdef0": "arm64" },
                existingInstance: existing,
                instanceGeneration: 2,
                tlsStateDir: tls,
            });
            assert.equal(now.error, undefined);
            const instance = one(now, "aws:ec2/instance:Instance");
            assert.equal(instance.inputs.ami, "ami-0123456789abcdef0");
            assert.deepEqual(instance.ignoreChanges, [], "a pinned AMI is honoured, not ignored");
            const image = one(now, "docker:index/image:Image").inputs.build as { platform: string };
            assert.equal(image.platform, "linux/arm64");
            const show = planUpdate(freshState(programResources(before)), programResources(now)).map(showStep);
            assert.ok(show.includes("replace-create host-instance (cbd: ami)"), show.join("\n"));
            assert.ok(
                show.indexOf("delete host-data-attachment (replace)") <
                    show.indexOf("replace-create host-data-attachment (dbr: instanceId)"),
            );
            assert.ok(show.some((s) => s.startsWith("update berth-app-image") || s.startsWith("replace-create berth-app-image")));
        } finally {
            rmSync(tls, { recursive: true, force: true });
        }
    });

    it("without a pinned AMI, a newer Flatcar in the lookup still changes nothing (ami is ignored)", async () => {
        const r = await runProgram({ config: CONFIG, amiId: "ami-0newer" });
        assert.deepEqual(one(r, "aws:ec2/instance:Instance").ignoreChanges, ["ami"]);
    });
});
