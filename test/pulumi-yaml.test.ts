// Pulumi.yaml, the shipped stacks and the README's settings, held to the Pulumi CLI's config rules
// (the port in test/support/pulumi-cli) and then to the program's own parsing.
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { HTTPS_KEYS, KNOWN_KEYS, parseConfig, SECRET_KEYS, TARGET_ONLY_KEYS, TARGETS, type BerthConfig } from "../infra/config";
import { configSet, configSetCommandsIn, shellWords } from "./support/pulumi-cli/config-set";
import { CliError, declared, loadProject, type Project } from "./support/pulumi-cli/project";
import {
    loadProjectStack,
    programConfig,
    stackConfigOf,
    validateStackConfigAndApplyProjectConfig,
    type StackValue,
} from "./support/pulumi-cli/stack-config";

const ROOT = path.resolve(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
const PULUMI_YAML = read("Pulumi.yaml");
const README = read("README.md");
const raw = yaml.load(PULUMI_YAML) as {
    name: string;
    backend?: { url?: string };
    config: Record<string, { type?: string; default?: unknown; description?: string; secret?: boolean }>;
};
const project = loadProject(PULUMI_YAML);
const STACK_FILES = fs
    .readdirSync(ROOT)
    .filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f))
    .sort();

/** A `## ` section of the README, from its heading to the next one. */
function readmeSection(heading: string): string {
    const start = README.indexOf(`\n## ${heading}\n`);
    assert.ok(start >= 0, `the README has a "${heading}" section`);
    const end = README.indexOf("\n## ", start + 1);
    return README.slice(start, end < 0 ? undefined : end);
}
/** The "Try it locally" section speaks of the local stack; the rest of the README of an aws one. */
const README_LOCAL = readmeSection("Try it locally");
const README_AWS = README.replace(README_LOCAL, "");

// A stand-in for the passphrase crypter: the port only needs encrypt and decrypt to be inverse.
const encrypt = (p: string) => Buffer.from(p).toString("base64");
const decrypt = (c: string) => Buffer.from(c, "base64").toString();

/** What `pulumi up` would hand the program for `stack` under `proj`, as parseConfig's input. */
function cliRun(stack: ReadonlyMap<string, StackValue>, proj: Project = project, stackName = "dev") {
    const merged = validateStackConfigAndApplyProjectConfig(stackName, proj, stack, decrypt);
    const { config, secretKeys } = programConfig(merged, decrypt);
    const berth = (k: string) => k.startsWith("berth:");
    return {
        raw: Object.fromEntries(
            Object.entries(config)
                .filter(([k]) => berth(k))
                .map(([k, v]) => [k.slice("berth:".length), v]),
        ),
        secretKeys: secretKeys.filter(berth).map((k) => k.slice("berth:".length)),
        config,
    };
}

/** The program's parse of what the CLI hands it. */
function programParse(run: ReturnType<typeof cliRun>, stackName = "dev"): BerthConfig {
    return parseConfig(run.raw, { project: "berth", stack: stackName, secretKeys: run.secretKeys });
}

const FRESH = { "aws:region": "eu-west-1", "berth:appVersion": "1" };

