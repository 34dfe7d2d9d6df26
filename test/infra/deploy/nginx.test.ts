import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { nginxSize, renderNginxConfig, serializeNginxConfig, type NginxConfigOptions, type NginxNode } from "../../../infra/deploy/nginx";
import { MIN_NGINX_VERSION, compareVersions, nginxBinary, runNginx } from "../../support/nginx/binary";
import { mainConf } from "../../support/nginx/harness";
import { all, one, parseNginx, type Directive } from "../../support/nginx/parse";

const BASE: NginxConfigOptions = { slots: { blue: "app-blue", green: "app-green" }, appPort: 3000, routeDir: "/etc/nginx/berth-route" };

function render(opts: NginxConfigOptions) {
    const top = parseNginx(renderNginxConfig(opts));
    const [main, probe] = all(top, "server").map((s) => s.block ?? []);
    const server = main ?? [];
    const location = one(server, "location");
    const upstreams = Object.fromEntries(all(top, "upstream").map((u): [string, Directive[]] => [u.args[0] ?? "", u.block ?? []]));
    return { top, server, probe: probe ?? [], upstreams, location: location.block ?? [], locationArgs: location.args };
}

const args = (block: readonly Directive[], name: string) => one(block, name).args;

/** proxy_set_header name → value; repeated names fail. */
function headers(block: readonly Directive[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const directive of all(block, "proxy_set_header")) {
        const [name, value] = directive.args;
        assert.ok(name !== undefined && value !== undefined && !(name in out), `proxy_set_header ${name}`);
        out[name] = value;
    }
    return out;
}

