import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { adminAddressNotice, detectPublicIp, resolveAdminCidrs } from "../../../infra/config/admin";
import { ConfigError } from "../../../infra/config/fields";
import { runProgram } from "../../support/program";

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

    it("refuses a detected address that is not public: loopback, private, link-local, zone id, legacy IPv4 forms", async () => {
        for (const [ip, why] of [
            ["127.0.0.1", "a loopback address"],
            ["10.1.2.3", "a private address"],
            ["192.168.0.7", "a private address"],
            ["169.254.169.254", "a link-local address"],
            ["100.64.0.1", "a carrier-grade NAT address"],
            ["0.0.0.0", "an unspecified address"],
            ["::1", "a loopback address"],
            ["fe80::1", "a link-local address"],
            ["fd00::1", "a unique-local address"],
            ["fe80::1%eth0", "an address with a zone id"],
            ["0x7f.1", "not a dotted-quad IPv4 or an IPv6 address"],
            ["010.0.0.1", "not a dotted-quad IPv4 or an IPv6 address"],
        ] as const) {
            await assert.rejects(
                resolveAdminCidrs(undefined, async () => ip),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, ip);
                    assert.equal(err.key, "adminCidrs");
                    assert.equal(
                        err.message,
                        `berth:adminCidrs must be set: your address was detected as ${JSON.stringify(ip)}, ${why}, which is not a public ` +
                            "address to open SSH and the Docker API to. Set a list of IPv4 or IPv6 CIDRs, " +
                            "e.g. pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32",
                    );
                    return true;
                },
                ip,
            );
        }
    });

    it("refuses the detected address under mocks before anything is declared", async () => {
        for (const detectedIp of ["0x7f.1", "fe80::1%eth0", "192.168.1.20"]) {
            const r = await runProgram({ config: { appVersion: 1 }, detectedIp });
            assert.match(r.error ?? "", /^berth:adminCidrs (is required|must be set)/, detectedIp);
            assert.deepEqual(r.resources, [], detectedIp);
        }
        const ok = await runProgram({ config: { appVersion: 1 }, detectedIp: "198.51.100.23" });
        assert.equal(ok.error, undefined);
        assert.ok(ok.resources.length > 0);
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
        "/hex": (_req, res) => {
            res.end("0x7f.1\n");
        },
        "/zone": (_req, res) => {
            res.end("fe80::1%eth0\n");
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

    it("refuses a legacy IPv4 form or a zone-scoped answer as not an IP address", async () => {
        for (const path of ["/hex", "/zone"]) {
            await assert.rejects(detectPublicIp(`${base}${path}`, 5000), /answered ".*", not an IP address$/);
        }
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

describe("adminAddressNotice", () => {
    it("on the first deployment, says where SSH and the Docker API open and how to pin it", () => {
        assert.deepEqual(adminAddressNotice(undefined, ["203.0.113.7/32"]), {
            level: "info",
            message:
                "berth:adminCidrs is not set: SSH (22) and the Docker API (2376) open to your current address 203.0.113.7/32 only. " +
                "Pin it with: pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32",
        });
    });

    it("treats a group with no admin rule like a first deployment: nobody loses access", () => {
        assert.deepEqual(adminAddressNotice([], ["2001:db8::42/128"]), {
            level: "info",
            message:
                "berth:adminCidrs is not set: SSH (22) and the Docker API (2376) open to your current address 2001:db8::42/128 only. " +
                "Pin it with: pulumi config set --path 'adminCidrs[0]' 2001:db8::42/128",
        });
    });

    it("says nothing when the address is the one already open", () => {
        assert.equal(adminAddressNotice(["203.0.113.7/32"], ["203.0.113.7/32"]), undefined);
    });

    it("compares CIDRs in canonical form: AWS and the detector may spell an IPv6 address differently", () => {
        assert.equal(adminAddressNotice(["2001:DB8:0:0::42/128"], ["2001:db8::42/128"]), undefined);
    });

    it("warns with the old and the new address when the address changed, and how to keep both", () => {
        assert.deepEqual(adminAddressNotice(["198.51.100.7/32"], ["203.0.113.9/32"]), {
            level: "warn",
            message:
                "berth:adminCidrs is not set and your address changed: SSH and the Docker API move from 198.51.100.7/32 " +
                "to 203.0.113.9/32 with this update (the old address loses access). To keep both, set adminCidrs: " +
                "pulumi config set --path 'adminCidrs[0]' 198.51.100.7/32 && pulumi config set --path 'adminCidrs[1]' 203.0.113.9/32",
        });
    });

    it("names exactly the CIDRs that lose access when a wider list was open before", () => {
        assert.deepEqual(adminAddressNotice(["198.51.100.0/24", "203.0.113.9/32"], ["203.0.113.9/32"]), {
            level: "warn",
            message:
                "berth:adminCidrs is not set and your address changed: SSH and the Docker API move from 198.51.100.0/24, 203.0.113.9/32 " +
                "to 203.0.113.9/32 with this update (198.51.100.0/24 loses access). To keep both, set adminCidrs: " +
                "pulumi config set --path 'adminCidrs[0]' 198.51.100.0/24 && pulumi config set --path 'adminCidrs[1]' 203.0.113.9/32",
        });
        assert.deepEqual(adminAddressNotice(["198.51.100.7/32", "2001:db8::/64"], ["203.0.113.9/32"]), {
            level: "warn",
            message:
                "berth:adminCidrs is not set and your address changed: SSH and the Docker API move from 198.51.100.7/32, 2001:db8::/64 " +
                "to 203.0.113.9/32 with this update (the old addresses lose access). To keep them all, set adminCidrs: " +
                "pulumi config set --path 'adminCidrs[0]' 198.51.100.7/32 && pulumi config set --path 'adminCidrs[1]' 2001:db8::/64 && " +
                "pulumi config set --path 'adminCidrs[2]' 203.0.113.9/32",
        });
    });

    it("is deterministic and leaves its inputs alone", () => {
        const previous = Object.freeze(["198.51.100.7/32"]);
        const detected = Object.freeze(["203.0.113.9/32"]);
        assert.deepEqual(adminAddressNotice(previous, detected), adminAddressNotice(previous, detected));
    });
});
