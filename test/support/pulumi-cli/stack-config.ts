/**
 * A port of the Pulumi CLI's stack configuration: how Pulumi.<stack>.yaml is read, how the project's
 * defaults are applied and the stack's values checked before `pulumi up` runs the program, and what
 * the program then receives. Sources in github.com/pulumi/pulumi at commit 1b5949891b3c.
 *
 * Not modelled: ESC environments (merged first by mergeConfig), `--config-file`, and config keys whose
 * name is a property path (Map.Get parses `a.b` and `a[0]` as paths: Berth's keys are identifiers).
 */
import * as yaml from "js-yaml";
import { CliError, declared, isProjectKey, inferFullTypeName, Project, validateConfigValue } from "./project";

/**
 * sdk/go/common/resource/config/value.go, Value: the stored text; a secret holds the ciphertext; an
 * object (a list or map) holds JSON, with secrets inside as {"secure": ciphertext}.
 */
export interface StackValue {
    readonly value: string;
    readonly secure: boolean;
    readonly object: boolean;
}

/** config.Map: full key ("berth:appPort") to value. */
export type StackConfig = ReadonlyMap<string, StackValue>;

/** Decrypts one ciphertext. The port's tests use base64, like config.Base64Crypter. */
export type Decrypt = (ciphertext: string) => string;

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** config/object.go, isSecureValue: a map with the single string attribute `secure`. */
function isSecure(v: unknown): v is { secure: string } {
    return isMap(v) && Object.keys(v).length === 1 && typeof v.secure === "string";
}

/** config/object.go, object.MarshalString (after unmarshalObject): what a YAML or JSON value is stored as. */
export function stackValueOf(v: unknown): StackValue {
    if (typeof v === "boolean" || typeof v === "number") return { value: JSON.stringify(v), secure: false, object: false };
    if (typeof v === "string") return { value: v, secure: false, object: false };
    if (isSecure(v)) return { value: v.secure, secure: true, object: false };
    // Lists, maps and null: JSON, secure when any secret is inside.
    return { value: JSON.stringify(v ?? null), secure: containsSecure(v), object: true };
}

function containsSecure(v: unknown): boolean {
    if (isSecure(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecure);
    if (isMap(v)) return Object.values(v).some(containsSecure);
    return false;
}

/** Dev helper: build a stack from plain key → value pairs, as they would appear in Pulumi.<stack>.yaml. */
export function stackConfigOf(entries: Record<string, unknown>): Map<string, StackValue> {
    return new Map(Object.entries(entries).map(([k, v]) => [k, stackValueOf(v)]));
}

/**
 * sdk/go/common/workspace/loaders.go, LoadProjectStackBytes: an empty file is an empty config; keys
 * without a namespace get the project's (stackConfigNamespacedWithProject).
 */
export function loadProjectStack(text: string, project: Project): Map<string, StackValue> {
    const doc = yaml.load(text, { schema: yaml.CORE_SCHEMA });
    const out = new Map<string, StackValue>();
    if (doc === undefined || doc === null) return out;
    if (!isMap(doc)) throw new CliError(`expected project to be an object, was '${typeof doc}'`);
    const config = isMap(doc.config) ? doc.config : {};
    for (const [key, v] of Object.entries(config)) {
        out.set(key.includes(":") ? key : `${project.name}:${key}`, stackValueOf(v));
    }
    return out;
}

/** config/value.go, Value.Value: the plaintext text, secrets inside objects decrypted. */
export function plaintextOf(v: StackValue, decrypt: Decrypt | undefined): string {
    if (!v.secure) return v.value;
    if (decrypt === undefined) throw new CliError("failed to decrypt config: no decrypter (set PULUMI_CONFIG_PASSPHRASE)");
    if (!v.object) return decrypt(v.value);
    const reveal = (x: unknown): unknown => {
        if (isSecure(x)) return decrypt(x.secure);
        if (Array.isArray(x)) return x.map(reveal);
        if (isMap(x)) return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, reveal(y)]));
        return x;
    };
    return JSON.stringify(reveal(JSON.parse(v.value)));
}

/** pkg/workspace/config.go, createConfigValue: how a project default becomes a stack value. */
function createConfigValue(raw: unknown): StackValue {
    // isPrimitiveValue: Go's string, int and bool are printed with %v; anything else is JSON.
    if (typeof raw === "string" || typeof raw === "boolean" || (typeof raw === "number" && Number.isInteger(raw))) {
        return { value: String(raw), secure: false, object: false };
    }
    return { value: JSON.stringify(raw), secure: false, object: true };
}

