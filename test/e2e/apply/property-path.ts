/**
 * Pulumi's property values, paths and diffs, as the engine handles them when it plans an update.
 * Ported from pulumi/pulumi sdk/go/common/resource (properties_path.go, properties_diff.go) and
 * sdk/go/common/resource/plugin/provider.go. Pure.
 */

/** A value not known until a resource is created (the engine's computed value). */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type Value = unknown;
export type Props = Record<string, Value>;
export type Path = (string | number)[];

const isObject = (v: Value): v is Props => typeof v === "object" && v !== null && !Array.isArray(v);
/** PropertyValue.HasValue: null and absent are the same thing to the engine. */
const hasValue = (v: Value) => v !== undefined && v !== null;

/** A stable text form: object keys sorted, so two equal values give the same text. */
export function canonical(v: Value): string {
    if (v === UNKNOWN) return "<unknown>";
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (isObject(v)) {
        const keys = Object.keys(v)
            .filter((k) => hasValue(v[k]))
            .sort();
        return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
    }
    return JSON.stringify(v ?? null);
}

/** PropertyValue.DeepEquals; an unknown value equals nothing. */
export function deepEqual(a: Value, b: Value): boolean {
    if (a === UNKNOWN || b === UNKNOWN) return false;
    return canonical(a) === canonical(b);
}

export function clone<T>(v: T): T {
    if (Array.isArray(v)) return v.map(clone) as T;
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
    return v;
}

