/**
 * A port of how the Pulumi CLI loads the `config:` block of Pulumi.yaml, so the tests can hold
 * Pulumi.yaml to the rules of the CLI that is not installed here. Each rule names its source in
 * github.com/pulumi/pulumi (read at commit 1b5949891b3c, 2026-08-21).
 *
 * Not modelled: ESC environments, `stackConfigDir`, float shorthand values (YAML's `1.0` is a float
 * to Go and a whole number to js-yaml), and the exact wording of JSON-schema errors.
 */
import * as yaml from "js-yaml";

export interface ConfigItemsType {
    type: string;
    items?: ConfigItemsType;
}

/** sdk/go/common/workspace/project.go, ProjectConfigType. */
export interface ProjectConfigType {
    type?: string;
    description?: string;
    items?: ConfigItemsType;
    default?: unknown;
    value?: unknown;
    secret?: boolean;
}

export interface Project {
    name: string;
    config: Record<string, ProjectConfigType>;
}

/** The declaration of `key` in a project's config block, which must have one. */
export function declared<T>(config: Record<string, T>, key: string): T {
    const d = config[key];
    if (d === undefined) throw new Error(`the project declares no config key ${key}`);
    return d;
}

/** An error the CLI would print, and stop on. */
export class CliError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CliError";
    }
}

/** sdk/go/common/workspace/project.json, $defs.simpleConfigType. */
const SIMPLE_TYPES = ["string", "integer", "boolean", "array", "object"];
/** project.json, $defs.configTypeDeclaration: `additionalProperties: false`. */
const DECLARATION_ATTRIBUTES = ["type", "items", "description", "secret", "default", "value"];

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
/** YAML null and an absent attribute are both Go's nil `any`. */
const isNil = (v: unknown) => v === undefined || v === null;

/**
 * Reads Pulumi.yaml as the CLI does: sdk/go/common/workspace/loaders.go, LoadProjectBytes, which runs
 * ValidateProject (the JSON schema), then RewriteShorthandConfigValues, then Project.Validate.
 * js-yaml's core schema stands in for gopkg.in/yaml.v3 (both YAML 1.2: `yes` is a string).
 */
export function loadProject(text: string): Project {
    const raw = yaml.load(text, { schema: yaml.CORE_SCHEMA });
    validateProjectSchema(raw);
    const doc = raw as Record<string, unknown>;
    const name = doc.name as string;
    const config = rewriteShorthandConfigValues(name, isMap(doc.config) ? doc.config : {});
    const project: Project = { name, config };
    validateProject(project);
    return project;
}

/** project.go, ValidateProject: the name check, then the parts of project.json that concern `config`. */
function validateProjectSchema(raw: unknown): void {
    if (!isMap(raw)) throw new CliError("expected project to be an object");
    if (!("name" in raw)) throw new CliError("project is missing a 'name' attribute");
    if (typeof raw.name !== "string" || raw.name === "") throw new CliError("project is missing a non-empty string 'name' attribute");
    const config = raw.config;
    // project.json: "config" is an object, a string (the deprecated stack directory) or null.
    if (config === undefined || config === null || typeof config === "string") return;
    if (!isMap(config)) throw new CliError("#/config: expected object, string or null");
    for (const [key, entry] of Object.entries(config)) {
        const where = `#/config/${key}`;
        // project.json: config.properties.secret is a boolean.
        if (key === "secret") {
            if (typeof entry !== "boolean") throw new CliError(`${where}: expected boolean`);
            continue;
        }
        // project.json: config.additionalProperties is oneOf string, integer, boolean, array, configTypeDeclaration.
        if (typeof entry === "string" || typeof entry === "boolean" || Array.isArray(entry)) continue;
        if (typeof entry === "number" && Number.isInteger(entry)) continue;
        if (!isMap(entry)) throw new CliError(`${where}: oneOf failed, none matched`);
        for (const attr of Object.keys(entry)) {
            if (!DECLARATION_ATTRIBUTES.includes(attr)) throw new CliError(`${where}: additionalProperties '${attr}' not allowed`);
        }
        if ("type" in entry && !SIMPLE_TYPES.includes(entry.type as string)) {
            throw new CliError(`${where}/type: value must be one of ${SIMPLE_TYPES.map((t) => `"${t}"`).join(", ")}`);
        }
        if ("items" in entry) validateItemsSchema(`${where}/items`, entry.items);
        if ("description" in entry && typeof entry.description !== "string") throw new CliError(`${where}/description: expected string`);
        if ("secret" in entry && typeof entry.secret !== "boolean") throw new CliError(`${where}/secret: expected boolean`);
    }
}

