import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { detectPublicIp, resolveAdminCidrs } from "../../../infra/config/admin";
import { ConfigError } from "../../../infra/config/fields";

describe("resolveAdminCidrs", () => {
    it("returns the configured list unchanged, without asking the detector", async () => {
        let asked = 0;
        const configured = ["198.51.100.0/24", "2001:db8::/32"];
        const got = await resolveAdminCidrs(configured, async () => {
            asked++;
            return "203.0.113.7";
        });
        assert.deepEqual(got, ["198.51.100.0/24", "2001:db8::/32"]);
        assert.equal(asked, 0);
        got.push("0.0.0.0/0");
        assert.deepEqual(configured, ["198.51.100.0/24", "2001:db8::/32"]);
    });

    it("uses the detected IPv4 address as a /32", async () => {
        assert.deepEqual(await resolveAdminCidrs(undefined, async () => "203.0.113.7"), ["203.0.113.7/32"]);
    });

    it("uses the detected IPv6 address as a /128", async () => {
        assert.deepEqual(await resolveAdminCidrs(undefined, async () => "2001:db8::42"), ["2001:db8::42/128"]);
    });

    it("names berth:adminCidrs and says how to set it when detection fails", async () => {
        await assert.rejects(
            resolveAdminCidrs(undefined, async () => {
                throw new Error("getaddrinfo ENOTFOUND checkip.amazonaws.com");
            }),
            (err: unknown) => {
                assert.ok(err instanceof ConfigError);
                assert.equal(err.key, "adminCidrs");
                assert.equal(
                    err.message,
                    "berth:adminCidrs is required: set when your public IP cannot be detected " +
                        "(getaddrinfo ENOTFOUND checkip.amazonaws.com): a list of IPv4 or IPv6 CIDRs, " +
                        "e.g. pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32",
                );
                return true;
            },
        );
    });
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A real HTTP server on 127.0.0.1 whose behaviour is picked by path. */
describe("detectPublicIp against a real server", () => {
    const routes: Record<string, Handler> = {
        "/ipv4": (_req, res) => res.end("198.51.100.4\n"),
        "/ipv6": (_req, res) => res.end("  2001:DB8:0:0::7\n"),
        "/garbage": (_req, res) => res.end("<html>you are behind a captive portal</html>"),
        "/error": (_req, res) => {
            res.statusCode = 500;
            res.end("198.51.100.4\n");
        },
        // Accepts the request and never answers.
        "/silent": () => undefined,
    };
    const seen: string[] = [];
    let server: http.Server;
    let base: string;

    before(async () => {
        server = http.createServer((req, res) => {
            seen.push(`${req.method} ${req.url}`);
            (routes[req.url ?? ""] ?? ((_q, r) => r.writeHead(404).end()))(req, res);
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
    });

    it("returns the address the server answers, trimmed", async () => {
        assert.equal(await detectPublicIp(`${base}/ipv4`, 5000), "198.51.100.4");
        assert.ok(seen.includes("GET /ipv4"));
    });

    it("returns an IPv6 answer in canonical form", async () => {
        assert.equal(await detectPublicIp(`${base}/ipv6`, 5000), "2001:db8::7");
    });

    it("refuses an answer that is not an IP address", async () => {
        await assert.rejects(detectPublicIp(`${base}/garbage`, 5000), {
            message: `${base}/garbage answered "<html>you are behind a captive portal</html>", not an IP address`,
        });
    });

    it("refuses a non-2xx answer even when its body is an address", async () => {
        await assert.rejects(detectPublicIp(`${base}/error`, 5000), {
            message: `${base}/error answered 500`,
        });
    });

    it("gives up after timeoutMs when the server never answers", async () => {
        await assert.rejects(detectPublicIp(`${base}/silent`, 200), { name: "TimeoutError" });
        assert.ok(seen.includes("GET /silent"), "the request reached the server");
    });

    it("feeds resolveAdminCidrs a /32 end to end", async () => {
        assert.deepEqual(await resolveAdminCidrs(undefined, () => detectPublicIp(`${base}/ipv4`, 5000)), ["198.51.100.4/32"]);
    });

    it("makes resolveAdminCidrs fail with the detector's reason", async () => {
        await assert.rejects(
            resolveAdminCidrs(undefined, () => detectPublicIp(`${base}/error`, 5000)),
            {
                name: "ConfigError",
                message:
                    `berth:adminCidrs is required: set when your public IP cannot be detected (${base}/error answered 500): ` +
                    "a list of IPv4 or IPv6 CIDRs, e.g. pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32",
            },
        );
    });
});
