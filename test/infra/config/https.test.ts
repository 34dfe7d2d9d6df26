// The HTTPS keys (infra/config/https.ts through parseConfig): the visitors' names, the ACME account and
// directory, HSTS and the Route 53 zone; what each accepts, how it is normalized, and every refusal.
import { strict as assert } from "node:assert";
import { before, describe, it } from "node:test";
import { ACME_DIRECTORIES, ConfigError, DEFAULT_ACME_IMAGE, HTTPS_KEYS } from "../../../infra/config/parse";
import { privateKey, selfSignedCert } from "../../support/tls-crypto";
import { errorOf, refusedWithVersion, withVersion } from "./expect";

const DOMAIN_FORM =
    'a DNS name such as "app.example.com" (letters, digits and "-" in dot-separated labels, not an IP address or a wildcard)';
const ALIASES_FORM = 'a list of DNS names such as ["www.example.com"], other than berth:domain, at most 99';
const EMAIL_FORM = 'an email address such as "ops@example.com": the ACME account\'s contact, for expiry notices';
const SERVER_FORM =
    '"production" (Let\'s Encrypt), "staging" (Let\'s Encrypt\'s staging directory) or an ACME directory URL starting with https://';
const CA_FORM = "the PEM text of the CA certificate(s) that sign the ACME server's HTTPS certificate";
const ZONE_FORM = 'a Route 53 hosted zone id such as "Z0123456789ABCDEFGHIJ"';

const HTTPS = { domain: "app.example.com", acmeEmail: "ops@example.com" };
const PRIVATE_DIRECTORY = "https://acme.internal.example:14000/dir";

/** The refusal of `domain` (or an alias, with `key`) for `text`, with its reason. */
const badName = (key: string, form: string, text: string, reason: string) =>
    `berth:${key} must be ${form}, got ${JSON.stringify(text)} (${reason})`;

