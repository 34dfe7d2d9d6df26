/**
 * Just enough of systemd's unit file syntax to assert on what we ship: sections, repeated keys,
 * comments. Anything else (a stray line) throws, so a malformed unit cannot pass unnoticed.
 * https://www.freedesktop.org/software/systemd/man/latest/systemd.syntax.html
 */
export type Unit = Record<string, Record<string, string[]>>;

export function parseUnit(text: string): Unit {
    const unit: Unit = {};
    let section: Record<string, string[]> | undefined;
    text.split("\n").forEach((line, i) => {
        const trimmed = line.trim();
        if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) return;
        const header = /^\[([A-Za-z]+)\]$/.exec(trimmed);
        if (header) {
            section = unit[header[1]!] ??= {};
            return;
        }
        const entry = /^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$/.exec(trimmed);
        if (!entry || !section) throw new Error(`unit line ${i + 1} is not "Key=value" in a section: ${line}`);
        (section[entry[1]!] ??= []).push(entry[2]!);
    });
    return unit;
}

/** The single value of `key` in `section`; throws when it is missing or repeated. */
export function value(unit: Unit, section: string, key: string): string {
    const values = unit[section]?.[key] ?? [];
    if (values.length !== 1) throw new Error(`[${section}] ${key}: expected one value, got ${JSON.stringify(values)}`);
    return values[0]!;
}

/**
 * The assignments of an `Environment=` value: space-separated words, each optionally in double
 * quotes (systemd.exec(5) "Environment=").
 */
export function environment(raw: string): Record<string, string> {
    const out: Record<string, string> = {};
    const word = /"[^"]*"|[^\s"]+/g;
    if (raw.replace(word, "").trim() !== "") throw new Error(`unbalanced quotes: ${raw}`);
    const words = raw.match(word) ?? [];
    for (const word of words) {
        const text = word.startsWith('"') ? word.slice(1, -1) : word;
        const eq = text.indexOf("=");
        if (eq <= 0) throw new Error(`not NAME=value: ${word}`);
        out[text.slice(0, eq)] = text.slice(eq + 1);
    }
    return out;
}
