import { isIP } from "node:net";

/**
 * Inputs of the nginx front's `conf.d/default.conf`. Durations use nginx's syntax with an explicit unit
 * ("500ms", "5s", "1m", "1h"); sizes use nginx's ("512k", "10m", "1g").
 *
 * Routing: two upstream slots, blue and green, each one name on the front network that only the
 * cutover step (scripts/cutover.js) gives to a healthy app container. A marker file in `routeDir`
 * says which slot is live; nginx checks it per request, so flipping it moves every new request at
 * once, with no reload (a reload closes idle client keep-alive connections, which clients see as
 * failed requests) and with the upstream keep-alive connections of both slots kept.
 */
export interface NginxConfigOptions {
    /** The slots' names on the front network, resolved at run time (`server NAME:PORT resolve`). Required. */
    readonly slots: { readonly blue: string; readonly green: string };
    /** Port the app listens on inside its container. Required. */
    readonly appPort: number;
    /** Directory holding the route marker `live-<green name>`; absent means blue is live. Required. */
    readonly routeDir: string;
    /** Loopback-only listener the cutover probes each slot through. Default 8081. */
    readonly probePort?: number;
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
    /** `resolver_timeout`: how long a lookup may take. Default "5s". */
    readonly resolverTimeout?: string;
    /**
     * `client_max_body_size`: larger request bodies get 413 from nginx. Default "1m". The app gets the same
     * limit (MAX_BODY_SIZE): a body nginx passes on is never one the app refuses by closing early, which
     * nginx, still sending it, would turn into a 502.
     */
    readonly clientMaxBodySize?: string;
    /**
     * `client_header_timeout`, `client_body_timeout` and `send_timeout`: how long a client may take to send
     * its request's header, between two reads of its body, and between two reads of the response. A slow
     * client is closed (408) instead of holding a connection. Default "15s".
     */
    readonly clientTimeout?: string;
    /** `limit_conn`: requests in progress at once per client address; more get 429. 0: no limit. Default 100. */
    readonly connLimitPerClient?: number;
    /** `limit_req` rate: requests a second per client address; past the burst they get 429. 0: no limit. Default 500. */
    readonly rateLimitPerClient?: number;
    /** `limit_req` burst: requests over the rate passed at once (nodelay) before 429s. Default: the rate's own value. */
    readonly rateLimitBurst?: number;
    /** `proxy_connect_timeout`. Default "1s". */
    readonly connectTimeout?: string;
    /** `proxy_read_timeout`: longest silence while reading the app's response. Default "60s". */
    readonly readTimeout?: string;
    /** `proxy_send_timeout`: longest stall while sending the request to the app. Default "60s". */
    readonly sendTimeout?: string;
    /** `proxy_next_upstream_tries`: attempts per request, the first included. Default 3. */
    readonly nextUpstreamTries?: number;
    /** `proxy_next_upstream_timeout`: no retry once a request is older than this. Default "10s". */
    readonly nextUpstreamTimeout?: string;
    /** Idle keep-alive connections to the app each worker keeps per slot. Default 64. */
    readonly upstreamKeepalive?: number;
    /** How long an idle upstream connection is kept: shorter than the app's own idle timeout. Default "2s". */
    readonly upstreamKeepaliveTimeout?: string;
    /** HTTPS for visitors. Undefined: HTTP only, the file exactly as without this option. */
    readonly tls?: NginxTlsOptions;
}

/**
 * HTTPS with a certificate an ACME client writes while nginx runs. Before the first certificate exists
 * nginx serves the app over HTTP as without TLS (its HTTPS handshakes fail); once `certDir/fullchain.pem`
 * exists, HTTP answers a redirect to HTTPS, except the ACME challenge. A renewed certificate is picked up
 * within `certCheckInterval`, without a reload. nginx's worker processes read the files at handshake time,
 * so `privkey.pem` must be readable by the worker user, not only by root.
 */