/** pkg/workspace/config.go, formatMissingKeys and missingStackConfigurationKeysError. */
function missingKeysError(keys: string[], stackName: string): CliError {
    const sorted = [...keys].sort();
    const quoted = sorted.map((k) => `'${k}'`);
    const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} and ${quoted[quoted.length - 1]}`;
    return new CliError(`Stack '${stackName}' is missing configuration ${keys.length > 1 ? "values" : "value"} ${list}`);
}

/** pkg/workspace/config.go, parseConfigKey: a key without a namespace is the project's. */
function fullKey(projectName: string, key: string): string {
    const full = key.includes(":") ? key : `${projectName}:${key}`;
    if (!/^[^:]+:[A-Za-z_][A-Za-z0-9_-]*$/.test(full)) throw new Error(`the port does not model the path key ${full}`);
    return full;
}

/** Go's sort.Strings: byte order. */
const goSorted = (keys: Iterable<string>) => [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * pkg/workspace/config.go, ValidateStackConfigAndApplyProjectConfig (mergeConfig with validate=true,
 * then validateStackConfigValues and validateStackConfigValue), as `pulumi up` and `pulumi preview` run
 * it (pkg/cmd/pulumi/operations/up.go) with the stack's decrypter. Returns the merged config; throws
 * the CLI's error, which stops the command before the program runs.
 */
export function validateStackConfigAndApplyProjectConfig(
    stackName: string,
    project: Project,
    stack: StackConfig,
    decrypt?: Decrypt,
): Map<string, StackValue> {
    const merged = new Map(stack);
    const missing: string[] = [];
    // The project's keys in sorted order; a declared key absent from the stack is required unless it
    // has a `default` (or a `value`), and only when the project owns its namespace.
    for (const key of goSorted(Object.keys(project.config))) {
        const t = declared(project.config, key);
        const full = fullKey(project.name, key);
        const hasDefault = t.default !== undefined && t.default !== null;
        const hasValue = t.value !== undefined && t.value !== null;
        if (merged.has(full)) continue;
        if (!hasDefault && !hasValue && isProjectKey(project.name, full)) {
            missing.push(key);
            continue;
        }
        // The default wins over a value when both are there (Project.Validate refuses that anyway).
        if (hasDefault || hasValue) merged.set(full, createConfigValue(hasDefault ? t.default : t.value));
    }
    // All missing keys in one error, before any type check.
    if (missing.length > 0) throw missingKeysError(missing, stackName);

    // validateStackConfigValues: first decrypt everything (Map.Decrypt), then check each typed key in
    // sorted order and stop at the first bad one.
    for (const v of merged.values()) plaintextOf(v, decrypt);
    for (const key of goSorted(Object.keys(project.config))) {
        const t = declared(project.config, key);
        if (t.type === undefined) continue;
        const v = merged.get(fullKey(project.name, key)) ?? { value: "", secure: false, object: false };
        // validateStackConfigValue: a key declared `secret: true` must hold a secret, even when the
        // value is the default the loop above just applied (createConfigValue is never secure).
        if (t.secret === true && !v.secure) {
            throw new CliError(`Stack '${stackName}' with configuration key '${key}' must be encrypted as it's secret`);
        }
        const text = plaintextOf(v, decrypt);
        const content: unknown = v.object ? JSON.parse(text) : text;
        if (!validateConfigValue(t.type, t.items, content)) {
            throw new CliError(
                `Stack '${stackName}' with configuration key '${key}' must be of type '${inferFullTypeName(t.type, t.items)}'`,
            );
        }
    }
    return merged;
}

/**
 * What the program receives: pkg/resource/deploy/source_eval.go, evalSource.Iterate decrypts the whole
 * config (config.Map.Decrypt) and passes the keys holding secrets (config.Map.SecureKeys); the Node.js
 * SDK then serves them from `pulumi.runtime.allConfig()`.
 */
export function programConfig(merged: StackConfig, decrypt?: Decrypt): { config: Record<string, string>; secretKeys: string[] } {
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [k, v] of merged) {
        config[k] = plaintextOf(v, decrypt);
        if (v.secure) secretKeys.push(k);
    }
    return { config, secretKeys: goSorted(secretKeys) };
}
