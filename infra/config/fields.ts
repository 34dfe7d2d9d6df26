/**
 * One reader per kind of config value. Each takes the raw string `pulumi.Config` stores (lists
 * and maps arrive JSON-encoded) and throws a `ConfigError` that names the key and the accepted form.
 */
import { RunError } from "@pulumi/pulumi";
import { distance } from "fastest-levenshtein";
import * as ipaddr from "ipaddr.js";
import { RawConfig } from "./types";

/**
 * One bad key, one line. A `pulumi.RunError`, so the Node.js language host prints the message alone,
 * without "failed with an unhandled exception" and a stack trace (@pulumi/pulumi cmd/run/run.ts,
 * the uncaught-error handler).
 */
export class ConfigError extends RunError {
    constructor(
        readonly key: string,
        readonly form: string,
        got: string | undefined,
        hint?: string,
    ) {
        super(
            (got === undefined ? `berth:${key} is required: ${form}` : `berth:${key} must be ${form}, got ${JSON.stringify(got)}`) +
                (hint === undefined ? "" : ` (${hint})`),
        );
        this.name = "ConfigError";
    }

    /** A key the program does not read. Its value is not repeated: it may be a mistyped secret. */
    static unknownKey(key: string, known: readonly string[]): ConfigError {
        const err = new ConfigError(key, `one of ${known.join(", ")}`, undefined);
        const near = nearestKey(key, known);
        err.message =
            near === undefined
                ? `berth:${key} is not a known key: the keys are ${known.join(", ")}`
                : `berth:${key} is not a known key: did you mean ${near}?`;
        return err;
    }

    /** A secret key stored in plain text. Its value is not repeated. */
    static notStoredAsSecret(key: string): ConfigError {
        const err = new ConfigError(key, "a secret", undefined);
        err.message = `berth:${key} must be stored as a secret: pulumi config set --secret ${key} <value>`;
        return err;
    }

    /** A key of the other target, set to something other than its default. Its value is not repeated. */
    static onlyForTarget(key: string, keyTarget: string, stackTarget: string): ConfigError {
        const err = new ConfigError(key, `unset with target ${stackTarget}`, undefined);
        err.message =
            `berth:${key} only applies to target ${keyTarget}, and this stack's target is ${stackTarget}: ` +
            `remove it with pulumi config rm ${key}`;
        return err;
    }

    /**
     * A key stored as a secret that reaches places which cannot hold a secret (the host's tags, resource
     * ids, the stack's outputs, resource options). Its value is not repeated.
     */
    static storedAsSecret(key: string): ConfigError {
        const err = new ConfigError(key, "a plain value", undefined);
        err.message =
            `berth:${key} is stored as a secret, but Berth shows it in plain text (tags, resource ids, stack outputs or resource options): ` +
            `set it without --secret`;
        return err;
    }

    /** A bad value described without repeating it: `detail` says what is wrong with it. */
    static withoutValue(key: string, form: string, detail?: string): ConfigError {
        const err = new ConfigError(key, form, undefined);
        err.message = `berth:${key} must be ${form}` + (detail === undefined ? "" : ` (${detail})`);
        return err;
    }

    /**
     * This error for a key stored as a secret: the value, and the hint derived from it, left out. The
     * form of every reader is a fixed text, so the message says what was expected and nothing of what was given.
     */
    redacted(): ConfigError {
        return ConfigError.withoutValue(this.key, this.form, "the value is not shown: it is stored as a secret");
    }
}

/** Every problem found at once: the message has one line per problem. */
export class ConfigErrors extends RunError {
    constructor(readonly errors: readonly RunError[]) {
        super(errors.map((e) => e.message).join("\n"));
        this.name = "ConfigErrors";
    }
}

/**
 * The known key nearest to a mistyped one, compared without case, or undefined when none is within
 * two edits. Same rule as the Pulumi CLI's suggestion for a mistyped Pulumi.yaml attribute
 * (pulumi/pulumi sdk/go/common/workspace/project.go, findClosestKey and
 * maxValidationAttributeDistance): lower-cased Levenshtein distance, at most 2, ties to the first
 * in alphabetical order.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
    let best: string | undefined;
    let bestDistance = 3;
    for (const candidate of [...known].sort()) {
        const d = distance(key.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) {
            best = candidate;
            bestDistance = d;
        }
    }
    return best;
}

function present(raw: RawConfig, key: string): string | undefined {
    const v = raw[key];
    return v === undefined || v === "" ? undefined : v;
}

/** A key's value trimmed, or undefined when unset or blank (Pulumi.yaml's "" default). */
export function trimmed(raw: RawConfig, key: string): string | undefined {
    const v = raw[key];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/**
 * Reads through `read`, or records its ConfigError through `fail` and returns `fallback`: every bad key is
 * reported at once.
 */
export function recording(fail: (e: ConfigError) => void) {
    return <T>(read: () => T, fallback: T): T => {
        try {
            return read();
        } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            fail(err);
            return fallback;
        }
    };
}