export interface NginxTlsOptions {
    /** Directory in the nginx container holding `fullchain.pem` and `privkey.pem`; may not exist yet. Required. */
    readonly certDir: string;
    /** Directory whose files answer `/.well-known/acme-challenge/<file>` on the HTTP port (HTTP-01). Required. */
    readonly acmeWebroot: string;
    /** `Strict-Transport-Security` max-age on HTTPS answers, in seconds; 0: no header. Default 0. */
    readonly hstsSeconds?: number;
    /** Port nginx listens on for HTTPS, IPv4 and IPv6 (as `listenIpv6`). Default 443. */
    readonly httpsPort?: number;
    /** How long nginx uses a loaded certificate before checking its files for a new one. Default "60s". */
    readonly certCheckInterval?: string;
}

/** One node of an nginx configuration: a directive (with a block or not) or a comment line. */
export type NginxNode =
    { readonly name: string; readonly args?: readonly string[]; readonly block?: readonly NginxNode[] } | { readonly comment: string };

const DEFAULTS = {
    probePort: 8081,
    listenPort: 80,
    listenIpv6: true,
    serverName: "_",
    resolver: "127.0.0.11",
    // A container's address changes when it restarts (dockerd restart, reboot): re-resolve often.
    resolverValid: "1s",
    resolverTimeout: "5s",
    clientMaxBodySize: "1m",
    clientTimeout: "15s",
    // The e2e drills send 50 connections at 300 requests a second from one address: well inside both.
    connLimitPerClient: 100,
    rateLimitPerClient: 500,
    // On the host's bridge a live app accepts in well under a millisecond; a dead address (a killed
    // container still in the cache) must cost little before the backup slot is tried.
    connectTimeout: "1s",
    readTimeout: "60s",
    sendTimeout: "60s",
    nextUpstreamTries: 3,
    nextUpstreamTimeout: "10s",
    upstreamKeepalive: 64,
    // Below the idle timeouts of common app servers (Node 5 s, uvicorn 5 s, puma 20 s): nginx closes an
    // idle connection before the app does, so it never sends a request on a socket the app is closing.
    upstreamKeepaliveTimeout: "2s",
} as const;

/** Access log format: the default "combined" plus which app address(es) answered, so retries show. */
const LOG_FORMAT =
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ' +
    '"$http_referer" "$http_user_agent" upstream="$upstream_addr" ' +
    'upstream_status="$upstream_status" request_time=$request_time';

/** The upstream group names nginx routes to, per slot, and the probe groups (no backup, no keep-alive). */
export const UPSTREAMS = { blue: "berth_blue", green: "berth_green", probeBlue: "berth_probe_blue", probeGreen: "berth_probe_green" };

/** The shared-memory zones of the per-address limits. */
const LIMIT_ZONES = { conn: "berth_conn", req: "berth_req" };

const TLS_DEFAULTS = { hstsSeconds: 0, httpsPort: 443, certCheckInterval: "60s" } as const;

/**
 * The TLS 1.2 cipher suites of Mozilla's "intermediate" profile (https://ssl-config.mozilla.org/, nginx,
 * intermediate), ECDHE only: its DHE suites need `ssl_dhparam`, without which nginx never uses them
 * (https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_dhparam). TLS 1.3 suites are not set here:
 * OpenSSL's defaults are all AEAD.
 */
const TLS12_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** A byte count in nginx's size syntax, in the largest exact unit: 1048576 is "1m", 65536 "64k", 1000 "1000". */
export function nginxSize(bytes: number): string {
    if (!Number.isSafeInteger(bytes) || bytes < 1) throw new Error(`nginx: a size must be a positive integer of bytes, got ${bytes}`);
    for (const [unit, n] of [
        ["g", 1024 ** 3],
        ["m", 1024 ** 2],
        ["k", 1024],
    ] as const) {
        if (bytes % n === 0) return `${bytes / n}${unit}`;
    }
    return String(bytes);
}

/** The marker file whose presence makes green the live slot. */
export function routeMarker(routeDir: string, slots: { green: string }): string {
    return `${routeDir.replace(/\/+$/, "")}/live-${slots.green}`;
}

/** Renders `/etc/nginx/conf.d/default.conf` for the official nginx image (included inside `http {}`). */
export function renderNginxConfig(opts: NginxConfigOptions): string {
    return serializeNginxConfig(nginxConfigNodes(opts));
}