describe("Pulumi.yaml", () => {
    it("is the berth project, with the local state backend as the default", () => {
        assert.equal(raw.name, "berth");
        assert.equal(raw.backend?.url, "file://~", "no Pulumi Cloud account needed");
    });

    it("documents every key the program reads, and no other, each with a type and a description", () => {
        assert.deepEqual(Object.keys(raw.config).sort(), [...KNOWN_KEYS].sort());
        for (const [key, v] of Object.entries(raw.config)) {
            assert.ok(v.type, `${key} has a type`);
            assert.ok(v.description && v.description.length > 10, `${key} has a description`);
        }
    });

    it("gives every key but appVersion a default, so the CLI requires appVersion alone", () => {
        const withoutDefault = Object.entries(raw.config)
            .filter(([, v]) => v.default === undefined || v.default === null)
            .map(([k]) => k);
        assert.deepEqual(withoutDefault, ["appVersion"]);
        assert.throws(
            () => cliRun(stackConfigOf({ "aws:region": "eu-west-1" })),
            (e: Error) => e instanceof CliError && e.message === "Stack 'dev' is missing configuration value 'appVersion'",
        );
    });

    it("does not declare the secret keys secret: true, and says to set them with --secret", () => {
        // The CLI applies a default as a plain value and then refuses it for a secret: true key
        // (validateStackConfigValue), so every stack that leaves them unset would stop. The program
        // refuses a plain value for them instead (test/infra/config/parse.test.ts).
        for (const key of SECRET_KEYS) {
            assert.equal(declared(raw.config, key).secret, undefined, key);
            assert.match(declared(raw.config, key).description ?? "", new RegExp(`pulumi config set --secret ${key} <value>`));
        }
        const declaredSecret = loadProject(PULUMI_YAML.replace(/( {2}mysqlPassword:\n)/, "$1    secret: true\n"));
        assert.equal(declared(declaredSecret.config, "mysqlPassword").secret, true);
        assert.throws(
            () => cliRun(stackConfigOf(FRESH), declaredSecret),
            (e: Error) => e.message === "Stack 'dev' with configuration key 'mysqlPassword' must be encrypted as it's secret",
        );
    });

    it("states the same defaults as the program applies: a default the CLI passes on is the same as unset", () => {
        const base = parseConfig({ appVersion: "1" }, { project: "berth", stack: "dev" }) as unknown as Record<string, unknown>;
        const viaCli = programParse(cliRun(stackConfigOf(FRESH))) as unknown as Record<string, unknown>;
        assert.deepStrictEqual(viaCli, base);
        const applied = cliRun(stackConfigOf(FRESH)).raw;
        for (const key of KNOWN_KEYS) {
            if (key === "appVersion") continue;
            assert.ok(key in applied, `the CLI passes ${key}'s default on`);
            const one = parseConfig({ appVersion: "1", [key]: applied[key] }, { project: "berth", stack: "dev" }) as unknown as Record<
                string,
                unknown
            >;
            assert.deepStrictEqual(one, base, `${key}: Pulumi.yaml's default ${JSON.stringify(applied[key])}`);
        }
    });

    it("matches the README's Configuration table, key for key", () => {
        const section = README.slice(README.indexOf("## Configuration"), README.indexOf("\n## ", README.indexOf("## Configuration") + 1));
        const rows = [...section.matchAll(/^\| `([A-Za-z][A-Za-z0-9]*)` \| ([^|]+) \|/gm)].map(
            ([, key = "", form = ""]): [string, string] => [key, form.trim()],
        );
        assert.deepEqual(rows.map(([k]) => k).sort(), [...KNOWN_KEYS].sort());
        const table = Object.fromEntries(rows);
        assert.equal(table.healthTimeout, "`120`");
        assert.equal(table.migrateTimeout, "`1800`");
        assert.equal(table.appVersion, "(required)");
    });

    it("gives each target-only key the default the program takes for unset", () => {
        for (const target of TARGETS) {
            for (const [key, def] of Object.entries(TARGET_ONLY_KEYS[target])) {
                const declared = raw.config[key]?.default;
                assert.equal(typeof declared === "string" ? declared : JSON.stringify(declared), def, `${target}: ${key}`);
            }
        }
        assert.equal(declared(raw.config, "target").default, "aws");
    });

    it("is accepted by the CLI's project checks, with the timeouts' documented defaults", () => {
        assert.equal(declared(project.config, "healthTimeout").default, 120);
        assert.equal(declared(project.config, "migrateTimeout").default, 1800);
        assert.deepEqual(declared(project.config, "adminCidrs").items, { type: "string" });
    });
});