/** project.json, $defs.configItemsType: `type` required (a simple type or a nested items type); arrays need `items`. */
function validateItemsSchema(where: string, items: unknown): void {
    if (!isMap(items)) throw new CliError(`${where}: expected object`);
    if (!("type" in items)) throw new CliError(`${where}: missing properties: 'type'`);
    if (isMap(items.type)) validateItemsSchema(`${where}/type`, items.type);
    else if (!SIMPLE_TYPES.includes(items.type as string)) throw new CliError(`${where}/type: oneOf failed, none matched`);
    if (items.type === "array" && !("items" in items)) throw new CliError(`${where}: missing properties: 'items'`);
    if ("items" in items) validateItemsSchema(`${where}/items`, items.items);
}

/** project.go, configKeyIsNamespacedByProject. */
export function isProjectKey(projectName: string, key: string): boolean {
    return !key.includes(":") || key.startsWith(`${projectName}:`);
}

/**
 * project.go, RewriteShorthandConfigValues: a string, integer, boolean or array given directly is a
 * `default` for a project key and a `value` for another namespace's key.
 */
function rewriteShorthandConfigValues(projectName: string, config: Record<string, unknown>): Record<string, ProjectConfigType> {
    const out: Record<string, ProjectConfigType> = {};
    for (const [key, v] of Object.entries(config)) {
        const shorthand =
            typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isInteger(v)) || Array.isArray(v);
        if (shorthand) out[key] = isProjectKey(projectName, key) ? { default: v } : { value: v };
        else out[key] = isMap(v) ? v : {};
    }
    return out;
}

/** project.go, Project.Validate (the config part). */
function validateProject(project: Project): void {
    for (const [key, t] of Object.entries(project.config)) {
        if (!isNil(t.default) && !isNil(t.value)) {
            throw new CliError(`project config '${key}' cannot have both a 'default' and 'value' attribute`);
        }
        if (isProjectKey(project.name, key)) {
            if (t.type === "array" && t.items === undefined) {
                throw new CliError(
                    `The configuration key '${key}' declares an array but does not specify the underlying type via the 'items' attribute`,
                );
            }
            if (t.type !== undefined && !isNil(t.default) && !validateConfigValue(t.type, t.items, t.default)) {
                throw new CliError(
                    `The default value specified for configuration key '${key}' is not of the expected type '${inferFullTypeName(t.type, t.items)}'`,
                );
            }
        } else {
            if (t.type !== undefined)
                throw new CliError(`Configuration key '${key}' is not namespaced by the project and should not define a type`);
            if (!isNil(t.default)) {
                throw new CliError(
                    `Configuration key '${key}' is not namespaced by the project and should not define a default value. ` +
                        "Did you mean to use the 'value' attribute instead of 'default'?",
                );
            }
            if (isNil(t.value)) throw new CliError(`Configuration key '${key}' is namespaced and must provide an attribute 'value'`);
        }
    }
}

/** project.go, InferFullTypeName. */
export function inferFullTypeName(typeName: string, items: ConfigItemsType | undefined): string {
    return items ? `array<${inferFullTypeName(items.type, items.items)}>` : typeName;
}

/** Go's strconv.Atoi on a 64-bit machine: optional sign, base-10 digits, within int64; no spaces. */
export function goAtoiAccepts(text: string): boolean {
    if (!/^[+-]?[0-9]+$/.test(text)) return false;
    const n = BigInt(text);
    return n >= -(2n ** 63n) && n <= 2n ** 63n - 1n;
}

/**
 * project.go, ValidateConfigValue: used for Pulumi.yaml defaults and for stack values alike.
 * `value` is what YAML or JSON decoding gives (a JSON number is a float64 in Go; whole ones pass as integers).
 */
export function validateConfigValue(typeName: string, items: ConfigItemsType | undefined, value: unknown): boolean {
    switch (typeName) {
        case "string":
            return typeof value === "string";
        case "integer":
            if (typeof value === "number") return Number.isInteger(value);
            return typeof value === "string" && goAtoiAccepts(value);
        case "boolean":
            return typeof value === "boolean" || value === "true" || value === "false";
        case "object":
            return isMap(value);
        default:
            // "array", and any other name: a list whose items all have the items type.
            if (!Array.isArray(value) || items === undefined) return false;
            return value.every((item) => validateConfigValue(items.type, items.items, item));
    }
}
