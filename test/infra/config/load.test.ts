// loadConfig as the program runs it: under Pulumi's runtime (in this process, with mocks) and as the
// whole program (runProgram), with what the user would see printed.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigErrors, loadConfig } from "../../../infra/config";
import { mocks } from "../../support/mocks";
import { reportedByNodeHost } from "../../support/pulumi-cli/node-host";
import { loadProject } from "../../support/pulumi-cli/project";
import { programConfig, stackConfigOf, validateStackConfigAndApplyProjectConfig } from "../../support/pulumi-cli/stack-config";
import { BASE_CONFIG, runProgram, type ProgramResult } from "../../support/program";

const ROOT = path.resolve(__dirname, "../../..");
const DOCKER_MESSAGE =
    "DOCKER_HOST, DOCKER_TLS_VERIFY are set: the Docker provider would follow them and build the app image on that engine " +
    "instead of the Berth host. Run `unset DOCKER_HOST DOCKER_TLS_VERIFY` and try again";

/** Sets the stack's config as the CLI hands it to the program, then runs loadConfig. */
function load(config: Record<string, string>, secretKeys: string[] = [], env: Record<string, string> = {}) {
    pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(config).map(([k, v]) => [`berth:${k}`, v])),
        secretKeys.map((k) => `berth:${k}`),
    );
    return loadConfig(env);
}

/** What `pulumi up` would print when loadConfig throws for `config`. */
function printed(config: Record<string, string>, secretKeys: string[] = [], env: Record<string, string> = {}): string {
    try {
        load(config, secretKeys, env);
    } catch (err) {
        assert.ok(err instanceof ConfigErrors, String(err));
        assert.ok(pulumi.RunError.isInstance(err));
        return reportedByNodeHost(err);
    }
    assert.fail("loadConfig accepted the config");
}

describe("loadConfig under the Pulumi runtime", () => {
    before(async () => {
        await pulumi.runtime.setMocks(mocks({ config: {} }, []), "berth", "dev", false);
    });

    it("relies on the SDK telling which values are secrets", () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        assert.equal(typeof (require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: unknown }).isConfigSecret, "function");
    });

    it("reports every bad key at once, as lines without a stack trace", () => {
        const text = printed({ appVersion: "0", apPort: "3000", adminCidrs: '["203.0.113.7"]', appDir: "./nowhere" });
        assert.equal(
            text,
            [
                "berth:apPort is not a known key: did you mean appPort?",
                'berth:appVersion must be an integer >= 1, got "0"',
                'berth:appDir must be a directory holding the app\'s Dockerfile, got "./nowhere"',
                'berth:adminCidrs must be a list of IPv4 or IPv6 CIDRs such as ["203.0.113.7/32"], got "203.0.113.7" (did you mean 203.0.113.7/32?)',
            ].join("\n"),
        );
        // What the language host would print for an ordinary Error, for contrast.
        assert.match(reportedByNodeHost(new Error("boom")), /failed with an unhandled exception:\nError: boom\n\s+at /);
    });

    it("reports the Docker client variables with the config's problems", () => {
        const text = printed({ appVersion: "x" }, [], { DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1" });
        assert.equal(text, `${DOCKER_MESSAGE}\nberth:appVersion must be an integer >= 1, got "x"`);
        assert.throws(
            () => load({ appVersion: "1", adminCidrs: '["198.51.100.7/32"]' }, [], { DOCKER_CONTEXT: "colima" }),
            (err: Error) => err.message.startsWith("DOCKER_CONTEXT is set: ") && !err.message.includes("\n"),
        );
    });

    it("refuses a secret key stored in plain text, and a plain key stored as a secret", () => {
        assert.equal(
            printed({ appVersion: "1", mysqlPassword: "hunter2", instanceName: "hunter3" }, ["instanceName"]),
            [
                "berth:instanceName is stored as a secret, but Berth shows it in plain text (tags, resource ids, stack outputs or resource options): set it without --secret",
                "berth:mysqlPassword must be stored as a secret: pulumi config set --secret mysqlPassword <value>",
            ].join("\n"),
        );
    });

    it("reads stored secrets as secrets, and Pulumi.yaml's empty default as unset", async () => {
        const { secrets } = load({ appVersion: "1", mysqlPassword: "hunter2-hunter2", mysqlRootPassword: "", secretKeyBase: "" }, [
            "mysqlPassword",
        ]);
        assert.equal(secrets.mysqlRootPassword, undefined);
        assert.equal(secrets.secretKeyBase, undefined);
        const out = secrets.mysqlPassword!;
        // Output internals: the documented way to read values under mocks.
        const internal = out as unknown as { promise(): Promise<unknown>; isSecret: Promise<boolean> };
        assert.equal(await internal.isSecret, true);
        assert.equal(await internal.promise(), "hunter2-hunter2");
    });
});