describe("stacks the CLI must accept", () => {
    it("ships at least the dev stack", () => {
        assert.ok(STACK_FILES.includes("Pulumi.dev.yaml"), STACK_FILES.join(", "));
    });

    for (const file of STACK_FILES) {
        it(`${file} passes the CLI's checks and the program's`, () => {
            const stackName = file.slice("Pulumi.".length, -".yaml".length);
            const run = cliRun(loadProjectStack(read(file), project), project, stackName);
            const cfg = programParse(run, stackName);
            assert.equal(cfg.appVersion, 1);
            if (cfg.target === "aws") assert.equal(run.config["aws:region"], "eu-west-1");
            else
                assert.deepEqual(
                    Object.keys(run.config).filter((k) => k.startsWith("aws:")),
                    [],
                    "no AWS setting on a local stack",
                );
        });
    }

    it('ships the local stack the README\'s "Try it locally" command selects', () => {
        assert.ok(STACK_FILES.includes("Pulumi.local.yaml"), STACK_FILES.join(", "));
    });

    it("a fresh stack with only appVersion (and the region) set", () => {
        const cfg = programParse(cliRun(stackConfigOf(FRESH)));
        assert.equal(cfg.appVersion, 1);
        assert.equal(cfg.adminCidrs, undefined, "detected at run time");
        assert.equal(cfg.appCommand, undefined);
        assert.equal(cfg.instanceName, "berth-dev");
        assert.equal(cfg.migrateTimeout, 1800);
    });

    const commands = configSetCommandsIn(README_AWS);
    const blocks = [...new Set(commands.filter((c) => c.block >= 0).map((c) => c.block))];

    it("the README shows the Rails settings and the other config commands", () => {
        const keys = commands.map((c) => c.command.key);
        for (const key of [
            "appDir",
            "mysqlImage",
            "appPort",
            "appCommand",
            "healthCheckCommand",
            "appEnv",
            "adminCidrs[0]",
            "appVersion",
            "domain",
            "acmeEmail",
        ]) {
            assert.ok(keys.includes(key), `README sets ${key}: ${keys.join(", ")}`);
        }
    });

    for (const start of ["Pulumi.dev.yaml", "a fresh stack"]) {
        for (const block of blocks) {
            const lines = commands.filter((c) => c.block === block);
            const [first] = lines;
            if (!first) throw new Error(`README block ${block} has no commands`);
            it(`README: the block from "${first.source}" (${lines.length} lines) on ${start}`, () => {
                const stack = new Map(
                    start === "a fresh stack" ? stackConfigOf(FRESH) : loadProjectStack(read("Pulumi.dev.yaml"), project),
                );
                for (const { command } of lines) configSet(stack, project, command, encrypt);
                const cfg = programParse(cliRun(stack));
                for (const { command } of lines) {
                    if (command.key === "appPort") assert.equal(cfg.appPort, Number(command.value));
                    if (command.key === "appDir") assert.equal(cfg.appDir, command.value);
                }
            });
        }
    }

    it("each inline README command, alone, on Pulumi.dev.yaml (an HTTPS key's after the HTTPS block)", () => {
        const inline = commands.filter((c) => c.block < 0);
        assert.ok(inline.length > 0);
        // The HTTPS keys only apply with a domain: the README's HTTPS block (domain, acmeEmail) comes first.
        const httpsBlock = commands.filter((c) => c.block >= 0 && commands.some((d) => d.block === c.block && d.command.key === "domain"));
        assert.ok(httpsBlock.length >= 2, "the README has a block that sets domain and acmeEmail");
        const isHttpsKey = (key: string) => Object.hasOwn(HTTPS_KEYS, key.replace(/\[\d+\]$/, "")) && key !== "domain";
        for (const { source, command } of inline) {
            const stack = new Map(loadProjectStack(read("Pulumi.dev.yaml"), project));
            if (isHttpsKey(command.key)) for (const b of httpsBlock) configSet(stack, project, b.command, encrypt);
            configSet(stack, project, command, encrypt);
            assert.doesNotThrow(() => programParse(cliRun(stack)), source);
        }
    });

    it("the README's adminCidrs example reaches the program as a list", () => {
        const example = commands.find((c) => c.command.key === "adminCidrs[0]")!;
        const stack = new Map(stackConfigOf(FRESH));
        configSet(stack, project, example.command, encrypt);
        assert.deepEqual(programParse(cliRun(stack)).adminCidrs, [example.command.value]);
    });
});

