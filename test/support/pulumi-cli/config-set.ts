/**
 * A port of `pulumi config set` (github.com/pulumi/pulumi at commit 1b5949891b3c), and a reader of
 * the `pulumi config set` commands a Markdown file tells people to run, so tests can follow the README.
 */
import { CliError, Project } from "./project";
import { StackValue, stackValueOf } from "./stack-config";

export interface ConfigSetCommand {
    key: string;
    value: string;
    path: boolean;
    secret: boolean;
    plaintext: boolean;
    type: string | undefined;
}

/**
 * pkg/cmd/pulumi/config/config.go, looksLikeSecret's key test (keyPattern). The CLI then refuses a
 * plain value only when its zxcvbn entropy is high; this port refuses every plain value for such a
 * key, so it is stricter than the CLI, never looser.
 */
const SECRET_LOOKING_KEY = /passwd|pass|password|pwd|secret|token/i;

/** The arguments of `pulumi config set` (newConfigSetCmd's flags), or undefined for another command. */
export function parseConfigSet(words: readonly string[]): ConfigSetCommand | undefined {
    if (words[0] !== "pulumi" || words[1] !== "config" || words[2] !== "set") return undefined;
    const cmd: ConfigSetCommand = { key: "", value: "", path: false, secret: false, plaintext: false, type: undefined };
    const args: string[] = [];
    for (let i = 3; i < words.length; i++) {
        const w = words[i];
        if (w === undefined) break;
        if (w === "--path") cmd.path = true;
        else if (w === "--secret") cmd.secret = true;
        else if (w === "--plaintext") cmd.plaintext = true;
        else if (w === "--type") cmd.type = words[++i];
        else if (w.startsWith("--type=")) cmd.type = w.slice("--type=".length);
        else if (w.startsWith("-")) throw new Error(`the port does not model the flag ${w}`);
        else args.push(w);
    }
    // cobra.RangeArgs(1, 2); the value is read from stdin when missing, which a README line cannot do.
    const [key, value] = args;
    if (args.length !== 2 || key === undefined || value === undefined)
        throw new Error(`pulumi config set takes a key and a value here, got ${JSON.stringify(args)}`);
    if ([cmd.secret, cmd.plaintext, cmd.type !== undefined].filter(Boolean).length > 1) {
        // setCmd.MarkFlagsMutuallyExclusive("secret", "plaintext", "type")
        throw new CliError("if any flags in the group [secret plaintext type] are set none of the others can be");
    }
    cmd.key = key;
    cmd.value = value;
    return cmd;
}

/** config/object.go, coerce: "true"/"false" and base-10 integers without a leading zero. */
function coerce(v: string): unknown {
    if (v === "true") return true;
    if (v === "false") return false;
    if (v.length > 1 && v[0] === "0") return v;
    if (/^[+-]?[0-9]+$/.test(v)) {
        const n = BigInt(v);
        if (n >= -(2n ** 63n) && n <= 2n ** 64n - 1n) return Number(n);
    }
    return v;
}

/**
 * pkg/cmd/pulumi/config/config.go, configSetCmd.Run, then config/map.go, Map.Set. `encrypt` turns a
 * plaintext into the stack's ciphertext. Paths: only `name[N]` (config/object.go, object.Set: N may be
 * the list's length, which appends).
 */