/** The structure behind {@link renderNginxConfig}; every option validated. */
function nginxConfigNodes(opts: NginxConfigOptions): NginxNode[] {
    const o = validate(opts);
    const listen = (address: string, ...more: string[]): NginxNode => ({ name: "listen", args: [address, ...more] });
    const server = (slot: string, ...more: string[]): NginxNode => ({ name: "server", args: [`${slot}:${o.appPort}`, "resolve", ...more] });
    const zone = (name: string): NginxNode => ({ name: "zone", args: [name, "64k"] });
    const routed = (name: string, live: string, other: string): NginxNode => ({
        name: "upstream",
        args: [name],
        block: [
            zone(name),
            server(live),
            { comment: "The other slot only when this one refuses: the old version during a switch, never a new one before its cutover." },
            server(other, "backup"),
            { name: "keepalive", args: [String(o.upstreamKeepalive)] },
            { name: "keepalive_timeout", args: [o.upstreamKeepaliveTimeout] },
        ],
    });
    const probe = (name: string, slot: string): NginxNode => ({ name: "upstream", args: [name], block: [zone(name), server(slot)] });
    const proxyCommon: NginxNode[] = [
        { name: "proxy_connect_timeout", args: [o.connectTimeout] },
        { name: "proxy_read_timeout", args: [o.readTimeout] },
        { name: "proxy_send_timeout", args: [o.sendTimeout] },
        { comment: "HTTP/1.1 with no Connection header: the upstream keep-alive." },
        { name: "proxy_http_version", args: ["1.1"] },
        { name: "proxy_set_header", args: ["Connection", ""] },
    ];
    const marker = routeMarker(o.routeDir, o.slots);
    const connLimit = o.connLimitPerClient > 0;
    const rateLimit = o.rateLimitPerClient > 0;
    /** What each visitor-facing server has, HTTP or HTTPS: names, logs, limits, the live slot, the Host the app gets. */
    const serverCommon: NginxNode[] = [
        { name: "server_name", args: [o.serverName] },
        { name: "server_tokens", args: ["off"] },
        { comment: "Buffered: one write (and one wake-up of Docker's log reader) per 32k of lines, at most 1 s late." },
        { name: "access_log", args: ["/dev/stdout", "berth", "buffer=32k", "flush=1s"] },
        { name: "client_max_body_size", args: [o.clientMaxBodySize] },
        { comment: "Slow clients: the whole header, each read of the body, each write of the response." },
        { comment: "https://nginx.org/en/docs/http/ngx_http_core_module.html#client_header_timeout" },
        { name: "client_header_timeout", args: [o.clientTimeout] },
        { name: "client_body_timeout", args: [o.clientTimeout] },
        { name: "send_timeout", args: [o.clientTimeout] },
        ...(connLimit
            ? [
                  { comment: "Requests in progress per address (idle keep-alive connections do not count)." },
                  { name: "limit_conn", args: [LIMIT_ZONES.conn, String(o.connLimitPerClient)] },
                  { name: "limit_conn_status", args: ["429"] },
              ]
            : []),
        ...(rateLimit
            ? [
                  { comment: "Up to the burst at once, then the rate; the rest 429 (nodelay: none is queued)." },
                  { name: "limit_req", args: [`zone=${LIMIT_ZONES.req}`, `burst=${o.rateLimitBurst}`, "nodelay"] },
                  { name: "limit_req_status", args: ["429"] },
              ]
            : []),
        { comment: "The live slot, read per request (one stat): the cutover creates or removes the marker." },
        { name: "set", args: ["$berth_upstream", UPSTREAMS.blue] },
        { name: "if", args: ["(-f", `${marker})`], block: [{ name: "set", args: ["$berth_upstream", UPSTREAMS.green] }] },
        { comment: "The Host the app gets: the client's as sent (with its port); for a request without one (HTTP/1.0)," },
        { comment: "$host: the request line's host, else this server's name; an empty header would not be sent at all." },
        { comment: "https://nginx.org/en/docs/http/ngx_http_core_module.html#var_host" },
        { comment: "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header" },
        { name: "set", args: ["$berth_host", "$http_host"] },
        { name: "if", args: ["($berth_host", "=", "", ")"], block: [{ name: "set", args: ["$berth_host", "$host"] }] },
    ];
    /** The app's location: the same nodes on the HTTP and the HTTPS port. */
    const appLocation: NginxNode[] = [
        { comment: "A variable naming an upstream{} group selects that group, keep-alive and all." },
        { comment: "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass" },
        { name: "proxy_pass", args: ["http://$berth_upstream"] },
        { comment: "Refused, reset, timed out or 502/503: try the backup slot. nginx never resends a" },
        { comment: "non-idempotent request (POST...) the app may have received." },
        { name: "proxy_next_upstream", args: ["error", "timeout", "http_502", "http_503"] },
        { name: "proxy_next_upstream_tries", args: [String(o.nextUpstreamTries)] },
        { name: "proxy_next_upstream_timeout", args: [o.nextUpstreamTimeout] },
        ...proxyCommon,
        { name: "proxy_set_header", args: ["Host", "$berth_host"] },
        { name: "proxy_set_header", args: ["X-Real-IP", "$remote_addr"] },
        { name: "proxy_set_header", args: ["X-Forwarded-For", "$proxy_add_x_forwarded_for"] },
        { name: "proxy_set_header", args: ["X-Forwarded-Proto", "$scheme"] },
        { comment: "The app's own error pages reach the client unchanged." },
        { name: "proxy_intercept_errors", args: ["off"] },
    ];
    const httpListens = [
        listen(String(o.listenPort), "default_server"),
        ...(o.listenIpv6 ? [listen(`[::]:${o.listenPort}`, "default_server")] : []),
    ];
    return [
        { comment: "Rendered by Berth (infra/deploy/nginx.ts): edit the options, not this file." },
        { name: "log_format", args: ["berth", LOG_FORMAT] },
        { comment: "Docker's DNS: the slots' names are re-resolved while nginx runs (a restarted container gets a new address)." },
        { comment: "IPv6 off: the front network is IPv4, an AAAA query would only add a round trip." },
        { name: "resolver", args: [o.resolver, `valid=${o.resolverValid}`, "ipv6=off"] },
        { name: "resolver_timeout", args: [o.resolverTimeout] },
        ...(connLimit || rateLimit
            ? [
                  { comment: "Per client address: nginx's peer, which is the client itself when Docker publishes the port by DNAT." },
                  { comment: "10m: about 160 000 addresses (a 64-byte state each)." },
                  { comment: "https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html" },
                  { comment: "https://nginx.org/en/docs/http/ngx_http_limit_req_module.html" },
              ]
            : []),
        ...(connLimit ? [{ name: "limit_conn_zone", args: ["$binary_remote_addr", `zone=${LIMIT_ZONES.conn}:10m`] }] : []),
        ...(rateLimit
            ? [{ name: "limit_req_zone", args: ["$binary_remote_addr", `zone=${LIMIT_ZONES.req}:10m`, `rate=${o.rateLimitPerClient}r/s`] }]
            : []),
        { comment: "https://nginx.org/en/docs/http/ngx_http_upstream_module.html#resolve (nginx 1.27.3+)" },
        routed(UPSTREAMS.blue, o.slots.blue, o.slots.green),
        routed(UPSTREAMS.green, o.slots.green, o.slots.blue),
        probe(UPSTREAMS.probeBlue, o.slots.blue),
        probe(UPSTREAMS.probeGreen, o.slots.green),
        ...(o.tls === undefined
            ? [{ name: "server", block: [...httpListens, ...serverCommon, { name: "location", args: ["/"], block: appLocation }] }]
            : tlsNodes(o, o.tls, { httpListens, serverCommon, appLocation, limited: connLimit || rateLimit })),
        { comment: "The cutover's probe: each slot alone, from inside this container only; says which address answered." },
        {
            name: "server",
            block: [
                listen(`127.0.0.1:${o.probePort}`),
                { name: "access_log", args: ["off"] },
                ...(["blue", "green"] as const).map((slot): NginxNode => ({
                    name: "location",
                    args: [`/warm/${slot}/`],
                    block: [
                        { comment: "Through the slot's routed upstream: fills its keep-alive pool before the switch." },
                        { name: "proxy_pass", args: [`http://${slot === "blue" ? UPSTREAMS.blue : UPSTREAMS.green}/`] },
                        ...proxyCommon,
                    ],
                })),
                ...(["blue", "green"] as const).map((slot): NginxNode => ({
                    name: "location",
                    args: [`/${slot}/`],
                    block: [
                        {
                            name: "proxy_pass",
                            args: [`http://${slot === "blue" ? UPSTREAMS.probeBlue : UPSTREAMS.probeGreen}/`],
                        },
                        { name: "proxy_next_upstream", args: ["off"] },
                        ...proxyCommon,
                        { name: "add_header", args: ["X-Berth-Upstream", "$upstream_addr", "always"] },
                    ],
                })),
            ],
        },
    ];
}