describe("renderNginxConfig", () => {
    it("listens on port 80, IPv4 and IPv6, for any server name, without its version", () => {
        const { server } = render(BASE);
        assert.deepEqual(
            all(server, "listen").map((d) => d.args),
            [
                ["80", "default_server"],
                ["[::]:80", "default_server"],
            ],
        );
        assert.deepEqual(args(server, "server_name"), ["_"]);
        assert.deepEqual(args(server, "server_tokens"), ["off"]);
    });

    it("re-resolves the slots' names through Docker's DNS, briefly cached, IPv4 only", () => {
        const { top } = render(BASE);
        assert.deepEqual(args(top, "resolver"), ["127.0.0.11", "valid=1s", "ipv6=off"]);
        assert.deepEqual(args(top, "resolver_timeout"), ["5s"]);
    });

    it("has a keep-alive upstream per slot, the other slot as backup, and a probe upstream per slot", () => {
        const { upstreams } = render(BASE);
        assert.deepEqual(Object.keys(upstreams), ["berth_blue", "berth_green", "berth_probe_blue", "berth_probe_green"]);
        const servers = (name: string) => all(upstreams[name] ?? [], "server").map((d) => d.args);
        assert.deepEqual(servers("berth_blue"), [
            ["app-blue:3000", "resolve"],
            ["app-green:3000", "resolve", "backup"],
        ]);
        assert.deepEqual(servers("berth_green"), [
            ["app-green:3000", "resolve"],
            ["app-blue:3000", "resolve", "backup"],
        ]);
        assert.deepEqual(servers("berth_probe_blue"), [["app-blue:3000", "resolve"]]);
        assert.deepEqual(servers("berth_probe_green"), [["app-green:3000", "resolve"]]);
        for (const name of ["berth_blue", "berth_green"]) {
            assert.deepEqual(args(upstreams[name] ?? [], "zone"), [name, "64k"], "resolve needs a shared zone");
            assert.deepEqual(args(upstreams[name] ?? [], "keepalive"), ["64"]);
            assert.deepEqual(args(upstreams[name] ?? [], "keepalive_timeout"), ["2s"]);
        }
        for (const name of ["berth_probe_blue", "berth_probe_green"]) assert.equal(all(upstreams[name] ?? [], "keepalive").length, 0);
    });

    it("routes to blue unless the marker file exists, checked per request", () => {
        const { server, location } = render(BASE);
        assert.deepEqual(all(server, "set")[0]?.args, ["$berth_upstream", "berth_blue"]);
        const cond = all(server, "if")[0] as Directive;
        assert.deepEqual(cond.args, ["(-f", "/etc/nginx/berth-route/live-app-green)"]);
        assert.deepEqual(
            (cond.block ?? []).map((d) => [d.name, ...d.args]),
            [["set", "$berth_upstream", "berth_green"]],
        );
        assert.deepEqual(args(location, "proxy_pass"), ["http://$berth_upstream"]);
    });

    it("probes each slot alone on loopback, naming the address that answered", () => {
        const { probe } = render(BASE);
        assert.deepEqual(args(probe, "listen"), ["127.0.0.1:8081"]);
        const all_ = all(probe, "location");
        assert.deepEqual(
            all_.map((l) => [l.args[0], args(l.block ?? [], "proxy_pass")[0]]),
            [
                ["/warm/blue/", "http://berth_blue/"],
                ["/warm/green/", "http://berth_green/"],
                ["/blue/", "http://berth_probe_blue/"],
                ["/green/", "http://berth_probe_green/"],
            ],
        );
        const locations = all_.slice(2);
        for (const l of locations) {
            assert.deepEqual(args(l.block ?? [], "add_header"), ["X-Berth-Upstream", "$upstream_addr", "always"]);
            assert.deepEqual(args(l.block ?? [], "proxy_next_upstream"), ["off"]);
        }
    });

    it("retries errors, timeouts, 502 and 503 on the backup slot, bounded in tries and time", () => {
        const { location } = render(BASE);
        assert.deepEqual(args(location, "proxy_next_upstream"), ["error", "timeout", "http_502", "http_503"]);
        assert.deepEqual(args(location, "proxy_next_upstream_tries"), ["3"]);
        assert.deepEqual(args(location, "proxy_next_upstream_timeout"), ["10s"]);
    });

    it("passes the client's Host, address and scheme over HTTP/1.1 without Connection", () => {
        const { server, location } = render(BASE);
        assert.deepEqual(args(location, "proxy_http_version"), ["1.1"]);
        // The client's Host header as sent; $host (the request line's host, else server_name) when it sent none.
        assert.deepEqual(
            all(server, "set").map((d) => d.args),
            [
                ["$berth_upstream", "berth_blue"],
                ["$berth_host", "$http_host"],
            ],
        );
        const ifs = all(server, "if");
        assert.deepEqual(ifs[1]?.args, ["($berth_host", "=", "", ")"]);
        assert.deepEqual(ifs[1]?.block, [{ name: "set", args: ["$berth_host", "$host"] }]);
        assert.deepEqual(headers(location), {
            Connection: "",
            Host: "$berth_host",
            "X-Real-IP": "$remote_addr",
            "X-Forwarded-For": "$proxy_add_x_forwarded_for",
            "X-Forwarded-Proto": "$scheme",
        });
        assert.deepEqual(args(location, "proxy_intercept_errors"), ["off"]);
    });

    it("limits bodies and times, and logs to stdout with the upstream address", () => {
        const { top, server, location } = render(BASE);
        assert.deepEqual(args(server, "client_max_body_size"), ["1m"]);
        for (const name of ["client_header_timeout", "client_body_timeout", "send_timeout"]) assert.deepEqual(args(server, name), ["15s"]);
        assert.deepEqual(args(location, "proxy_connect_timeout"), ["1s"]);
        assert.deepEqual(args(location, "proxy_read_timeout"), ["60s"]);
        assert.deepEqual(args(location, "proxy_send_timeout"), ["60s"]);
        assert.deepEqual(args(server, "access_log"), ["/dev/stdout", "berth", "buffer=32k", "flush=1s"]);
        const [name, format] = args(top, "log_format");
        assert.equal(name, "berth"); // not "main": the official image's nginx.conf defines that one
        assert.match(format ?? "", /\$upstream_addr/);
    });

    it("limits requests in progress and the request rate per client address, 429 past them, not on the probe server", () => {
        const { top, server, probe } = render(BASE);
        assert.deepEqual(args(top, "limit_conn_zone"), ["$binary_remote_addr", "zone=berth_conn:10m"]);
        assert.deepEqual(args(top, "limit_req_zone"), ["$binary_remote_addr", "zone=berth_req:10m", "rate=500r/s"]);
        assert.deepEqual(args(server, "limit_conn"), ["berth_conn", "100"]);
        assert.deepEqual(args(server, "limit_conn_status"), ["429"]);
        assert.deepEqual(args(server, "limit_req"), ["zone=berth_req", "burst=500", "nodelay"]);
        assert.deepEqual(args(server, "limit_req_status"), ["429"]);
        const text = JSON.stringify(probe);
        assert.doesNotMatch(text, /limit_/, "the cutover's probes are never limited");
    });

    it("drops a limit set to 0, zone and all", () => {
        const { top, server } = render({ ...BASE, connLimitPerClient: 0, rateLimitPerClient: 0 });
        for (const name of ["limit_conn_zone", "limit_req_zone"]) assert.deepEqual(all(top, name), []);
        for (const name of ["limit_conn", "limit_conn_status", "limit_req", "limit_req_status"]) assert.deepEqual(all(server, name), []);
        const onlyRate = render({ ...BASE, connLimitPerClient: 0, rateLimitPerClient: 7, rateLimitBurst: 0 });
        assert.deepEqual(all(onlyRate.top, "limit_conn_zone"), []);
        assert.deepEqual(args(onlyRate.server, "limit_req"), ["zone=berth_req", "burst=0", "nodelay"]);
        assert.deepEqual(args(onlyRate.top, "limit_req_zone"), ["$binary_remote_addr", "zone=berth_req:10m", "rate=7r/s"]);
    });

    it("writes a byte count in the largest exact unit", () => {
        const cases: [number, string][] = [
            [1, "1"],
            [1000, "1000"],
            [1024, "1k"],
            [1536, "1536"],
            [65536, "64k"],
            [1048576, "1m"],
            [1048577, "1048577"],
            [3 * 1024 ** 2, "3m"],
            [1024 ** 3, "1g"],
        ];
        for (const [bytes, text] of cases) assert.equal(nginxSize(bytes), text);
        for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => nginxSize(bad), /a size must be a positive integer of bytes/);
    });

    it("applies every option", () => {
        const { top, server, probe, upstreams, location, locationArgs } = render({
            slots: { blue: "b.internal", green: "g.internal" },
            routeDir: "/run/route/",
            probePort: 9000,
            upstreamKeepalive: 8,
            upstreamKeepaliveTimeout: "500ms",
            appPort: 8080,
            listenPort: 8000,
            listenIpv6: false,
            serverName: "*.example.com",
            resolver: "[fd00::53]:5353",
            resolverValid: "500ms",
            resolverTimeout: "2s",
            clientMaxBodySize: "1g",
            connectTimeout: "3s",
            readTimeout: "5m",
            sendTimeout: "30s",
            nextUpstreamTries: 2,
            nextUpstreamTimeout: "20s",
            clientTimeout: "5s",
            connLimitPerClient: 3,
            rateLimitPerClient: 20,
            rateLimitBurst: 40,
        });
        assert.deepEqual(locationArgs, ["/"]);
        for (const name of ["client_header_timeout", "client_body_timeout", "send_timeout"]) assert.deepEqual(args(server, name), ["5s"]);
        assert.deepEqual(args(server, "limit_conn"), ["berth_conn", "3"]);
        assert.deepEqual(args(top, "limit_req_zone"), ["$binary_remote_addr", "zone=berth_req:10m", "rate=20r/s"]);
        assert.deepEqual(args(server, "limit_req"), ["zone=berth_req", "burst=40", "nodelay"]);
        assert.deepEqual(
            all(server, "listen").map((d) => d.args),
            [["8000", "default_server"]],
        );
        assert.deepEqual(args(server, "server_name"), ["*.example.com"]);
        assert.deepEqual(args(top, "resolver"), ["[fd00::53]:5353", "valid=500ms", "ipv6=off"]);
        assert.deepEqual(args(top, "resolver_timeout"), ["2s"]);
        assert.deepEqual(args(server, "client_max_body_size"), ["1g"]);
        assert.deepEqual(all(upstreams.berth_green ?? [], "server")[0]?.args, ["g.internal:8080", "resolve"]);
        assert.deepEqual(args(upstreams.berth_green ?? [], "keepalive"), ["8"]);
        assert.deepEqual(args(upstreams.berth_green ?? [], "keepalive_timeout"), ["500ms"]);
        assert.deepEqual(all(server, "if")[0]?.args, ["(-f", "/run/route/live-g.internal)"]);
        assert.deepEqual(args(probe, "listen"), ["127.0.0.1:9000"]);
        const timeouts = ["proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout"].map((n) => args(location, n));
        assert.deepEqual(timeouts, [["3s"], ["5m"], ["30s"]]);
        assert.deepEqual(args(location, "proxy_next_upstream_tries"), ["2"]);
        assert.deepEqual(args(location, "proxy_next_upstream_timeout"), ["20s"]);
    });

    it("is deterministic: same options in any key order, undefined meaning the default", () => {
        const a = renderNginxConfig({ ...BASE, listenPort: 80, resolverValid: "1s" });
        const b = renderNginxConfig({ resolverValid: "1s", listenPort: 80, routeDir: BASE.routeDir, appPort: 3000, slots: BASE.slots });
        assert.equal(a, b);
        assert.equal(renderNginxConfig(BASE), renderNginxConfig({ ...BASE, serverName: undefined }));
        assert.equal(renderNginxConfig(BASE), renderNginxConfig(BASE));
    });

    const rejects = (label: string, opts: unknown, message: string) => {
        it(`rejects ${label}`, () => assert.throws(() => renderNginxConfig(opts as NginxConfigOptions), { message }));
    };
    rejects("null", null, "nginx: options must be an object");
    rejects("a typo", { ...BASE, listenPrt: 80 }, 'nginx: unknown option "listenPrt"');
    rejects("no slots", { appPort: 1, routeDir: "/r" }, "nginx: slots is required");
    rejects("no appPort", { slots: BASE.slots, routeDir: "/r" }, "nginx: appPort is required");
    rejects("no routeDir", { slots: BASE.slots, appPort: 1 }, "nginx: routeDir is required");

    /** Each bad value of each key must fail with "nginx: KEY must be FORM, got VALUE". */
    const badValues: [keys: string[], form: string, bad: unknown[]][] = [
        [
            ["slots"],
            "two different DNS names: { blue, green }",
            [
                ...["", "app host", "-app", "app-", "app.", "a..b", "app;x", "app:80", "é", "a".repeat(64), "a.".repeat(127) + "a"].map(
                    (bad) => ({ blue: bad, green: "g" }),
                ),
                { blue: "same", green: "same" },
                { blue: "b" },
                "app",
            ],
        ],
        [["appPort", "listenPort", "probePort"], "an integer from 1 to 65535", [0, 65536, 80.5, "80", -1, null]],
        [["routeDir"], "an absolute path", ["", "relative/dir", "/with space", "/semi;colon", 1]],
        [["upstreamKeepalive"], "an integer from 1 to 10000", [0, 10001, 1.5, "8"]],
        [["listenIpv6"], "true or false", ["yes", 1]],
        [["serverName"], `"_", a host name or "*.domain"`, ["bad name", "*", "~^re$", "a.*.b"]],
        [
            ["resolver"],
            `an IP address with an optional port: "127.0.0.11", "10.0.0.2:53", "[::1]:53"`,
            ["localhost", "256.0.0.1", "127.0.0.11:0", "127.0.0.11:65536", "::1", "[::1", "[x]:53", "1.2.3.4 valid=1s"],
        ],
        [
            [
                "resolverValid",
                "resolverTimeout",
                "connectTimeout",
                "readTimeout",
                "sendTimeout",
                "nextUpstreamTimeout",
                "upstreamKeepaliveTimeout",
                "clientTimeout",
            ],
            `a positive duration with a unit: "500ms", "5s", "1m", "1h"`,
            ["5", "0s", "1d", "5 s", "-1s", 5],
        ],
        [["clientMaxBodySize"], `a positive size: "512k", "10m", "1g"`, ["0", "10mb", "-1m", "10 m", "1t", 10]],
        [["nextUpstreamTries"], "an integer from 1 to 100", [0, 101, 1.5, "3"]],
        [["connLimitPerClient", "rateLimitPerClient"], "an integer from 0 (no limit) to 100000", [-1, 100001, 1.5, "10", null]],
        [["rateLimitBurst"], "an integer from 0 to 1000000", [-1, 1000001, 2.5, "5"]],
    ];
    for (const [keys, form, bad] of badValues) {
        for (const key of keys) {
            for (const value of bad) {
                rejects(
                    `${key} ${JSON.stringify(value)}`,
                    { ...BASE, [key]: value },
                    `nginx: ${key} must be ${form}, got ${JSON.stringify(value)}`,
                );
            }
        }
    }
});

