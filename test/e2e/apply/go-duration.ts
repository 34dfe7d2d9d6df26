/**
 * Go's duration text, both ways: the Docker provider parses what the program gives with
 * `time.ParseDuration` and writes back what the engine reports with `time.Duration.String()`
 * (kreuzwerker/terraform-provider-docker internal/provider/resource_docker_container_funcs.go,
 * resourceDockerContainerCreate and resourceDockerContainerRead). Pure.
 */

const UNITS = {
    ns: 1n,
    us: 1_000n,
    "\u00b5s": 1_000n, // micro sign
    "\u03bcs": 1_000n, // Greek mu
    ms: 1_000_000n,
    s: 1_000_000_000n,
    m: 60_000_000_000n,
    h: 3_600_000_000_000n,
} satisfies Record<string, bigint>;

/** The nanoseconds in one `name`, or undefined for a name Go does not know. */
const unitOf = (name: string): bigint | undefined => (Object.hasOwn(UNITS, name) ? UNITS[name as keyof typeof UNITS] : undefined);

/** Go's time.ParseDuration (src/time/format.go): "120s", "1m30s", "1.5h", "-250ms"; "0" alone. */
export function parseGoDuration(text: string): bigint {
    const fail = () => new Error(`not a Go duration: ${JSON.stringify(text)}`);
    let rest = text;
    let sign = 1n;
    if (rest.startsWith("-") || rest.startsWith("+")) {
        if (rest[0] === "-") sign = -1n;
        rest = rest.slice(1);
    }
    if (rest === "0") return 0n;
    if (rest === "") throw fail();
    let total = 0n;
    const re = /^(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]+)/;
    while (rest.length > 0) {
        const m = re.exec(rest);
        if (!m || (m[1] === "" && (m[2] ?? "") === "")) throw fail();
        const unit = unitOf(m[3] ?? "");
        if (unit === undefined) throw fail();
        const frac = m[2] ?? "";
        total += BigInt(m[1] || "0") * unit;
        if (frac !== "") total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
        rest = rest.slice(m[0].length);
    }
    return sign * total;
}

/** Writes v/10^prec's fraction without trailing zeros (Go's fmtFrac). */
function frac(v: bigint, prec: number): { text: string; rest: bigint } {
    let digits = "";
    let printed = false;
    for (let i = 0; i < prec; i++) {
        const d = v % 10n;
        printed ||= d !== 0n;
        if (printed) digits = `${d}${digits}`;
        v /= 10n;
    }
    return { text: printed ? `.${digits}` : "", rest: v };
}

/** Go's time.Duration.String() (src/time/time.go): 120s -> "2m0s", 1.5s -> "1.5s", 0 -> "0s". */
export function goDurationString(ns: bigint): string {
    if (ns === 0n) return "0s";
    const neg = ns < 0n;
    let u = neg ? -ns : ns;
    let out: string;
    if (u < UNITS.s) {
        // Below a second Go switches to a smaller unit, like 1.2ms.
        const [prec, unit] = u < UNITS.us ? [0, "ns"] : u < UNITS.ms ? [3, "\u00b5s"] : [6, "ms"];
        const f = frac(u, prec);
        out = `${f.rest}${f.text}${unit}`;
    } else {
        const f = frac(u, 9);
        u = f.rest;
        out = `${u % 60n}${f.text}s`;
        u /= 60n;
        if (u > 0n) {
            out = `${u % 60n}m${out}`;
            u /= 60n;
            // Go stops at hours: days differ in length.
            if (u > 0n) out = `${u}h${out}`;
        }
    }
    return neg ? `-${out}` : out;
}

/** What the provider writes back for a duration the program gave: parse, then String(). */
export function canonicalGoDuration(text: string): string {
    return goDurationString(parseGoDuration(text));
}