export function string(raw: RawConfig, key: string, def: string): string {
    return present(raw, key) ?? def;
}

export function optionalString(raw: RawConfig, key: string): string | undefined {
    return present(raw, key);
}

export function pattern(raw: RawConfig, key: string, re: RegExp, form: string, def: string): string;
export function pattern(raw: RawConfig, key: string, re: RegExp, form: string, def: undefined): string | undefined;
export function pattern(raw: RawConfig, key: string, re: RegExp, form: string, def: string | undefined): string | undefined {
    const v = present(raw, key);
    if (v === undefined) return def;
    if (!re.test(v)) throw new ConfigError(key, form, v);
    return v;
}

/** A value `ok` accepts, or `def` when unset. */
export function checked(raw: RawConfig, key: string, ok: (v: string) => boolean, form: string, def: string): string {
    const v = present(raw, key);
    if (v === undefined) return def;
    if (!ok(v)) throw new ConfigError(key, form, v);
    return v;
}

function parseInteger(key: string, v: string, min: number, max: number | undefined): number {
    const form = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    if (!/^-?\d+$/.test(v.trim())) throw new ConfigError(key, form, v);
    const n = Number(v.trim());
    if (!Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) throw new ConfigError(key, form, v);
    return n;
}

export function integer(raw: RawConfig, key: string, min: number, max: number, def: number): number {
    const v = present(raw, key);
    return v === undefined ? def : parseInteger(key, v, min, max);
}

const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A size in bytes, written as nginx writes sizes: bytes, or a number with k, m or g (powers of 1024, any
 * case): https://nginx.org/en/docs/syntax.html. From `min` to `max` bytes; `def` when unset.
 */
export function size(raw: RawConfig, key: string, min: number, max: number, def: number): number {
    const v = present(raw, key);
    if (v === undefined) return def;
    const m = /^([1-9][0-9]{0,9})([kmg]?)$/i.exec(v.trim());
    const bytes = m ? Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] ?? 1) : NaN;
    if (!(bytes >= min && bytes <= max)) {
        throw new ConfigError(key, `a size from ${sizeText(min)} to ${sizeText(max)}: bytes, or a number with k, m or g ("512k", "1m")`, v);
    }
    return bytes;
}

function sizeText(bytes: number): string {
    for (const unit of ["g", "m", "k"])
        if (bytes % (SIZE_UNITS[unit] as number) === 0) return `${bytes / (SIZE_UNITS[unit] as number)}${unit}`;
    return String(bytes);
}

export function requiredInteger(raw: RawConfig, key: string, min: number): number {
    const v = present(raw, key);
    if (v === undefined) {
        throw new ConfigError(key, `an integer >= ${min} (pulumi config set ${key} ${min})`, undefined);
    }
    return parseInteger(key, v, min, undefined);
}

export function boolean(raw: RawConfig, key: string, def: boolean): boolean {
    const v = present(raw, key);
    if (v === undefined) return def;
    if (v === "true") return true;
    if (v === "false") return false;
    throw new ConfigError(key, "true or false", v);
}

export function enumOf<T extends string>(raw: RawConfig, key: string, values: readonly T[], def: T): T {
    const v = present(raw, key);
    if (v === undefined) return def;
    if (!(values as readonly string[]).includes(v)) {
        throw new ConfigError(key, `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`, v);
    }
    return v as T;
}

/** MySQL user and database names: plain identifiers, so they never need quoting anywhere. */
export function identifier(raw: RawConfig, key: string, def: string, max: number): string {
    return pattern(raw, key, new RegExp(`^[A-Za-z0-9_]{1,${max}}$`), `1-${max} letters, digits or '_'`, def);
}

function parseJson(key: string, v: string, form: string): unknown {
    try {
        return JSON.parse(v);
    } catch {
        throw new ConfigError(key, form, v);
    }
}

/** A command: a JSON list of strings (exec form), or one string run by `sh -c`. */
export function command(raw: RawConfig, key: string): string[] | undefined {
    const v = present(raw, key);
    if (v === undefined) return undefined;
    const form = 'a list of strings such as ["npm", "run", "db:migrate"], or one shell command line';
    if (!v.trimStart().startsWith("[")) return ["sh", "-c", v];
    const list = parseJson(key, v, form);
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === "string" && x !== "")) {
        throw new ConfigError(key, form, v);
    }
    return list as string[];
}

