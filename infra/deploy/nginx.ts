import { isIP } from "node:net";

/**
 * Inputs of the nginx front's `conf.d/default.conf`. Durations use nginx's syntax with an explicit unit
 * ("500ms", "5s", "1m", "1h"); sizes use nginx's ("512k", "10m", "1g").
 */
export interface NginxConfigOptions {
    /** Network alias shared by every app version, resolved per request. Required. */
    readonly appHost: string;
    /** Port the app listens on inside its container. Required. */
    readonly appPort: number;
    /** Port nginx listens on, IPv4 and IPv6. Default 80. */
    readonly listenPort?: number;
    /** Also listen on `[::]` (off only for a host whose kernel has no IPv6). Default true. */
    readonly listenIpv6?: boolean;
    /** `server_name`: a host name, `*.`-wildcard or "_" for any. Default "_". */
    readonly serverName?: string;
    /** DNS server, "IP" or "IP:port" (IPv6 in brackets). Default "127.0.0.11", Docker's embedded DNS. */
    readonly resolver?: string;
    /** How long nginx trusts an answer, overriding its TTL (Docker says 600s). Default "1s". */
    readonly resolverValid?: string;
    /** `resolver_timeout`: how long a request waits for the DNS. Default "5s". */
    readonly resolverTimeout?: string;
    /** `client_max_body_size`: larger request bodies get 413. Default "10m". */
    readonly clientMaxBodySize?: string;
    /** `proxy_connect_timeout`. Default "5s". */
    readonly connectTimeout?: string;
    /** `proxy_read_timeout`: longest silence while reading the app's response. Default "60s". */
    readonly readTimeout?: string;
    /** `proxy_send_timeout`: longest stall while sending the request to the app. Default "60s". */
    readonly sendTimeout?: string;
    /** `proxy_next_upstream_tries`: attempts per request, the first included. Default 3. */
    readonly nextUpstreamTries?: number;
    /** `proxy_next_upstream_timeout`: no retry once a request is older than this. Default "10s". */
    readonly nextUpstreamTimeout?: string;
}

/** One node of an nginx configuration: a directive (with a block or not) or a comment line. */
export type NginxNode =
    { readonly name: string; readonly args?: readonly string[]; readonly block?: readonly NginxNode[] } | { readonly comment: string };

const DEFAULTS = {
    listenPort: 80,
    listenIpv6: true,
    serverName: "_",
    resolver: "127.0.0.11",
    // Short: a deleted container's address stays in nginx's cache this long, and connecting to an address
    // nobody owns any more takes seconds (ARP) instead of a refusal. One query a second costs nothing.
    resolverValid: "1s",
    resolverTimeout: "5s",
    clientMaxBodySize: "10m",
    // On the host's bridge a live app accepts in well under a millisecond; a dead address found in the
    // DNS cache must cost little before the next one is tried (e2e: a 5 s value gave 504s on a switch).
    connectTimeout: "1s",
    readTimeout: "60s",
    sendTimeout: "60s",
    // Old, hung and new containers can all hold the alias for a moment: room to get past two dead ones.
    nextUpstreamTries: 4,
    nextUpstreamTimeout: "10s",
} as const;

/** Access log format: the default "combined" plus which app address(es) answered, so retries show. */
const LOG_FORMAT =
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ' +
    '"$http_referer" "$http_user_agent" upstream="$upstream_addr" ' +
    'upstream_status="$upstream_status" request_time=$request_time';

/** Renders `/etc/nginx/conf.d/default.conf` for the official nginx image (included inside `http {}`). */
export function renderNginxConfig(opts: NginxConfigOptions): string {
    return serializeNginxConfig(nginxConfigNodes(opts));
}

