// Tests of the port itself: it must refuse what the Pulumi CLI refuses and accept what it accepts.
// Cases follow pulumi/pulumi's own tests (pkg/workspace/config_project_test.go, sdk/go/common/workspace/project_test.go).
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { configSet, configSetCommandsIn, parseConfigSet, shellWords } from "./config-set";
import { CliError, declared, goAtoiAccepts, loadProject, validateConfigValue } from "./project";
import { loadProjectStack, programConfig, stackConfigOf, validateStackConfigAndApplyProjectConfig } from "./stack-config";

// config.Base64Crypter (sdk/go/common/resource/config/crypt.go), as the CLI's tests use it.
const encrypt = (p: string) => Buffer.from(p).toString("base64");
const decrypt = (c: string) => Buffer.from(c, "base64").toString();

const refusedWith = (message: string) => (err: unknown) => {
    assert.ok(err instanceof CliError, `not a CliError: ${String(err)}`);
    assert.equal(err.message, message);
    return true;
};

function validate(projectYaml: string, stackYaml: string) {
    const project = loadProject(projectYaml);
    return validateStackConfigAndApplyProjectConfig("dev", project, loadProjectStack(stackYaml, project), decrypt);
}

describe("Pulumi.yaml loading (LoadProjectBytes)", () => {
    it("rewrites shorthand values: a default for the project's keys, a value for another namespace's", () => {
        const p = loadProject("name: test\nruntime: nodejs\nconfig:\n  instanceSize: t3.micro\n  count: 20\n  aws:region: us-west-2\n");
        assert.deepEqual(p.config, { instanceSize: { default: "t3.micro" }, count: { default: 20 }, "aws:region": { value: "us-west-2" } });
    });

    it("refuses a default of the wrong type, naming the full type", () => {
        assert.throws(
            () => loadProject("name: test\nconfig:\n  port:\n    type: integer\n    default: abc\n"),
            refusedWith("The default value specified for configuration key 'port' is not of the expected type 'integer'"),
        );
        assert.throws(
            () => loadProject('name: test\nconfig:\n  cidrs:\n    type: array\n    items:\n      type: string\n    default: ""\n'),
            refusedWith("The default value specified for configuration key 'cidrs' is not of the expected type 'array<string>'"),
        );
    });

    it("refuses an empty-string default for an integer or boolean key: those need a real default", () => {
        assert.throws(() => loadProject('name: test\nconfig:\n  n:\n    type: integer\n    default: ""\n'), CliError);
        assert.throws(() => loadProject('name: test\nconfig:\n  b:\n    type: boolean\n    default: ""\n'), CliError);
    });

    it('accepts the empty defaults Berth uses: "" for a string, [] for a list of strings', () => {
        const p = loadProject(
            'name: test\nconfig:\n  s:\n    type: string\n    default: ""\n  l:\n    type: array\n    items:\n      type: string\n    default: []\n',
        );
        assert.equal(declared(p.config, "s").default, "");
        assert.deepEqual(declared(p.config, "l").default, []);
    });

    it("refuses an array without items, an unknown attribute, an unknown type, and both default and value", () => {
        assert.throws(
            () => loadProject("name: test\nconfig:\n  l:\n    type: array\n"),
            refusedWith("The configuration key 'l' declares an array but does not specify the underlying type via the 'items' attribute"),
        );
        assert.throws(() => loadProject("name: test\nconfig:\n  s:\n    type: string\n    defualt: x\n"), /'defualt' not allowed/);
        assert.throws(() => loadProject("name: test\nconfig:\n  s:\n    type: number\n"), /#\/config\/s\/type/);
        assert.throws(
            () => loadProject("name: test\nconfig:\n  s:\n    default: a\n    value: b\n"),
            refusedWith("project config 's' cannot have both a 'default' and 'value' attribute"),
        );
    });

    it("refuses a type or a default on another namespace's key", () => {
        assert.throws(
            () => loadProject("name: test\nconfig:\n  aws:region:\n    type: string\n    value: x\n"),
            refusedWith("Configuration key 'aws:region' is not namespaced by the project and should not define a type"),
        );
        assert.throws(() => loadProject("name: test\nconfig:\n  aws:region:\n    default: x\n"), /should not define a default value/);
    });
});

describe("ValidateStackConfigAndApplyProjectConfig", () => {
    it("applies defaults to keys the stack does not set, and keeps the stack's values", () => {
        const merged = validate(
            "name: test\nconfig:\n  instanceSize: t3.micro\n  instanceCount: 20\n  protect: true\n",
            "config:\n  test:instanceSize: t4.large\n",
        );
        assert.deepEqual(programConfig(merged).config, {
            "test:instanceSize": "t4.large",
            "test:instanceCount": "20",
            "test:protect": "true",
        });
    });

    it("treats every declared key without a default as required, all reported at once in sorted order", () => {
        const project = "name: test\nconfig:\n  values:\n    type: string\n  world:\n    type: string\n  hello:\n    type: string\n";
        assert.throws(
            () => validate(project, "config: {}\n"),
            refusedWith("Stack 'dev' is missing configuration values 'hello', 'values' and 'world'"),
        );
        assert.throws(
            () => validate(project, "config:\n  test:hello: x\n"),
            refusedWith("Stack 'dev' is missing configuration values 'values' and 'world'"),
        );
        assert.throws(
            () => validate(project, "config:\n  test:hello: x\n  world: y\n"),
            refusedWith("Stack 'dev' is missing configuration value 'values'"),
        );
    });

    it("requires an untyped declared key too", () => {
        assert.throws(
            () => validate("name: test\nconfig:\n  a: {description: x}\n", ""),
            refusedWith("Stack 'dev' is missing configuration value 'a'"),
        );
    });

    it("refuses an array key set as a plain string", () => {
        const project = "name: test\nconfig:\n  values:\n    type: array\n    items:\n      type: string\n    default: [value]\n";
        assert.throws(
            () => validate(project, "config:\n  test:values: someValue\n"),
            refusedWith("Stack 'dev' with configuration key 'values' must be of type 'array<string>'"),
        );
        assert.deepEqual(programConfig(validate(project, "config:\n  test:values: [a, b]\n")).config, { "test:values": '["a","b"]' });
        assert.throws(() => validate(project, "config:\n  test:values: [a, 1]\n"), /must be of type 'array<string>'/);
    });

    it("checks integers as Go's strconv.Atoi does", () => {
        const project = "name: test\nconfig:\n  importantNumber:\n    type: integer\n";
        for (const good of ["20", "'20'", "'+20'", "'-3'", "'007'", "20.0"])
            validate(project, `config:\n  test:importantNumber: ${good}\n`);
        for (const bad of ["hello", "abc", "'1.5'", "1.5", "' 20'", "'1e3'", "'0x10'", "'99999999999999999999'", "''"]) {
            assert.throws(
                () => validate(project, `config:\n  test:importantNumber: ${bad}\n`),
                refusedWith("Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'"),
                bad,
            );
        }
    });

    it("checks booleans: true or false, as YAML booleans or strings", () => {
        const project = "name: test\nconfig:\n  flag:\n    type: boolean\n";
        for (const good of ["true", "false", "'true'"]) validate(project, `config:\n  test:flag: ${good}\n`);
        for (const bad of ["yes", "'True'", "1"]) {
            assert.throws(
                () => validate(project, `config:\n  test:flag: ${bad}\n`),
                refusedWith("Stack 'dev' with configuration key 'flag' must be of type 'boolean'"),
            );
        }
    });

    it("refuses a map for a string key, and accepts a number or boolean for it (stored as text)", () => {
        const project = "name: test\nconfig:\n  s:\n    type: string\n";
        assert.throws(
            () => validate(project, "config:\n  test:s: {a: b}\n"),
            refusedWith("Stack 'dev' with configuration key 's' must be of type 'string'"),
        );
        validate(project, "config:\n  test:s: 123\n");
        validate(project, "config:\n  test:s: true\n");
    });

    it("stops at the first badly typed key, in sorted order", () => {
        const project = "name: test\nconfig:\n  b:\n    type: integer\n  a:\n    type: integer\n";
        assert.throws(
            () => validate(project, "config:\n  test:a: x\n  test:b: y\n"),
            refusedWith("Stack 'dev' with configuration key 'a' must be of type 'integer'"),
        );
    });

    it("requires a secret for a key declared secret: true, and accepts an encrypted one", () => {
        const project = "name: test\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n";
        assert.throws(
            () => validate(project, "config:\n  test:importantNumber: 20\n"),
            refusedWith("Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret"),
        );
        const merged = validate(project, `config:\n  test:importantNumber:\n    secure: ${encrypt("20")}\n`);
        assert.deepEqual(programConfig(merged, decrypt), {
            config: { "test:importantNumber": "20" },
            secretKeys: ["test:importantNumber"],
        });
        assert.throws(
            () => validate(project, `config:\n  test:importantNumber:\n    secure: ${encrypt("x")}\n`),
            refusedWith("Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'"),
        );
    });

    it("refuses a secret: true key left to its default: the default is applied as a plain value", () => {
        // This is why Berth's secret keys are not declared `secret: true`.
        const project = 'name: test\nconfig:\n  password:\n    type: string\n    secret: true\n    default: ""\n';
        assert.throws(
            () => validate(project, ""),
            refusedWith("Stack 'dev' with configuration key 'password' must be encrypted as it's secret"),
        );
    });

    it("accepts a secret where a plain value is declared, and tells the program it is a secret", () => {
        const project = "name: test\nconfig:\n  name:\n    type: string\n  cidrs:\n    type: array\n    items:\n      type: string\n";
        const merged = validate(
            project,
            `config:\n  test:name:\n    secure: ${encrypt("web")}\n  test:cidrs:\n    - secure: ${encrypt("10.0.0.0/8")}\n`,
        );
        assert.deepEqual(programConfig(merged, decrypt), {
            config: { "test:name": "web", "test:cidrs": '["10.0.0.0/8"]' },
            secretKeys: ["test:cidrs", "test:name"],
        });
    });

    it("cannot read a stack holding secrets without a decrypter", () => {
        const project = loadProject("name: test\n");
        const stack = loadProjectStack(`config:\n  test:x:\n    secure: ${encrypt("y")}\n`, project);
        assert.throws(() => validateStackConfigAndApplyProjectConfig("dev", project, stack), CliError);
    });

    it("passes the empty defaults on to the program as empty text and an empty JSON list", () => {
        const project = loadProject(
            'name: test\nconfig:\n  s:\n    type: string\n    default: ""\n  l:\n    type: array\n    items:\n      type: string\n    default: []\n  n:\n    type: integer\n    default: 3000\n  b:\n    type: boolean\n    default: false\n',
        );
        const merged = validateStackConfigAndApplyProjectConfig("dev", project, stackConfigOf({}));
        assert.deepEqual(programConfig(merged), {
            config: { "test:b": "false", "test:l": "[]", "test:n": "3000", "test:s": "" },
            secretKeys: [],
        });
    });
});

describe("pulumi config set", () => {
    const project = loadProject("name: test\n");
    const run = (line: string, stack = stackConfigOf({})) => {
        configSet(stack, project, parseConfigSet(shellWords(line))!, encrypt);
        return stack;
    };

    it("stores a plain value as text, a secret as ciphertext", () => {
        assert.deepEqual([...run("pulumi config set appPort 9999")], [["test:appPort", { value: "9999", secure: false, object: false }]]);
        assert.deepEqual(
            [...run("pulumi config set --secret dbPassword hunter2")],
            [["test:dbPassword", { value: encrypt("hunter2"), secure: true, object: false }]],
        );
    });

    it("builds a list with --path, index by index", () => {
        const stack = run("pulumi config set --path 'cidrs[0]' 203.0.113.7/32");
        run("pulumi config set --path cidrs[1] 198.51.100.0/24", stack);
        assert.deepEqual(programConfig(stack).config, { "test:cidrs": '["203.0.113.7/32","198.51.100.0/24"]' });
        assert.throws(() => run("pulumi config set --path cidrs[5] x", stack), /array index out of range/);
        assert.deepEqual(programConfig(run("pulumi config set --path 'n[0]' 42")).config, { "test:n": "[42]" });
    });

    it("refuses a plain value for a key whose name looks like a secret's, unless --plaintext", () => {
        assert.throws(() => run("pulumi config set mysqlPassword hunter2"), /looks like a secret/);
        run("pulumi config set --plaintext mysqlPassword hunter2");
    });

    it("reads shell words: quotes, escapes, and refuses what it would have to expand", () => {
        assert.deepEqual(shellWords(`pulumi config set appEnv '{"A":"1"}'`), ["pulumi", "config", "set", "appEnv", '{"A":"1"}']);
        assert.deepEqual(shellWords(`a "b c" d\\ e`), ["a", "b c", "d e"]);
        assert.throws(() => shellWords("pulumi config set x $HOME"), /does not model/);
    });

    it("finds the commands of a Markdown text, code blocks and inline code, without placeholders", () => {
        const md = [
            "Set with `pulumi config set <key> <value>`, e.g. `pulumi config set --path 'a[0]' x`.",
            "```sh",
            "pulumi config set b 2 && pulumi up   # comment",
            "pulumi up",
            "```",
        ].join("\n");
        assert.deepEqual(
            configSetCommandsIn(md).map((c) => [c.block, c.command.key, c.command.value, c.command.path]),
            [
                [-1, "a[0]", "x", true],
                [1, "b", "2", false],
            ],
        );
    });
});

describe("the port's value checks", () => {
    it("Atoi: sign, digits, int64", () => {
        assert.ok(goAtoiAccepts("9223372036854775807"));
        assert.ok(!goAtoiAccepts("9223372036854775808"));
        assert.ok(goAtoiAccepts("-9223372036854775808"));
        assert.ok(!goAtoiAccepts("1_000"));
    });

    it("ValidateConfigValue: whole JSON numbers are integers, lists need an items type", () => {
        assert.ok(validateConfigValue("integer", undefined, 3));
        assert.ok(!validateConfigValue("integer", undefined, 3.5));
        assert.ok(!validateConfigValue("array", undefined, ["a"]));
        assert.ok(validateConfigValue("array", { type: "array", items: { type: "integer" } }, [[1], [2]]));
    });
});