describe("parseConfig HTTPS: accepted forms", () => {
    let caPem = "";
    before(() => {
        const key = String(privateKey({ algorithm: "RSA", rsaBits: 2048 }).privateKeyPem);
        caPem = String(
            selfSignedCert({
                privateKeyPem: key,
                isCaCertificate: true,
                validityPeriodHours: 24,
                allowedUses: ["cert_signing"],
                subject: { commonName: "Private ACME CA" },
            }).certPem,
        );
    });

    it("is off (undefined) without domain, also with every other key at the default the CLI passes on", () => {
        assert.equal(withVersion({}).https, undefined);
        const defaults = Object.fromEntries(Object.entries(HTTPS_KEYS).filter(([k]) => k !== "domain"));
        assert.equal(withVersion({ ...defaults, domain: "" }).https, undefined);
        assert.equal(withVersion({ domain: "   " }).https, undefined, "blank is unset");
    });

    it("gives the defaults with domain and acmeEmail: Let's Encrypt's production directory, the pinned lego, no HSTS, no zone", () => {
        assert.deepEqual(
            { ...withVersion(HTTPS).https },
            {
                domain: "app.example.com",
                aliases: [],
                acmeEmail: "ops@example.com",
                acmeServer: "https://acme-v02.api.letsencrypt.org/directory",
                acmeCaCertificate: undefined,
                acmeImage: DEFAULT_ACME_IMAGE,
                hstsSeconds: 0,
                route53ZoneId: undefined,
            },
        );
        assert.equal(ACME_DIRECTORIES.production, "https://acme-v02.api.letsencrypt.org/directory");
        // Pulumi.yaml's defaults, as the CLI passes them on, are the same as unset.
        const withDefaults = withVersion({ ...HTTPS_KEYS, ...HTTPS }).https;
        assert.deepEqual({ ...withDefaults }, { ...withVersion(HTTPS).https });
    });

    it("writes names in lower case without the trailing dot, trimmed", () => {
        assert.equal(withVersion({ ...HTTPS, domain: "App.Example.COM." }).https?.domain, "app.example.com");
        assert.equal(withVersion({ ...HTTPS, domain: " app.example.com " }).https?.domain, "app.example.com");
        assert.equal(withVersion({ ...HTTPS, domain: "xn--bcher-kva.example" }).https?.domain, "xn--bcher-kva.example");
        assert.equal(withVersion({ ...HTTPS, acmeEmail: " ops@example.com " }).https?.acmeEmail, "ops@example.com");
        const longest = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
        assert.equal(longest.length, 253);
        assert.equal(withVersion({ ...HTTPS, domain: longest }).https?.domain, longest, "253 characters, labels of 63: the limits");
    });

    it('takes "staging" for Let\'s Encrypt\'s staging directory, "production", or an https URL as given', () => {
        assert.equal(
            withVersion({ ...HTTPS, acmeServer: "staging" }).https?.acmeServer,
            "https://acme-staging-v02.api.letsencrypt.org/directory",
        );
        assert.equal(withVersion({ ...HTTPS, acmeServer: "production" }).https?.acmeServer, ACME_DIRECTORIES.production);
        assert.equal(withVersion({ ...HTTPS, acmeServer: PRIVATE_DIRECTORY }).https?.acmeServer, PRIVATE_DIRECTORY);
    });

    it("takes aliases as a JSON list or as one name, normalized like domain", () => {
        assert.deepEqual(withVersion({ ...HTTPS, domainAliases: '["WWW.example.com.", "api.example.com"]' }).https?.aliases, [
            "www.example.com",
            "api.example.com",
        ]);
        assert.deepEqual(withVersion({ ...HTTPS, domainAliases: "WWW.Example.com." }).https?.aliases, ["www.example.com"]);
        assert.deepEqual(withVersion({ ...HTTPS, domainAliases: "[]" }).https?.aliases, []);
    });

    it("takes a CA certificate's PEM with a private directory, keeping only the certificate blocks", () => {
        const https = withVersion({ ...HTTPS, acmeServer: PRIVATE_DIRECTORY, acmeCaCertificate: `comment line\n${caPem}\n\n` }).https;
        assert.equal(https?.acmeCaCertificate, `${caPem.trim()}\n`);
        const two = withVersion({ ...HTTPS, acmeServer: PRIVATE_DIRECTORY, acmeCaCertificate: `${caPem}${caPem}` }).https;
        assert.equal(two?.acmeCaCertificate, `${caPem.trim()}\n${caPem.trim()}\n`);
    });

    it("takes hstsSeconds from 0 to two years, an acmeImage reference, and a zone id with or without /hostedzone/", () => {
        assert.equal(withVersion({ ...HTTPS, hstsSeconds: "0" }).https?.hstsSeconds, 0);
        assert.equal(withVersion({ ...HTTPS, hstsSeconds: "63072000" }).https?.hstsSeconds, 63072000);
        assert.equal(withVersion({ ...HTTPS, acmeImage: "goacme/lego:v4.20.0" }).https?.acmeImage, "goacme/lego:v4.20.0");
        assert.equal(withVersion({ ...HTTPS, route53ZoneId: "Z0123456789ABCDEFGHIJ" }).https?.route53ZoneId, "Z0123456789ABCDEFGHIJ");
        assert.equal(
            withVersion({ ...HTTPS, route53ZoneId: "/hostedzone/Z0123456789ABCDEFGHIJ" }).https?.route53ZoneId,
            "Z0123456789ABCDEFGHIJ",
            "the prefix the API's ids carry is dropped",
        );
    });

    it("refuses a CA certificate with Let's Encrypt's directories, without showing it", () => {
        for (const server of [undefined, "production", "staging"]) {
            refusedWithVersion(
                { ...HTTPS, ...(server === undefined ? {} : { acmeServer: server }), acmeCaCertificate: caPem },
                "acmeCaCertificate",
                "berth:acmeCaCertificate must be unset with Let's Encrypt's directories (their certificates are publicly trusted) " +
                    "(it is for a private berth:acmeServer)",
            );
        }
    });
});