describe("serializeNginxConfig", () => {
    it("quotes and escapes whatever is not a plain word, so it reads back unchanged", () => {
        const tricky = ["plain", "", "two words", "semi;colon", "{brace}", 'say "hi"', `it's "both"`, "back\\slash", "#hash", "$var"];
        const nodes: NginxNode[] = [{ comment: "ignored" }, { name: "outer", args: ["x"], block: [{ name: "inner", args: tricky }] }];
        assert.deepEqual(parseNginx(serializeNginxConfig(nodes)), [
            { name: "outer", args: ["x"], block: [{ name: "inner", args: tricky }] },
        ]);
    });

    it("refuses control characters and bad names", () => {
        assert.throws(() => serializeNginxConfig([{ name: "x", args: ["a\nb"] }]), {
            message: 'nginx: control character in argument "a\\nb"',
        });
        assert.throws(() => serializeNginxConfig([{ comment: "a\nb" }]), {
            message: "nginx: a comment must be a single line",
        });
        assert.throws(() => serializeNginxConfig([{ name: "x;y" }]), { message: 'nginx: bad directive name "x;y"' });
    });
});

describe("nginx -t accepts the rendered file inside http {}", () => {
    async function nginxTest(conf: string) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-t-"));
        try {
            fs.writeFileSync(path.join(dir, "default.conf"), conf);
            fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
            return await runNginx(["-t", "-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf")]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    it(`with nginx >= ${MIN_NGINX_VERSION}, not the host's bookworm 1.22`, async (t) => {
        const nginx = await nginxBinary();
        t.diagnostic(`nginx ${nginx.version} from ${nginx.origin}`);
        assert.ok(compareVersions(nginx.version, MIN_NGINX_VERSION) >= 0, nginx.version);
    });

    for (const [label, opts] of [
        ["defaults", BASE],
        ["every option", { ...BASE, listenPort: 8080, listenIpv6: false, serverName: "*.example.com", resolver: "[::1]:53" }],
        ["no per-address limits", { ...BASE, connLimitPerClient: 0, rateLimitPerClient: 0 }],
    ] as const) {
        it(label, async () => {
            const r = await nginxTest(renderNginxConfig(opts));
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stderr, /test is successful/);
        });
    }

    it("and the check is real: nginx -t refuses a broken file", async () => {
        const r = await nginxTest(renderNginxConfig(BASE).replace("proxy_pass http://$", "proxy_passs http://$"));
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /unknown directive "proxy_passs"/);
    });
});