/** ParsePropertyPath (properties_path.go): `a.b[0]`, `a["k.e.y"]`, `a[*].b`. */
export function parsePath(text: string): Path {
    const out: Path = [];
    let rest = text;
    if (rest.startsWith(".")) throw new Error(`property path ${JSON.stringify(text)} starts with "."`);
    while (rest.length > 0) {
        if (rest[0] === ".") {
            rest = rest.slice(1);
            if (rest.length === 0) throw new Error(`property path ${JSON.stringify(text)} ends with "."`);
            continue;
        }
        if (rest[0] === "[") {
            const quoted = /^\["((?:\\"|[^"])*)"\]/.exec(rest);
            if (quoted?.[1] !== undefined) {
                out.push(quoted[1].replace(/\\"/g, '"'));
                rest = rest.slice(quoted[0].length);
                continue;
            }
            const index = /^\[(\*|\d+)\]/.exec(rest);
            if (!index) throw new Error(`bad index in property path ${JSON.stringify(text)}`);
            out.push(index[1] === "*" ? "*" : Number(index[1]));
            rest = rest.slice(index[0].length);
            continue;
        }
        const name = /^[^.[]+/.exec(rest)![0];
        out.push(name);
        rest = rest.slice(name.length);
    }
    return out;
}

/** PropertyPath.String(). */
export function formatPath(p: Path): string {
    return p
        .map((k, i) => {
            if (typeof k === "number") return `[${k}]`;
            if (/^[A-Za-z0-9_]+$/.test(k) || k === "*") return i === 0 ? k : `.${k}`;
            return `["${k.replace(/"/g, '\\"')}"]`;
        })
        .join("");
}

/** PropertyPath.Contains: `a[*]` contains `a[0].b`, but not `a` itself. */
export function contains(p: Path, other: Path): boolean {
    if (other.length < p.length) return false;
    return p.every((k, i) => k === "*" || k === other[i]);
}

/**
 * PropertyPath.reset: sets the value at `p` in `news` to the one in `olds` (deleting it from news
 * when olds lacks it), never creating intermediate locations or resizing arrays. False is a path
 * error (the engine then keeps the new value and says so).
 */
function reset(p: Path, olds: Value, news: Value): boolean {
    const [key, ...tail] = p;
    if (key === undefined) return false;
    if (typeof key === "number") {
        if (!Array.isArray(olds) || !Array.isArray(news)) return !Array.isArray(olds) && !Array.isArray(news);
        if (tail.length === 0) {
            if (key >= olds.length && key >= news.length) return true;
            if (key >= olds.length || key >= news.length) return false;
            news[key] = clone<Value>(olds[key]);
            return true;
        }
        if (key >= olds.length || key >= news.length) return false;
        return reset(tail, olds[key], news[key]);
    }
    if (key === "*") {
        if (tail.length === 0) {
            if (isObject(news) && isObject(olds)) {
                for (const k of Object.keys(olds)) news[k] = clone(olds[k]);
                for (const k of Object.keys(news)) if (!(k in olds)) delete news[k];
                return true;
            }
            if (Array.isArray(news) && Array.isArray(olds)) {
                for (let i = 0; i < olds.length && i < news.length; i++) news[i] = clone<Value>(olds[i]);
                return olds.length === news.length;
            }
            return isObject(news) || Array.isArray(news);
        }
        if (isObject(olds) && isObject(news)) return Object.keys(olds).every((k) => k in news && reset(tail, olds[k], news[k]));
        if (Array.isArray(olds) && Array.isArray(news)) {
            for (let i = 0; i < olds.length && i < news.length; i++) if (!reset(tail, olds[i], news[i])) return false;
            return olds.length === news.length;
        }
        return false;
    }
    if (tail.length === 0) {
        if (isObject(olds) && key in olds) {
            if (!isObject(news)) return false;
            news[key] = clone(olds[key]);
        } else if (isObject(news)) {
            delete news[key];
        }
        return true;
    }
    if (!isObject(olds) || !isObject(news)) return !isObject(olds) && !isObject(news);
    const hasOld = key in olds;
    const hasNew = key in news;
    if (hasOld && !hasNew) return false;
    if (!hasOld && !hasNew) return true;
    return reset(tail, olds[key], news[key]);
}

/**
 * pulumi/pulumi pkg/resource/deploy/step_generator.go, processIgnoreChanges: each ignored path in the
 * new inputs takes its value from the old inputs; paths that cannot be reset are reported, not fatal.
 */
export function processIgnoreChanges(inputs: Props, oldInputs: Props, ignoreChanges: string[]): { inputs: Props; invalid: string[] } {
    const out = clone(inputs);
    const invalid = ignoreChanges.filter((ic) => !reset(parsePath(ic), oldInputs, out));
    return { inputs: out, invalid };
}

export type DiffKind = "add" | "delete" | "update";

/**
 * PropertyMap.Diff turned into a detailed diff (plugin.NewDetailedDiffFromObjectDiff): one entry
 * per changed leaf path; objects and arrays are walked element by element.
 */
export function detailedDiff(olds: Props, news: Props): Map<string, DiffKind> {
    const out = new Map<string, DiffKind>();
    const walk = (prefix: Path, o: Value, n: Value) => {
        if (Array.isArray(o) && Array.isArray(n)) {
            for (let i = 0; i < Math.max(o.length, n.length); i++) {
                if (i >= o.length) out.set(formatPath([...prefix, i]), "add");
                else if (i >= n.length) out.set(formatPath([...prefix, i]), "delete");
                else walk([...prefix, i], o[i], n[i]);
            }
            return;
        }
        if (isObject(o) && isObject(n)) {
            for (const k of new Set([...Object.keys(o), ...Object.keys(n)])) {
                const path = formatPath([...prefix, k]);
                if (hasValue(o[k]) && !hasValue(n[k])) out.set(path, "delete");
                else if (!hasValue(o[k]) && hasValue(n[k])) out.set(path, "add");
                else if (hasValue(o[k])) walk([...prefix, k], o[k], n[k]);
            }
            return;
        }
        if (!deepEqual(o, n)) out.set(formatPath(prefix), "update");
    };
    walk([], olds, news);
    return out;
}

/** The top-level property a detailed-diff path belongs to ("triggers[0]" -> "triggers"). */
export function topLevel(path: string): string {
    return String(parsePath(path)[0]);
}