describe("parseConfig HTTPS: refusals naming the key and the form", () => {
    it("refuses IP addresses as domain, v4 and v6, bracketed or not", () => {
        const reason = "an IP address gets no certificate over HTTP-01: use a DNS name whose A record points at the host";
        for (const ip of ["203.0.113.5", "203.0.113.5.", "2001:db8::1", "[2001:db8::1]"]) {
            refusedWithVersion({ ...HTTPS, domain: ip }, "domain", badName("domain", DOMAIN_FORM, ip, reason));
        }
    });

    it("refuses a wildcard, a single label, and labels that are not DNS labels", () => {
        const cases: [string, string][] = [
            ["*.example.com", "a wildcard needs the DNS-01 challenge, which Berth does not use: list each name instead"],
            ["localhost", "a single label: use a fully qualified name such as app.example.com"],
            ["LOCALHOST.", "a single label: use a fully qualified name such as app.example.com"],
            ["my_app.example.com", 'the label "my_app" is not a DNS label'],
            ["-app.example.com", 'the label "-app" is not a DNS label'],
            ["app-.example.com", 'the label "app-" is not a DNS label'],
            ["app..example.com", 'the label "" is not a DNS label'],
            [`${"a".repeat(64)}.example.com`, `the label "${"a".repeat(64)}" is not a DNS label`],
            ["app.example.com:443", 'the label "com:443" is not a DNS label'],
            ["bücher.example", 'the label "bücher" is not a DNS label'],
            ["app.example.123", "the last label is numeric"],
        ];
        for (const [name, reason] of cases) {
            refusedWithVersion({ ...HTTPS, domain: name }, "domain", badName("domain", DOMAIN_FORM, name, reason));
        }
    });

    it("refuses a name longer than 253 characters", () => {
        const name = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`;
        assert.equal(name.length, 254);
        refusedWithVersion({ ...HTTPS, domain: name }, "domain", badName("domain", DOMAIN_FORM, name, "longer than 253 characters"));
    });

    it("requires acmeEmail with domain, and refuses what is not an email address", () => {
        refusedWithVersion(
            { domain: "app.example.com" },
            "acmeEmail",
            `berth:acmeEmail is required: ${EMAIL_FORM} (required with berth:domain)`,
        );
        for (const bad of ["not an email", "ops@localhost", "ops@@example.com", "ops@example.c", "$(reboot)@example.com"]) {
            refusedWithVersion(
                { ...HTTPS, acmeEmail: bad },
                "acmeEmail",
                `berth:acmeEmail must be ${EMAIL_FORM}, got ${JSON.stringify(bad)}`,
            );
        }
    });

    it("refuses an alias equal to domain, one listed twice, a bad name among them, and what is not a list of names", () => {
        const twice = (list: string, name: string) =>
            `berth:domainAliases must be ${ALIASES_FORM}, got ${JSON.stringify(list)} (${name} is listed twice, or is berth:domain itself)`;
        for (const [list, name] of [
            ['["App.Example.com."]', "app.example.com"],
            ["app.example.com", "app.example.com"],
            ['["www.example.com", "WWW.example.com"]', "www.example.com"],
        ] as const) {
            refusedWithVersion({ ...HTTPS, domainAliases: list }, "domainAliases", twice(list, name));
        }
        refusedWithVersion(
            { ...HTTPS, domainAliases: '["www.example.com", "*.example.com"]' },
            "domainAliases",
            badName(
                "domainAliases",
                DOMAIN_FORM,
                "*.example.com",
                "a wildcard needs the DNS-01 challenge, which Berth does not use: list each name instead",
            ),
        );
        for (const bad of ['["www.example.com"', "[1]", '{"a": "www.example.com"}']) {
            const message = bad.startsWith("{")
                ? badName("domainAliases", DOMAIN_FORM, bad, `the label ${JSON.stringify('{"a": "www')} is not a DNS label`)
                : `berth:domainAliases must be ${ALIASES_FORM}, got ${JSON.stringify(bad)}`;
            refusedWithVersion({ ...HTTPS, domainAliases: bad }, "domainAliases", message);
        }
        const hundred = JSON.stringify(Array.from({ length: 100 }, (_, n) => `n${n}.example.com`));
        refusedWithVersion(
            { ...HTTPS, domainAliases: hundred },
            "domainAliases",
            `berth:domainAliases must be ${ALIASES_FORM}, got ${JSON.stringify(hundred)} (100 names)`,
        );
    });

    it("refuses an acmeServer over http, or that is neither a keyword nor a URL", () => {
        for (const bad of [
            "http://acme.example.com/directory",
            "garbage",
            "Staging",
            "ftp://acme.example.com/",
            "https://acme.example.com/$(id)",
        ]) {
            refusedWithVersion(
                { ...HTTPS, acmeServer: bad },
                "acmeServer",
                `berth:acmeServer must be ${SERVER_FORM}, got ${JSON.stringify(bad)}`,
            );
        }
    });

    it("refuses an acmeServer with a user and password in it, without repeating them", () => {
        const err = errorOf({ appVersion: "1", ...HTTPS, acmeServer: "https://ops:s3cret-pass@acme.example.com/dir" });
        assert.deepEqual(
            err.errors.map((e) => (e as ConfigError).key),
            ["acmeServer"],
        );
        assert.match(err.message, /^berth:acmeServer must be /);
        assert.ok(!err.message.includes("s3cret-pass"), err.message);
    });

    it("refuses an acmeCaCertificate that is not PEM, or whose block is no certificate, without showing it", () => {
        const server = { ...HTTPS, acmeServer: PRIVATE_DIRECTORY };
        refusedWithVersion(
            { ...server, acmeCaCertificate: "hello" },
            "acmeCaCertificate",
            `berth:acmeCaCertificate must be ${CA_FORM} (no PEM certificate block found)`,
        );
        const fake = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        refusedWithVersion(
            { ...server, acmeCaCertificate: fake },
            "acmeCaCertificate",
            `berth:acmeCaCertificate must be ${CA_FORM} (a block is not a valid certificate)`,
        );
    });

    it("refuses hstsSeconds outside 0..63072000 or not an integer", () => {
        for (const bad of ["-1", "63072001", "1e3", "1.5", "a year"]) {
            refusedWithVersion(
                { ...HTTPS, hstsSeconds: bad },
                "hstsSeconds",
                `berth:hstsSeconds must be an integer from 0 to 63072000, got ${JSON.stringify(bad)}`,
            );
        }
    });

    it("refuses a zone id that is not a Route 53 hosted zone id", () => {
        for (const bad of ["z0123456789", "0123456789", "Z", "/hostedzone/", "Z0123-456", "example.com", `Z${"A".repeat(32)}`]) {
            refusedWithVersion(
                { ...HTTPS, route53ZoneId: bad },
                "route53ZoneId",
                `berth:route53ZoneId must be ${ZONE_FORM}, got ${JSON.stringify(bad)}`,
            );
        }
    });

    it("refuses an acmeImage that is no image reference", () => {
        refusedWithVersion(
            { ...HTTPS, acmeImage: "lego::latest" },
            "acmeImage",
            `berth:acmeImage must be an image reference such as "${DEFAULT_ACME_IMAGE}" (a lego image), got "lego::latest"`,
        );
    });
});

describe("parseConfig HTTPS: keys without domain, the other target, several problems", () => {
    const WITHOUT_DOMAIN: Record<string, string> = {
        domainAliases: '["www.example.com"]',
        acmeEmail: "ops@example.com",
        acmeServer: "staging",
        acmeCaCertificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        acmeImage: "goacme/lego:v4.20.0",
        hstsSeconds: "31536000",
        route53ZoneId: "Z0123456789ABCDEFGHIJ",
    };
    const onlyWithDomain = (key: string) =>
        `berth:${key} only applies with berth:domain set (HTTPS): set berth:domain too, or remove it with pulumi config rm ${key}`;

    it("lists every HTTPS key but domain here", () => {
        assert.deepEqual(
            Object.keys(WITHOUT_DOMAIN).sort(),
            Object.keys(HTTPS_KEYS)
                .filter((k) => k !== "domain")
                .sort(),
        );
    });

    it("refuses each HTTPS key set without domain, naming it and the two ways out", () => {
        for (const [key, value] of Object.entries(WITHOUT_DOMAIN)) {
            refusedWithVersion({ [key]: value }, key, onlyWithDomain(key));
            refusedWithVersion({ domain: "", [key]: value }, key, onlyWithDomain(key));
        }
    });

    it("refuses them all at once, one line per key, never showing a value", () => {
        const err = errorOf({ appVersion: "1", ...WITHOUT_DOMAIN });
        const keys = Object.keys(HTTPS_KEYS).filter((k) => k !== "domain");
        assert.deepEqual(
            err.errors.map((e) => (e as ConfigError).key),
            keys,
        );
        assert.equal(err.message, keys.map(onlyWithDomain).join("\n"));
        for (const value of Object.values(WITHOUT_DOMAIN)) {
            assert.ok(!err.message.includes(value), `${value} is not shown`);
        }
    });

    it("refuses domain on target local as a key of target aws", () => {
        refusedWithVersion(
            { target: "local", domain: "app.example.com" },
            "domain",
            "berth:domain only applies to target aws, and this stack's target is local: remove it with pulumi config rm domain",
        );
        const err = errorOf({ appVersion: "1", target: "local", ...HTTPS });
        assert.deepEqual(
            err.errors.map((e) => (e as ConfigError).key),
            ["domain", "acmeEmail"],
            "each key of target aws by name, and no complaint that acmeEmail lacks a domain",
        );
        assert.equal(withVersion({ target: "local", ...HTTPS_KEYS }).https, undefined, "the defaults the CLI passes on are no problem");
    });

    it("reports every problem at once: two bad keys, two lines", () => {
        const err = errorOf({ appVersion: "1", ...HTTPS, acmeEmail: "not an email", hstsSeconds: "forever" });
        assert.deepEqual(
            err.errors.map((e) => (e as ConfigError).key),
            ["acmeEmail", "hstsSeconds"],
        );
        assert.equal(
            err.message,
            [
                `berth:acmeEmail must be ${EMAIL_FORM}, got "not an email"`,
                'berth:hstsSeconds must be an integer from 0 to 63072000, got "forever"',
            ].join("\n"),
        );
        const more = errorOf({
            appVersion: "1",
            domain: "localhost",
            domainAliases: "[",
            acmeServer: "http://acme.example.com/",
            route53ZoneId: "nope",
            appPort: "0",
        });
        assert.deepEqual(
            more.errors.map((e) => (e as ConfigError).key),
            ["appPort", "domain", "domainAliases", "acmeEmail", "acmeServer", "route53ZoneId"],
        );
        assert.equal(more.message.split("\n").length, 6);
    });
});