export function configSet(
    stack: Map<string, StackValue>,
    project: Project,
    cmd: ConfigSetCommand,
    encrypt: (plain: string) => string,
): void {
    // parseConfigKey (io.go): with --path, the namespace comes from the segment before "[" or ".".
    const cut = cmd.path ? cmd.key.search(/[[.]/) : -1;
    const top = cut > 0 ? cmd.key.slice(0, cut) : cmd.key;
    const rest = cut > 0 ? cmd.key.slice(cut) : "";
    const full = top.includes(":") ? top : `${project.name}:${top}`;
    if (!/^[^:]+:[A-Za-z_][A-Za-z0-9_-]*$/.test(full)) throw new Error(`the port does not model the key ${cmd.key}`);

    let value: StackValue;
    if (cmd.secret) {
        value = { value: encrypt(cmd.value), secure: true, object: false };
    } else {
        if (cmd.type !== undefined && !["string", "int", "bool", "float"].includes(cmd.type)) {
            throw new CliError(`invalid type "${cmd.type}"; must be one of string, int, bool, or float`);
        }
        if (!cmd.plaintext && SECRET_LOOKING_KEY.test(full.slice(full.indexOf(":") + 1))) {
            throw new CliError(
                `config value for '${full}' looks like a secret; rerun with --secret to encrypt it, or --plaintext if you meant to store in plaintext`,
            );
        }
        value = { value: cmd.value, secure: false, object: false };
    }
    if (rest === "") {
        stack.set(full, value);
        return;
    }

    const m = /^\[(\d+)\]$/.exec(rest);
    if (!m) throw new Error(`the port does not model the path ${cmd.key}`);
    const index = Number(m[1]);
    // Value.coerceObject: a secret stays a ciphertext, a typed value keeps its type, the rest is coerced.
    const element: unknown = cmd.secret ? { secure: value.value } : cmd.type === "string" ? cmd.value : coerce(cmd.value);
    const existing = stack.get(full);
    // object.Set: a top-level value that is not a list becomes one (the COMPAT branch).
    const root: unknown = existing?.object ? JSON.parse(existing.value) : [];
    const list = Array.isArray(root) ? [...(root as unknown[])] : [];
    if (index > list.length) throw new CliError(`[${top} ${index}]: array index out of range`);
    list[index] = element;
    stack.set(full, stackValueOf(list));
}

/**
 * POSIX shell words of one simple command: bare words, '...' and "..." (without $ or `), and
 * backslash escapes outside quotes. Anything else (variables, substitutions) is refused.
 */
export function shellWords(line: string): string[] {
    const words: string[] = [];
    let word: string | undefined;
    for (let i = 0; i < line.length; i++) {
        const c = line.charAt(i);
        if (c === " " || c === "\t") {
            if (word !== undefined) words.push(word);
            word = undefined;
        } else if (c === "'") {
            const end = line.indexOf("'", i + 1);
            if (end === -1) throw new Error(`unterminated ' in: ${line}`);
            word = (word ?? "") + line.slice(i + 1, end);
            i = end;
        } else if (c === '"') {
            const end = line.indexOf('"', i + 1);
            if (end === -1) throw new Error(`unterminated " in: ${line}`);
            const inner = line.slice(i + 1, end);
            if (/[$`\\]/.test(inner)) throw new Error(`the reader does not expand "${inner}"`);
            word = (word ?? "") + inner;
            i = end;
        } else if (c === "\\") {
            word = (word ?? "") + (line[++i] ?? "");
        } else if (/[$`|;&<>(){}*?#]/.test(c)) {
            throw new Error(`the reader does not model ${JSON.stringify(c)} in: ${line}`);
        } else {
            word = (word ?? "") + c;
        }
    }
    if (word !== undefined) words.push(word);
    return words;
}

/**
 * Every `pulumi config set` command a Markdown text shows, in order, each with the words the shell
 * would pass: lines of fenced code blocks and inline code spans, split at `&&`, comments dropped.
 * Commands with placeholders (`<key> <value>`) are left out: they are not meant to be run as written.
 */
export function configSetCommandsIn(markdown: string): { source: string; block: number; command: ConfigSetCommand }[] {
    const out: { source: string; block: number; command: ConfigSetCommand }[] = [];
    const snippets: { text: string; block: number }[] = [];
    let block = 0;
    let inFence = false;
    for (const line of markdown.split("\n")) {
        if (line.startsWith("```")) {
            inFence = !inFence;
            block++;
            continue;
        }
        if (inFence) snippets.push({ text: line, block });
        else for (const m of line.matchAll(/`([^`]+)`/g)) snippets.push({ text: m[1] ?? "", block: -1 });
    }
    for (const { text, block: b } of snippets) {
        const code = text.replace(/(^|\s)#.*$/, "");
        for (const part of code.split("&&")) {
            const source = part.trim();
            if (!source.startsWith("pulumi config set") || /<[a-z-]+>/i.test(source)) continue;
            const command = parseConfigSet(shellWords(source));
            if (command) out.push({ source, block: b, command });
        }
    }
    return out;
}
