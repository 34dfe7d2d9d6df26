/**
 * The HTTPS keys: the visitors' host names, the ACME account and directory, HSTS, and the optional
 * Route 53 zone. Read together, because they only mean something with `domain` set.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { ConfigError, recording, trimmed as present } from "./fields";
import { isImageReference } from "./image";
import type { RawConfig } from "./types";

/** Let's Encrypt's ACME directories (https://letsencrypt.org/docs/acme-protocol-updates/, "API Endpoints"). */
export const ACME_DIRECTORIES = {
    production: "https://acme-v02.api.letsencrypt.org/directory",
    staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const;

/**
 * The ACME client's image: the lego project's official one (https://hub.docker.com/r/goacme/lego), pinned to a
 * release; Alpine with busybox `sh`, lego at `/lego` (its buildx.Dockerfile).
 */
export const DEFAULT_ACME_IMAGE = "goacme/lego:v4.35.2";

/** Names on one certificate at most (https://letsencrypt.org/docs/rate-limits/, "Names per certificate"). */
export const MAX_CERTIFICATE_NAMES = 100;

/** HSTS max-age at most: two years, what browsers' preload lists ask for at most. */
export const MAX_HSTS_SECONDS = 63072000;

export interface HttpsConfig {
    /** The visitors' host name, lower case: the URL's host and the certificate's first name. */
    readonly domain: string;
    /** More names on the same certificate, served the same way. */
    readonly aliases: readonly string[];
    /** The ACME account's contact address (expiry and policy mail from the CA). */
    readonly acmeEmail: string;
    /** The ACME directory URL. */
    readonly acmeServer: string;
    /** PEM of the CA that signs the ACME server's own HTTPS certificate, for a private directory. */
    readonly acmeCaCertificate: string | undefined;
    /** The ACME client's image. */
    readonly acmeImage: string;
    /** Strict-Transport-Security max-age in seconds; 0: no header. */
    readonly hstsSeconds: number;
    /** The Route 53 hosted zone Berth creates the A records in; undefined: the operator creates them. */
    readonly route53ZoneId: string | undefined;
}

/** The HTTPS keys and what each is when not set (Pulumi.yaml's defaults, as the CLI passes them on). */
export const HTTPS_KEYS: Readonly<Record<string, string>> = {
    domain: "",
    domainAliases: "[]",
    acmeEmail: "",
    acmeServer: "production",
    acmeCaCertificate: "",
    acmeImage: DEFAULT_ACME_IMAGE,
    hstsSeconds: "0",
    route53ZoneId: "",
};

const DOMAIN_FORM =
    'a DNS name such as "app.example.com" (letters, digits and "-" in dot-separated labels, not an IP address or a wildcard)';

/** Why `name` cannot be a certificate's name, or undefined when it can. `name` is lower case, without a trailing dot. */
export function dnsNameProblem(name: string): string | undefined {
    if (isIP(name) !== 0 || /^\[.*\]$/.test(name)) {
        return "an IP address gets no certificate over HTTP-01: use a DNS name whose A record points at the host";
    }
    if (name.startsWith("*.")) return "a wildcard needs the DNS-01 challenge, which Berth does not use: list each name instead";
    if (name.length > 253) return "longer than 253 characters";
    const labels = name.split(".");
    if (labels.length < 2) return "a single label: use a fully qualified name such as app.example.com";
    for (const label of labels) {
        // RFC 1035 section 2.3.1 (letters, digits, hyphens, 1-63 characters, no hyphen at either end); RFC 5890
        // A-labels (xn--) are of the same form, so an internationalized name is given in its punycode form.
        if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) return `the label ${JSON.stringify(label)} is not a DNS label`;
    }
    // A numeric top-level label would make "1.2.3.4"-like names that are not IPs; no TLD is numeric (RFC 3696 section 2).
    if (/^[0-9]+$/.test(labels[labels.length - 1] ?? "")) return "the last label is numeric";
    return undefined;
}

/** One name as typed: trimmed, lower case, one trailing dot dropped; refused with the reason. */
function dnsName(key: string, text: string): string {
    const name = text.trim().toLowerCase().replace(/\.$/, "");
    const problem = dnsNameProblem(name);
    if (problem !== undefined) throw new ConfigError(key, DOMAIN_FORM, text, problem);
    return name;
}

function aliases(raw: RawConfig, domain: string): string[] {
    const v = present(raw, "domainAliases");
    if (v === undefined) return [];
    const form = `a list of DNS names such as ["www.example.com"], other than berth:domain, at most ${MAX_CERTIFICATE_NAMES - 1}`;
    let list: unknown = [v];
    if (v.trimStart().startsWith("[")) {
        try {
            list = JSON.parse(v);
        } catch {
            throw new ConfigError("domainAliases", form, v);
        }
    }
    if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) throw new ConfigError("domainAliases", form, v);
    const names = list.map((x: string) => dnsName("domainAliases", x));
    const seen = new Set<string>([domain]);
    for (const n of names) {
        if (seen.has(n)) throw new ConfigError("domainAliases", form, v, `${n} is listed twice, or is berth:domain itself`);
        seen.add(n);
    }
    if (names.length > MAX_CERTIFICATE_NAMES - 1) throw new ConfigError("domainAliases", form, v, `${names.length} names`);
    return names;
}