/**
 * With `tls`: the HTTP server (the ACME challenge; the app until a certificate exists, a redirect to HTTPS
 * after) and the HTTPS server, both around the same common nodes and app location.
 */
function tlsNodes(
    o: Resolved,
    t: ResolvedTls,
    shared: { httpListens: NginxNode[]; serverCommon: NginxNode[]; appLocation: NginxNode[]; limited: boolean },
): NginxNode[] {
    const certDir = t.certDir.replace(/\/+$/, "");
    const fullchain = `${certDir}/fullchain.pem`;
    const httpsHost = t.httpsPort === 443 ? "$host" : `$host:${t.httpsPort}`;
    const https = (address: string): NginxNode => ({ name: "listen", args: [address, "ssl", "default_server"] });
    return [
        { comment: "The certificate's directory as a variable: nginx then loads the files at handshake time, so it starts" },
        { comment: "before the first certificate exists and picks up a renewed one without a reload." },
        { comment: "https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_certificate (variables, 1.15.9+)" },
        { name: "map", args: ["", "$berth_tls_dir"], block: [{ name: "default", args: [certDir] }] },
        {
            name: "server",
            block: [
                ...shared.httpListens,
                ...shared.serverCommon,
                {
                    name: "location",
                    args: ["/.well-known/acme-challenge/"],
                    block: [
                        { comment: "HTTP-01 (RFC 8555 section 8.3): the ACME client's token files, served here over HTTP even once" },
                        { comment: "HTTPS is on: never redirected, never proxied." },
                        { name: "alias", args: [`${t.acmeWebroot.replace(/\/+$/, "")}/`] },
                        { name: "default_type", args: ["text/plain"] },
                        ...(shared.limited
                            ? [
                                  { comment: "Counted, never refused: a validation burst must not fail the issuance." },
                                  { comment: "https://nginx.org/en/docs/http/ngx_http_limit_req_module.html#limit_req_dry_run" },
                                  { comment: "https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html#limit_conn_dry_run" },
                                  { name: "limit_req_dry_run", args: ["on"] },
                                  { name: "limit_conn_dry_run", args: ["on"] },
                              ]
                            : []),
                    ],
                },
                {
                    name: "location",
                    args: ["/"],
                    block: [
                        { comment: "Once the ACME client has written a certificate, HTTP only redirects; checked per request (one stat)." },
                        { comment: "https://nginx.org/en/docs/http/ngx_http_rewrite_module.html#if" },
                        {
                            name: "if",
                            args: ["(-f", `${fullchain})`],
                            block: [{ name: "return", args: ["301", `https://${httpsHost}$request_uri`] }],
                        },
                        ...shared.appLocation,
                    ],
                },
            ],
        },
        { comment: "HTTPS: the same limits, routing and proxying as HTTP. Until the certificate exists, handshakes fail." },
        {
            name: "server",
            block: [
                https(String(t.httpsPort)),
                ...(o.listenIpv6 ? [https(`[::]:${t.httpsPort}`)] : []),
                { comment: "https://nginx.org/en/docs/http/ngx_http_v2_module.html#http2 (1.25.1+)" },
                { name: "http2", args: ["on"] },
                { name: "ssl_certificate", args: ["$berth_tls_dir/fullchain.pem"] },
                { name: "ssl_certificate_key", args: ["$berth_tls_dir/privkey.pem"] },
                { comment: "A loaded certificate and key are reused for `valid`; after that each handshake first compares the" },
                { comment: "files' inode and mtime and reloads them when they changed (src/event/ngx_event_openssl_cache.c). Failed" },
                {
                    comment:
                        "loads are not cached. https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_certificate_cache (1.27.4+)",
                },
                { name: "ssl_certificate_cache", args: ["max=4", "inactive=1h", `valid=${t.certCheckInterval}`] },
                { comment: "Mozilla's intermediate profile: https://ssl-config.mozilla.org/ (nginx, intermediate)." },
                { name: "ssl_protocols", args: ["TLSv1.2", "TLSv1.3"] },
                { name: "ssl_ciphers", args: [TLS12_CIPHERS] },
                { name: "ssl_prefer_server_ciphers", args: ["off"] },
                { comment: "10m: about 40 000 sessions. No tickets: their key would never rotate while nginx runs." },
                { comment: "https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_session_cache" },
                { name: "ssl_session_cache", args: ["shared:berth_tls:10m"] },
                { name: "ssl_session_timeout", args: ["1d"] },
                { name: "ssl_session_tickets", args: ["off"] },
                { comment: "No OCSP stapling: nginx staples only for certificates loaded at start, none when they are named by" },
                { comment: "variables (ngx_ssl_stapling() in src/event/ngx_event_openssl_stapling.c walks the certificates loaded" },
                { comment: "with the configuration). Let's Encrypt certificates carry no OCSP URL since 7 May 2025 either:" },
                { comment: "https://letsencrypt.org/2025/08/06/ocsp-service-has-reached-end-of-life.html" },
                ...(t.hstsSeconds > 0
                    ? [
                          { comment: "HSTS: browsers use HTTPS only for this long (RFC 6797); on HTTPS answers only, errors too." },
                          { comment: "https://nginx.org/en/docs/http/ngx_http_headers_module.html#add_header" },
                          { name: "add_header", args: ["Strict-Transport-Security", `max-age=${t.hstsSeconds}`, "always"] },
                      ]
                    : []),
                ...shared.serverCommon,
                { name: "location", args: ["/"], block: shared.appLocation },
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
    // Parentheses stay bare: `if (-f FILE)` is parsed from the words "(-f" and "FILE)".
    if (/^[A-Za-z0-9_$.:/[\]=@*+,()-]+$/.test(arg)) return arg;
    const q = arg.includes('"') && !arg.includes("'") ? "'" : '"';
    return q + arg.replace(q === "'" ? /[\\']/g : /[\\"]/g, (c) => `\\${c}`) + q;
}

type Resolved = Required<Omit<NginxConfigOptions, "tls">> & { readonly tls: ResolvedTls | undefined };
type ResolvedTls = Required<NginxTlsOptions>;

const PORT = "an integer from 1 to 65535";
const DURATION = `a positive duration with a unit: "500ms", "5s", "1m", "1h"`;

/** Per option: the test its value must pass and the accepted form the error names. Typed: none missing. */
const RULES: { readonly [K in keyof Resolved]: readonly [(v: unknown) => boolean, string] } = {
    slots: [
        (v) => {
            const o = v as { blue?: unknown; green?: unknown } | null;
            return typeof o === "object" && o !== null && isHostName(o.blue) && isHostName(o.green) && o.blue !== o.green;
        },
        "two different DNS names: { blue, green }",
    ],
    appPort: [isPort, PORT],
    routeDir: [isAbsolutePath, "an absolute path"],
    probePort: [isPort, PORT],
    listenPort: [isPort, PORT],
    listenIpv6: [(v) => typeof v === "boolean", "true or false"],
    serverName: [(v) => v === "_" || (typeof v === "string" && isHostName(v.replace(/^\*\./, ""))), `"_", a host name or "*.domain"`],
    resolver: [isResolver, `an IP address with an optional port: "127.0.0.11", "10.0.0.2:53", "[::1]:53"`],
    resolverValid: [isDuration, DURATION],
    resolverTimeout: [isDuration, DURATION],
    clientMaxBodySize: [(v) => typeof v === "string" && /^[1-9][0-9]{0,8}[kKmMgG]?$/.test(v), `a positive size: "512k", "10m", "1g"`],
    clientTimeout: [isDuration, DURATION],
    connLimitPerClient: [(v) => isCount(v, 100000), "an integer from 0 (no limit) to 100000"],
    rateLimitPerClient: [(v) => isCount(v, 100000), "an integer from 0 (no limit) to 100000"],
    rateLimitBurst: [(v) => isCount(v, 1000000), "an integer from 0 to 1000000"],
    connectTimeout: [isDuration, DURATION],
    readTimeout: [isDuration, DURATION],
    sendTimeout: [isDuration, DURATION],
    nextUpstreamTries: [(v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 100, "an integer from 1 to 100"],
    nextUpstreamTimeout: [isDuration, DURATION],
    upstreamKeepalive: [(v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 10000, "an integer from 1 to 10000"],
    upstreamKeepaliveTimeout: [isDuration, DURATION],
    tls: [
        (v) => v === undefined || (typeof v === "object" && v !== null && !Array.isArray(v)),
        "an object: { certDir, acmeWebroot, hstsSeconds?, httpsPort?, certCheckInterval? }",
    ],
};

/** The same for the keys of `tls`, named "tls.KEY" in errors. */
const TLS_RULES: { readonly [K in keyof ResolvedTls]: readonly [(v: unknown) => boolean, string] } = {
    certDir: [isAbsolutePath, "an absolute path"],
    acmeWebroot: [isAbsolutePath, "an absolute path"],
    hstsSeconds: [(v) => isCount(v, 63072000), "an integer from 0 (no header) to 63072000 (two years)"],
    httpsPort: [isPort, PORT],
    certCheckInterval: [isDuration, DURATION],
};

function validate(opts: NginxConfigOptions): Resolved {
    if (typeof opts !== "object" || opts === null) throw new Error("nginx: options must be an object");
    for (const key of Object.keys(opts)) {
        if (!Object.hasOwn(RULES, key)) throw new Error(`nginx: unknown option "${key}"`);
    }
    const merged = { ...DEFAULTS, ...stripUndefined(opts) };
    if (merged.slots === undefined) throw new Error("nginx: slots is required");
    if (merged.appPort === undefined) throw new Error("nginx: appPort is required");
    if (merged.routeDir === undefined) throw new Error("nginx: routeDir is required");
    const o: Resolved = {
        ...merged,
        slots: merged.slots,
        appPort: merged.appPort,
        routeDir: merged.routeDir,
        rateLimitBurst: merged.rateLimitBurst ?? merged.rateLimitPerClient,
        tls: undefined,
    };
    for (const [key, [ok, form]] of Object.entries(RULES)) {
        const value: unknown = key === "tls" ? merged.tls : o[key as keyof Resolved];
        if (!ok(value)) throw new Error(`nginx: ${key} must be ${form}, got ${JSON.stringify(value) ?? String(value)}`);
    }
    return merged.tls === undefined ? o : { ...o, tls: validateTls(merged.tls, o) };
}

function validateTls(tls: NginxTlsOptions, o: Resolved): ResolvedTls {
    for (const key of Object.keys(tls)) {
        if (!Object.hasOwn(TLS_RULES, key)) throw new Error(`nginx: unknown option "tls.${key}"`);
    }
    const merged = { ...TLS_DEFAULTS, ...stripUndefined(tls) };
    if (merged.certDir === undefined) throw new Error("nginx: tls.certDir is required");
    if (merged.acmeWebroot === undefined) throw new Error("nginx: tls.acmeWebroot is required");
    const t: ResolvedTls = { ...merged, certDir: merged.certDir, acmeWebroot: merged.acmeWebroot };
    for (const [key, [ok, form]] of Object.entries(TLS_RULES)) {
        const value: unknown = t[key as keyof ResolvedTls];
        if (!ok(value)) throw new Error(`nginx: tls.${key} must be ${form}, got ${JSON.stringify(value) ?? String(value)}`);
    }
    if (t.httpsPort === o.listenPort || t.httpsPort === o.probePort) {
        throw new Error(`nginx: tls.httpsPort must be a port other than listenPort and probePort, got ${t.httpsPort}`);
    }
    return t;
}

function stripUndefined<T extends object>(opts: T): Partial<T> {
    return Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isAbsolutePath(v: unknown): boolean {
    return typeof v === "string" && /^\/[A-Za-z0-9._/-]+$/.test(v);
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

function isCount(v: unknown, max: number): boolean {
    return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

function isDuration(v: unknown): boolean {
    return typeof v === "string" && /^[1-9][0-9]{0,8}(ms|s|m|h)$/.test(v);
}