/** Extra plain environment for the app: a map of NAME to string. */
export function envMap(raw: RawConfig, key: string, reserved: readonly string[]): Record<string, string> {
    const v = present(raw, key);
    if (v === undefined) return {};
    const form = `a map of environment variable names to strings, such as {"RAILS_ENV": "production"}, without ${reserved.join(", ")}`;
    // The values may be credentials: an error names the variable at fault, never a value.
    let obj: unknown;
    try {
        obj = JSON.parse(v);
    } catch {
        throw ConfigError.withoutValue(key, form, "not valid JSON");
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        throw ConfigError.withoutValue(key, form, `got ${Array.isArray(obj) ? "a list" : obj === null ? "null" : `a ${typeof obj}`}`);
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(obj as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            throw ConfigError.withoutValue(key, form, `${JSON.stringify(name)} is not a variable name`);
        }
        if (reserved.includes(name)) throw ConfigError.withoutValue(key, form, `${name} is set by Berth`);
        if (typeof value !== "string") throw ConfigError.withoutValue(key, form, `the value of ${name} is not a string`);
        out[name] = value;
    }
    return out;
}

const CIDR_FORM = 'a list of IPv4 or IPv6 CIDRs such as ["203.0.113.7/32"]';

// Dotted-quad IPv4 only: ipaddr.js also reads legacy forms, so "010.0.0.0/8" would mean 8.0.0.0/8.
export const ADDRESS_SHAPE = "([0-9a-fA-F.:]*:[0-9a-fA-F.:]*|(0|[1-9]\\d{0,2})(\\.(0|[1-9]\\d{0,2})){3})";

/** For a single address given without a prefix length: the single-host CIDR it most likely meant. */
function bareAddressHint(text: string): string | undefined {
    if (!new RegExp(`^${ADDRESS_SHAPE}$`).test(text) || !ipaddr.isValid(text)) return undefined;
    const addr = ipaddr.parse(text);
    return `did you mean ${addr.toString()}/${addr.kind() === "ipv4" ? 32 : 128}?`;
}

/** One CIDR, checked and canonical: "1.2.3.4/24" is refused in favour of "1.2.3.0/24". */
export function parseCidr(key: string, text: string, allowPublic: boolean): string {
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
        if (!new RegExp(`^${ADDRESS_SHAPE}\\/\\d{1,3}$`).test(text)) throw new Error("shape");
        parsed = ipaddr.parseCIDR(text);
    } catch {
        throw new ConfigError(key, CIDR_FORM, text, bareAddressHint(text));
    }
    const [addr, prefix] = parsed;
    const network =
        addr.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(text).toString() : ipaddr.IPv6.networkAddressFromCIDR(text).toString();
    const canonical = `${network}/${prefix}`;
    if (network !== addr.toString()) {
        throw new ConfigError(key, `CIDRs whose address is the network address (did you mean "${canonical}"?)`, text);
    }
    if (prefix === 0 && !allowPublic) {
        throw new ConfigError(
            key,
            `CIDRs narrower than the whole internet: ${canonical} opens SSH and the Docker API to everyone (set berth:allowPublicAdmin true to allow it)`,
            text,
        );
    }
    // Two halves (0.0.0.0/1 + 128.0.0.0/1) are the whole internet too: anything wider than a /8
    // (IPv4) or a /16 (IPv6) is treated as public.
    const widest = addr.kind() === "ipv4" ? 8 : 16;
    if (prefix < widest && !allowPublic) {
        throw new ConfigError(
            key,
            `CIDRs no wider than /${widest}: ${canonical} opens SSH and the Docker API to a large part of the internet (set berth:allowPublicAdmin true to allow it)`,
            text,
        );
    }
    return canonical;
}

/**
 * `undefined` when unset, or set to `[]` (Pulumi.yaml's default, which the CLI applies to every stack
 * that does not set the key): the operator's address is detected at run time instead.
 */
export function cidrList(raw: RawConfig, key: string, allowPublic: boolean): string[] | undefined {
    const v = present(raw, key);
    if (v === undefined) return undefined;
    const list = v.trimStart().startsWith("[") ? parseJson(key, v, CIDR_FORM) : [v];
    if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) {
        throw new ConfigError(key, CIDR_FORM, v);
    }
    if (list.length === 0) return undefined;
    return [...new Set(list.map((c) => parseCidr(key, c, allowPublic)))];
}
