// A small reader of nginx configuration syntax, so tests assert on directives rather than on text.
// Follows ngx_conf_read_token: words split on whitespace, ";" "{" "}" end them, "#" starts a comment,
// quoted words may hold anything with \" \' \\ escaped. Comments are dropped.

export interface Directive {
    readonly name: string;
    readonly args: string[];
    readonly block?: Directive[];
}

type Token = { readonly word: string } | { readonly punct: ";" | "{" | "}" };

function tokenize(text: string): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < text.length) {
        const c = text[i] as string;
        if (/\s/.test(c)) i++;
        else if (c === "#") i = text.includes("\n", i) ? text.indexOf("\n", i) : text.length;
        else if (c === ";" || c === "{" || c === "}") {
            tokens.push({ punct: c });
            i++;
        } else if (c === '"' || c === "'") {
            let word = "";
            for (i++; text[i] !== c; i++) {
                if (i >= text.length) throw new Error("parse: unterminated quote");
                if (text[i] === "\\" && ['"', "'", "\\"].includes(text[i + 1] ?? "")) i++;
                word += text[i];
            }
            i++;
            tokens.push({ word });
        } else {
            const m = /^[^\s;{}"'#]+/.exec(text.slice(i)) as RegExpExecArray;
            tokens.push({ word: m[0] });
            i += m[0].length;
        }
    }
    return tokens;
}

/** Parses a whole file into a directive tree; throws on unbalanced braces or a missing ";". */
export function parseNginx(text: string): Directive[] {
    const tokens = tokenize(text);
    let at = 0;
    const block = (nested: boolean): Directive[] => {
        const out: Directive[] = [];
        for (;;) {
            const t = tokens[at++];
            if (t === undefined) {
                if (nested) throw new Error("parse: missing }");
                return out;
            }
            if ("punct" in t) {
                if (t.punct === "}" && nested) return out;
                throw new Error(`parse: unexpected ${t.punct}`);
            }
            const args: string[] = [];
            for (;;) {
                const next = tokens[at++];
                if (next === undefined) throw new Error(`parse: ${t.word} not terminated`);
                if ("word" in next) args.push(next.word);
                else if (next.punct === ";") {
                    out.push({ name: t.word, args });
                    break;
                } else if (next.punct === "{") {
                    out.push({ name: t.word, args, block: block(true) });
                    break;
                } else throw new Error(`parse: unexpected } after ${t.word}`);
            }
        }
    };
    return block(false);
}

/** The directives named `name` directly inside `block`. */
export function all(block: readonly Directive[], name: string): Directive[] {
    return block.filter((d) => d.name === name);
}

/** The single directive named `name` directly inside `block`; throws when absent or repeated. */
export function one(block: readonly Directive[], name: string): Directive {
    const found = all(block, name);
    if (found.length !== 1) throw new Error(`expected one ${name}, found ${found.length}`);
    return found[0] as Directive;
}