function acmeServer(raw: RawConfig): string {
    const v = present(raw, "acmeServer");
    const form = `"production" (Let's Encrypt), "staging" (Let's Encrypt's staging directory) or an ACME directory URL starting with https://`;
    if (v === undefined || v === "production") return ACME_DIRECTORIES.production;
    if (v === "staging") return ACME_DIRECTORIES.staging;
    let url: URL;
    try {
        url = new URL(v);
    } catch {
        throw new ConfigError("acmeServer", form, v);
    }
    // A user or password in the URL is refused without repeating the value: it would be a credential.
    if (url.username !== "" || url.password !== "") {
        throw ConfigError.withoutValue("acmeServer", form, "it holds a user name or password, which an ACME directory URL never does");
    }
    if (url.protocol !== "https:" || /[\s'"\\`$]/.test(v)) throw new ConfigError("acmeServer", form, v);
    return v;
}

function caCertificate(raw: RawConfig, server: string): string | undefined {
    const v = present(raw, "acmeCaCertificate");
    if (v === undefined) return undefined;
    const form = "the PEM text of the CA certificate(s) that sign the ACME server's HTTPS certificate";
    const blocks = v.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw ConfigError.withoutValue("acmeCaCertificate", form, "no PEM certificate block found");
    for (const b of blocks) {
        try {
            new X509Certificate(b);
        } catch {
            throw ConfigError.withoutValue("acmeCaCertificate", form, "a block is not a valid certificate");
        }
    }
    if (server === ACME_DIRECTORIES.production || server === ACME_DIRECTORIES.staging) {
        throw ConfigError.withoutValue(
            "acmeCaCertificate",
            "unset with Let's Encrypt's directories (their certificates are publicly trusted)",
            "it is for a private berth:acmeServer",
        );
    }
    return `${blocks.join("\n")}\n`;
}

function integer(raw: RawConfig, key: string, min: number, max: number, def: number): number {
    const v = present(raw, key);
    if (v === undefined) return def;
    const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!(Number.isSafeInteger(n) && n >= min && n <= max)) throw new ConfigError(key, `an integer from ${min} to ${max}`, v);
    return n;
}

/**
 * The HTTPS settings, or undefined when `domain` is unset (HTTP only). Every problem is recorded through
 * `fail`, so they are all reported at once; a key set without `domain` is one of them.
 */
export function parseHttps(raw: RawConfig, fail: (e: ConfigError) => void): HttpsConfig | undefined {
    const attempt = recording(fail);
    const domainText = present(raw, "domain");
    if (domainText === undefined) {
        for (const [key, def] of Object.entries(HTTPS_KEYS)) {
            if (key === "domain") continue;
            const v = (raw[key] ?? "").replace(/\s+/g, "");
            if (v !== "" && v !== def.replace(/\s+/g, "")) {
                const err = ConfigError.withoutValue(key, "unset while berth:domain is unset", "it only applies to HTTPS");
                err.message = `berth:${key} only applies with berth:domain set (HTTPS): set berth:domain too, or remove it with pulumi config rm ${key}`;
                fail(err);
            }
        }
        return undefined;
    }
    const domain = attempt(() => dnsName("domain", domainText), "invalid.invalid");
    const email = present(raw, "acmeEmail");
    const emailForm = 'an email address such as "ops@example.com": the ACME account\'s contact, for expiry notices';
    if (email === undefined) fail(new ConfigError("acmeEmail", `${emailForm} (required with berth:domain)`, undefined));
    else if (!/^[^\s@"'\\`$<>()]+@[a-z0-9.-]+\.[a-z]{2,63}$/i.test(email.trim()) || email.trim().length > 254) {
        fail(new ConfigError("acmeEmail", emailForm, email));
    }
    const server = attempt(() => acmeServer(raw), ACME_DIRECTORIES.production);
    return {
        domain,
        aliases: attempt(() => aliases(raw, domain), []),
        acmeEmail: (email ?? "").trim(),
        acmeServer: server,
        acmeCaCertificate: attempt(() => caCertificate(raw, server), undefined),
        acmeImage: attempt(() => {
            const v = present(raw, "acmeImage");
            if (v !== undefined && !isImageReference(v)) {
                throw new ConfigError("acmeImage", `an image reference such as "${DEFAULT_ACME_IMAGE}" (a lego image)`, v);
            }
            return v ?? DEFAULT_ACME_IMAGE;
        }, DEFAULT_ACME_IMAGE),
        hstsSeconds: attempt(() => integer(raw, "hstsSeconds", 0, MAX_HSTS_SECONDS, 0), 0),
        route53ZoneId: attempt(() => {
            const v = present(raw, "route53ZoneId");
            if (v === undefined) return undefined;
            // Route 53 hosted zone ids: "Z" and upper-case letters and digits; the API's "/hostedzone/" prefix is dropped.
            const id = v.trim().replace(/^\/?hostedzone\//, "");
            if (!/^Z[A-Z0-9]{1,31}$/.test(id))
                throw new ConfigError("route53ZoneId", 'a Route 53 hosted zone id such as "Z0123456789ABCDEFGHIJ"', v);
            return id;
        }, undefined),
    };
}