describe("a bad config under mocks (the whole program)", () => {
    it("fails with one clean line per key and registers nothing", async () => {
        const r = await runProgram({ config: { appVersion: 0, appPort: "abc", healthTimout: 60, adminCidrs: ["203.0.113.7"] } });
        assert.equal(
            r.error,
            [
                "berth:healthTimout is not a known key: did you mean healthTimeout?",
                'berth:appVersion must be an integer >= 1, got "0"',
                'berth:appPort must be an integer from 1 to 65535, got "abc"',
                'berth:adminCidrs must be a list of IPv4 or IPv6 CIDRs such as ["203.0.113.7/32"], got "203.0.113.7" (did you mean 203.0.113.7/32?)',
            ].join("\n"),
        );
        assert.doesNotMatch(r.error ?? "", /^\s+at /m);
        assert.deepEqual(r.resources, []);
        assert.deepEqual(r.invokes, []);
    });

    it("refuses to run with DOCKER_HOST and DOCKER_TLS_VERIFY set, before anything is declared", async () => {
        const r = await runProgram({ config: BASE_CONFIG }, { env: { DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1" } });
        assert.equal(r.error, DOCKER_MESSAGE);
        assert.deepEqual(r.resources, []);
    });

    it("refuses DOCKER_CONTEXT and DOCKER_CERT_PATH too", async () => {
        const r = await runProgram({ config: BASE_CONFIG }, { env: { DOCKER_CONTEXT: "colima", DOCKER_CERT_PATH: "/home/me/.docker" } });
        assert.match(
            r.error ?? "",
            /^DOCKER_CONTEXT, DOCKER_CERT_PATH are set: .* Run `unset DOCKER_CONTEXT DOCKER_CERT_PATH` and try again$/,
        );
        assert.deepEqual(r.resources, []);
    });
});

describe("the Docker variables with target local", () => {
    const LOCAL = { appVersion: 1, target: "local" };

    it("follows DOCKER_HOST: the cutover is given it, and nothing is refused", async () => {
        const socket = "unix:///run/user/1000/docker.sock";
        const r = await runProgram({ config: LOCAL }, { env: { DOCKER_HOST: socket, DOCKER_TLS_VERIFY: "1" } });
        assert.equal(r.error, undefined);
        const cutover = r.resources.find((x) => x.name === "berth-cutover")!;
        assert.equal((cutover.inputs.environment as Record<string, string>).BERTH_DOCKER_HOST, socket);
    });

    it("refuses DOCKER_CONTEXT and a tcp DOCKER_HOST, with the config's problems, before anything is declared", async () => {
        const r = await runProgram({ config: { ...LOCAL, adminCidrs: ["203.0.113.7/32"] } }, { env: { DOCKER_CONTEXT: "colima" } });
        assert.deepEqual(
            (r.error ?? "").split("\n").map((l) => l.slice(0, 40)),
            ["DOCKER_CONTEXT is set: with target local", "berth:adminCidrs only applies to target "],
        );
        assert.deepEqual(r.resources, []);
        const tcp = await runProgram({ config: LOCAL }, { env: { DOCKER_HOST: "tcp://10.0.0.5:2375" } });
        assert.match(tcp.error ?? "", /^DOCKER_HOST must be a unix socket .* got "tcp:\/\/10\.0\.0\.5:2375"/);
        assert.deepEqual(tcp.resources, []);
    });
});

describe("Pulumi.yaml's defaults, as the CLI passes them on, declare the same stack as unset keys", () => {
    let bare: ProgramResult;
    let withDefaults: ProgramResult;
    before(async () => {
        const project = loadProject(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        const stack = stackConfigOf({ "berth:appVersion": "1", "berth:adminCidrs": BASE_CONFIG.adminCidrs });
        const { config, secretKeys } = programConfig(validateStackConfigAndApplyProjectConfig("dev", project, stack));
        assert.deepEqual(secretKeys, []);
        const applied = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.slice("berth:".length), v]));
        assert.equal(applied.mysqlPassword, "", "the secret keys' default is passed on as a plain empty value");
        [bare, withDefaults] = await Promise.all([runProgram({ config: BASE_CONFIG }), runProgram({ config: applied })]);
    });

    it("both run", () => {
        assert.equal(bare.error, undefined);
        assert.equal(withDefaults.error, undefined);
    });

    it("with the same resources, inputs and options (generated key material aside)", () => {
        // TLS keys are real and new on each run, and so is the readiness gate's digest of them (a
        // sha256): compare everything else.
        const pem = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----\n?/g;
        const normal = (r: ProgramResult): unknown =>
            JSON.parse(
                JSON.stringify(r.resources)
                    .replace(/\\n/g, "\n")
                    .replace(pem, "<pem>")
                    .replace(/\n/g, "\\n")
                    .replace(/\b[0-9a-f]{64}\b/g, "<sha256>"),
            );
        assert.deepStrictEqual(normal(withDefaults), normal(bare));
        assert.ok(
            withDefaults.resources.some((x) => x.type === "random:index/randomPassword:RandomPassword"),
            "an empty secret means a generated one",
        );
    });
});