/** The structure behind {@link renderNginxConfig}; every option validated. */
function nginxConfigNodes(opts: NginxConfigOptions): NginxNode[] {
    const o = validate(opts);
    const listen = (address: string): NginxNode => ({ name: "listen", args: [address, "default_server"] });
    const resolver = [o.resolver, `valid=${o.resolverValid}`, "ipv6=off"];
    return [
        { comment: "Rendered by Berth (infra/deploy/nginx.ts): edit the options, not this file." },
        { name: "log_format", args: ["berth", LOG_FORMAT] },
        {
            name: "server",
            block: [
                listen(String(o.listenPort)),
                ...(o.listenIpv6 ? [listen(`[::]:${o.listenPort}`)] : []),
                { name: "server_name", args: [o.serverName] },
                { name: "server_tokens", args: ["off"] },
                { name: "access_log", args: ["/dev/stdout", "berth"] },
                { name: "client_max_body_size", args: [o.clientMaxBodySize] },
                { comment: "Docker's DNS answers with every container carrying the alias (old and new during a deploy)." },
                { comment: "IPv6 off: the app network is IPv4, an AAAA query would only add a round trip." },
                { name: "resolver", args: resolver },
                { name: "resolver_timeout", args: [o.resolverTimeout] },
                {
                    name: "location",
                    args: ["/"],
                    block: [
                        { comment: "A variable makes nginx resolve the alias per request (cached `valid`) instead of once at" },
                        { comment: "start; each address becomes a peer of the request's implicit upstream." },
                        { comment: "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass" },
                        { name: "set", args: ["$berth_app", `http://${o.appHost}:${o.appPort}`] },
                        { name: "proxy_pass", args: ["$berth_app"] },
                        { comment: "Refused, reset, timed out or 502/503 (the old container stopping): try the next address." },
                        { comment: "nginx never resends a non-idempotent request (POST...) the app may have received." },
                        { comment: "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream" },
                        { name: "proxy_next_upstream", args: ["error", "timeout", "http_502", "http_503"] },
                        { name: "proxy_next_upstream_tries", args: [String(o.nextUpstreamTries)] },
                        { name: "proxy_next_upstream_timeout", args: [o.nextUpstreamTimeout] },
                        { name: "proxy_connect_timeout", args: [o.connectTimeout] },
                        { name: "proxy_read_timeout", args: [o.readTimeout] },
                        { name: "proxy_send_timeout", args: [o.sendTimeout] },
                        { name: "proxy_http_version", args: ["1.1"] },
                        { name: "proxy_set_header", args: ["Connection", ""] },
                        { comment: "The client's Host as sent (with its port), like the original deployment." },
                        { name: "proxy_set_header", args: ["Host", "$http_host"] },
                        { name: "proxy_set_header", args: ["X-Real-IP", "$remote_addr"] },
                        { name: "proxy_set_header", args: ["X-Forwarded-For", "$proxy_add_x_forwarded_for"] },
                        { name: "proxy_set_header", args: ["X-Forwarded-Proto", "$scheme"] },
                        { comment: "The app's own error pages reach the client unchanged." },
                        { name: "proxy_intercept_errors", args: ["off"] },
                    ],
                },
            ],
        },
    ];
}

/** Serializes nodes to nginx syntax: 4-space indent, arguments quoted when they are not plain words. */
export function serializeNginxConfig(nodes: readonly NginxNode[]): string {
    return lines(nodes, "").join("\n") + "\n";
}

function lines(nodes: readonly NginxNode[], pad: string): string[] {
    const out: string[] = [];
    let prev: NginxNode | undefined;
    for (const node of nodes) {
        // A blank line opens each group: comment lines, or a block after a plain directive.
        if (prev !== undefined && !("comment" in prev) && ("comment" in node || node.block !== undefined)) out.push("");
        prev = node;
        if ("comment" in node) {
            if (/[\x00-\x1f\x7f]/.test(node.comment)) throw new Error("nginx: a comment must be a single line");
            out.push(`${pad}# ${node.comment}`);
            continue;
        }
        if (!/^[a-z_][a-z0-9_]*$/.test(node.name)) throw new Error(`nginx: bad directive name ${JSON.stringify(node.name)}`);
        const head = [node.name, ...(node.args ?? []).map(quote)].join(" ");
        if (node.block === undefined) {
            out.push(`${pad}${head};`);
        } else {
            out.push(`${pad}${head} {`, ...lines(node.block, pad + "    "), `${pad}}`);
        }
    }
    return out;
}

