// The keys of nginx's limits on clients: the body size (also the app's MAX_BODY_SIZE), the slow-client
// timeout, and the per-address connection and rate limits.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { refusedWithVersion, withVersion } from "./expect";

const SIZE_FORM = 'a size from 1k to 1g: bytes, or a number with k, m or g ("512k", "1m")';

describe("parseConfig maxBodySize", () => {
    it("reads bytes and nginx's k, m and g suffixes, in any case, as bytes", () => {
        const cases: [string, number][] = [
            ["1024", 1024],
            ["1k", 1024],
            ["512K", 524288],
            ["1m", 1048576],
            ["10M", 10485760],
            ["1g", 1073741824],
            [" 64k ", 65536],
        ];
        for (const [text, bytes] of cases) assert.equal(withVersion({ maxBodySize: text }).maxBodySize, bytes, text);
    });

    it("refuses other forms and sizes outside 1k..1g, naming the key and the form", () => {
        for (const bad of ["0", "1023", "2g", "1025m", "1.5m", "10mb", "-1m", "1 m", "1t", "m", "01m", "ten"]) {
            refusedWithVersion({ maxBodySize: bad }, "maxBodySize", `berth:maxBodySize must be ${SIZE_FORM}, got ${JSON.stringify(bad)}`);
        }
    });

    it("is a name the app's environment holds, so appEnv may not set it", () => {
        assert.throws(() => withVersion({ appEnv: '{"MAX_BODY_SIZE":"5"}' }), /berth:appEnv must be .*MAX_BODY_SIZE/);
    });
});

describe("parseConfig clientTimeout, connLimitPerClient, rateLimitPerClient", () => {
    it("takes the bounds, 0 meaning no limit for the two limits", () => {
        assert.equal(withVersion({ clientTimeout: "1" }).clientTimeout, 1);
        assert.equal(withVersion({ clientTimeout: "600" }).clientTimeout, 600);
        assert.equal(withVersion({ connLimitPerClient: "0" }).connLimitPerClient, 0);
        assert.equal(withVersion({ connLimitPerClient: "100000" }).connLimitPerClient, 100000);
        assert.equal(withVersion({ rateLimitPerClient: "0" }).rateLimitPerClient, 0);
        assert.equal(withVersion({ rateLimitPerClient: "100000" }).rateLimitPerClient, 100000);
    });

    it("refuses values outside their ranges, naming the key and the range", () => {
        refusedWithVersion({ clientTimeout: "0" }, "clientTimeout", 'berth:clientTimeout must be an integer from 1 to 600, got "0"');
        refusedWithVersion({ clientTimeout: "15s" }, "clientTimeout", 'berth:clientTimeout must be an integer from 1 to 600, got "15s"');
        refusedWithVersion(
            { connLimitPerClient: "-1" },
            "connLimitPerClient",
            'berth:connLimitPerClient must be an integer from 0 to 100000, got "-1"',
        );
        refusedWithVersion(
            { rateLimitPerClient: "100001" },
            "rateLimitPerClient",
            'berth:rateLimitPerClient must be an integer from 0 to 100000, got "100001"',
        );
        refusedWithVersion(
            { rateLimitPerClient: "50r/s" },
            "rateLimitPerClient",
            'berth:rateLimitPerClient must be an integer from 0 to 100000, got "50r/s"',
        );
    });

    it("has defaults the e2e drills (50 connections, 300 requests a second from one address) stay well inside", () => {
        const cfg = withVersion({});
        assert.ok(cfg.connLimitPerClient > 50, `connLimitPerClient ${cfg.connLimitPerClient}`);
        assert.ok(cfg.rateLimitPerClient > 300, `rateLimitPerClient ${cfg.rateLimitPerClient}`);
        assert.ok(cfg.clientTimeout >= 15 && cfg.clientTimeout <= 30, `clientTimeout ${cfg.clientTimeout}`);
    });
});