describe('the README\'s "Try it locally"', () => {
    /** Each `&&`-joined command of the first shell block, as the shell's words. */
    const commandLine = (() => {
        const block = /```sh\n([^`]*)```/.exec(README_LOCAL)?.[1];
        assert.ok(block !== undefined, "a shell block");
        const lines = block.trim().split("\n");
        assert.equal(lines.length, 1, "one command");
        return lines[0]!.split("&&").map((part) => shellWords(part.trim()));
    })();
    const selected = commandLine.find((w) => w.slice(0, 3).join(" ") === "pulumi stack select");
    const stackName = selected?.[selected.length - 1] ?? "";
    const localStack = () => new Map(loadProjectStack(read(`Pulumi.${stackName}.yaml`), project));

    it("is one command on a fresh clone: install, select (creating) a shipped stack, deploy", () => {
        assert.deepEqual(commandLine, [
            ["npm", "ci"],
            ["pulumi", "stack", "select", "--create", "local"],
            ["pulumi", "up"],
        ]);
        assert.ok(STACK_FILES.includes(`Pulumi.${stackName}.yaml`));
    });

    it("deploys the local target at version 1, with nothing else to set, where the section says", () => {
        const run = cliRun(localStack(), project, stackName);
        const cfg = programParse(run, stackName);
        assert.equal(cfg.target, "local");
        assert.equal(cfg.appVersion, 1);
        assert.ok(README_LOCAL.includes(`then open http://localhost:${cfg.localPort}/.`));
        assert.equal(cfg.localKeepData, true, "destroy keeps the data, as the section says");
    });

    const local = configSetCommandsIn(README_LOCAL);
    it("shows config commands, each of which passes the CLI's checks and the program's on the local stack", () => {
        const keys = local.map((c) => c.command.key);
        for (const key of ["appVersion", "localPort", "localKeepData"]) assert.ok(keys.includes(key), `sets ${key}: ${keys.join(", ")}`);
        for (const { source, command } of local) {
            const stack = localStack();
            configSet(stack, project, command, encrypt);
            const cfg = programParse(cliRun(stack, project, stackName), stackName);
            assert.equal(cfg.target, "local", source);
            if (command.key === "localKeepData") assert.equal(cfg.localKeepData, command.value === "true");
            if (command.key === "localPort") assert.equal(cfg.localPort, Number(command.value));
        }
    });

    it("an AWS key on the local stack is refused by the program, naming it", () => {
        const stack = localStack();
        configSet(
            stack,
            project,
            { key: "adminCidrs[0]", value: "203.0.113.7/32", path: true, secret: false, plaintext: false, type: undefined },
            encrypt,
        );
        assert.throws(
            () => programParse(cliRun(stack, project, stackName), stackName),
            (e: Error) =>
                e.message ===
                "berth:adminCidrs only applies to target aws, and this stack's target is local: remove it with pulumi config rm adminCidrs",
        );
    });
});

describe("stacks the CLI must refuse", () => {
    it("adminCidrs set as one plain string, without --path", () => {
        const stack = stackConfigOf(FRESH);
        configSet(
            stack,
            project,
            { key: "adminCidrs", value: "203.0.113.7/32", path: false, secret: false, plaintext: false, type: undefined },
            encrypt,
        );
        assert.throws(
            () => cliRun(stack),
            (e: Error) =>
                e instanceof CliError && e.message === "Stack 'dev' with configuration key 'adminCidrs' must be of type 'array<string>'",
        );
    });

    it("an integer key set to text", () => {
        assert.throws(
            () => cliRun(stackConfigOf({ ...FRESH, "berth:appPort": "abc" })),
            (e: Error) => e instanceof CliError && e.message === "Stack 'dev' with configuration key 'appPort' must be of type 'integer'",
        );
    });
});

describe("the first Pulumi.yaml, kept as a fixture, fails the CLI's checks", () => {
    const firstWave = loadProject(read("test/fixtures/Pulumi.yaml.first-wave"));
    const MISSING =
        "Stack 'dev' is missing configuration values 'adminCidrs', 'amiId', 'appCommand', 'appEnv', 'availabilityZone', " +
        "'healthCheckCommand', 'instanceName', 'keyName', 'mysqlPassword', 'mysqlRootPassword', 'secretKeyBase', " +
        "'sshPublicKey' and 'subnetId'";

    it("on the shipped dev stack", () => {
        assert.throws(
            () => cliRun(loadProjectStack(read("Pulumi.dev.yaml"), firstWave), firstWave),
            (e: Error) => e instanceof CliError && e.message === MISSING,
        );
    });

    it("on a fresh stack", () => {
        assert.throws(
            () => cliRun(stackConfigOf(FRESH), firstWave),
            (e: Error) => e.message === MISSING,
        );
    });
});