/**
 * Plain words stay bare; anything else is quoted, single quotes when it holds a double one, with the quote
 * and `\` escaped. https://nginx.org/en/docs/beginners_guide.html#conf_structure
 */
function quote(arg: string): string {
    if (/[\x00-\x1f\x7f]/.test(arg)) throw new Error(`nginx: control character in argument ${JSON.stringify(arg)}`);
    if (/^[A-Za-z0-9_$.:/\[\]=@*+,-]+$/.test(arg)) return arg;
    const q = arg.includes('"') && !arg.includes("'") ? "'" : '"';
    return q + arg.replace(q === "'" ? /[\\']/g : /[\\"]/g, (c) => `\\${c}`) + q;
}

type Resolved = Required<NginxConfigOptions>;

const PORT = "an integer from 1 to 65535";
const DURATION = `a positive duration with a unit: "500ms", "5s", "1m", "1h"`;

/** Per option: the test its value must pass and the accepted form the error names. Typed: none missing. */
const RULES: { readonly [K in keyof Resolved]: readonly [(v: unknown) => boolean, string] } = {
    appHost: [isHostName, "a DNS name: dot-separated labels of letters, digits, '-' and '_'"],
    appPort: [isPort, PORT],
    listenPort: [isPort, PORT],
    listenIpv6: [(v) => typeof v === "boolean", "true or false"],
    serverName: [(v) => v === "_" || (typeof v === "string" && isHostName(v.replace(/^\*\./, ""))), `"_", a host name or "*.domain"`],
    resolver: [isResolver, `an IP address with an optional port: "127.0.0.11", "10.0.0.2:53", "[::1]:53"`],
    resolverValid: [isDuration, DURATION],
    resolverTimeout: [isDuration, DURATION],
    clientMaxBodySize: [(v) => typeof v === "string" && /^[1-9][0-9]{0,8}[kKmMgG]?$/.test(v), `a positive size: "512k", "10m", "1g"`],
    connectTimeout: [isDuration, DURATION],
    readTimeout: [isDuration, DURATION],
    sendTimeout: [isDuration, DURATION],
    nextUpstreamTries: [(v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 100, "an integer from 1 to 100"],
    nextUpstreamTimeout: [isDuration, DURATION],
};

function validate(opts: NginxConfigOptions): Resolved {
    if (typeof opts !== "object" || opts === null) throw new Error("nginx: options must be an object");
    for (const key of Object.keys(opts)) {
        if (!Object.hasOwn(RULES, key)) throw new Error(`nginx: unknown option "${key}"`);
    }
    const merged = { ...DEFAULTS, ...stripUndefined(opts) };
    if (merged.appHost === undefined) throw new Error("nginx: appHost is required");
    if (merged.appPort === undefined) throw new Error("nginx: appPort is required");
    const o: Resolved = { ...merged, appHost: merged.appHost, appPort: merged.appPort };
    for (const [key, [ok, form]] of Object.entries(RULES)) {
        const value: unknown = o[key as keyof Resolved];
        if (!ok(value)) throw new Error(`nginx: ${key} must be ${form}, got ${JSON.stringify(value) ?? String(value)}`);
    }
    return o;
}

function stripUndefined(opts: NginxConfigOptions): Partial<NginxConfigOptions> {
    return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
}

function isHostName(v: unknown): boolean {
    if (typeof v !== "string" || v.length === 0 || v.length > 253) return false;
    return v.split(".").every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

function isPort(v: unknown): boolean {
    return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function isResolver(v: unknown): boolean {
    if (typeof v !== "string") return false;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+))(?::(\d{1,5}))?$/.exec(v);
    if (m === null) return false;
    const [, v6, v4, port] = m;
    const ipOk = v6 !== undefined ? isIP(v6) === 6 : isIP(v4 ?? "") === 4;
    return ipOk && (port === undefined || isPort(Number(port)));
}

function isDuration(v: unknown): boolean {
    return typeof v === "string" && /^[1-9][0-9]{0,8}(ms|s|m|h)$/.test(v);
}
