import * as ipaddr from "ipaddr.js";
import { ADDRESS_SHAPE, ConfigError } from "./fields";

/** Where the operator's public address is asked for when `adminCidrs` is not set. */
export const PUBLIC_IP_URL = "https://checkip.amazonaws.com/";

/** Asks `url` for the caller's public address; bounded by `timeoutMs`. */
export async function detectPublicIp(url: string = PUBLIC_IP_URL, timeoutMs = 5000): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    const text = (await res.text()).trim();
    // Dotted-quad IPv4 or IPv6 only, as for configured CIDRs: ipaddr.js also reads "0x7f.1" (127.0.0.1).
    if (!new RegExp(`^${ADDRESS_SHAPE}$`).test(text) || !ipaddr.isValid(text)) {
        throw new Error(`${url} answered ${JSON.stringify(text.slice(0, 64))}, not an IP address`);
    }
    return ipaddr.parse(text).toString();
}

/**
 * ipaddr.js's names (lib/ipaddr.js, the SpecialRanges of IPv4 and IPv6) of the ranges a public address
 * as seen by checkip.amazonaws.com can never be in: an answer in one of them is not the operator's
 * address on the internet (a proxy, a captive portal or a wrong answer), and AWS would never see it as
 * the source of a connection.
 */
const NOT_PUBLIC: Readonly<Record<string, string>> = {
    unspecified: "an unspecified address",
    broadcast: "the broadcast address",
    multicast: "a multicast address",
    linkLocal: "a link-local address",
    loopback: "a loopback address",
    private: "a private address",
    carrierGradeNat: "a carrier-grade NAT address",
    uniqueLocal: "a unique-local address",
    ipv4Mapped: "an IPv4-mapped address",
};

/** Why `ip` cannot be the operator's public address, or undefined when it can. */
export function detectedAddressProblem(ip: string): string | undefined {
    if (ip.includes("%")) return "an address with a zone id";
    if (!new RegExp(`^${ADDRESS_SHAPE}$`).test(ip) || !ipaddr.isValid(ip)) return "not a dotted-quad IPv4 or an IPv6 address";
    return NOT_PUBLIC[ipaddr.parse(ip).range()];
}

/**
 * The CIDRs allowed on SSH and the Docker API: the configured ones, or else the operator's own
 * address as a single-host CIDR. Fails with a message that says which key to set.
 */
export async function resolveAdminCidrs(
    configured: readonly string[] | undefined,
    detect: () => Promise<string> = () => detectPublicIp(),
): Promise<string[]> {
    if (configured !== undefined) return [...configured];
    let ip: string;
    try {
        ip = await detect();
    } catch (err) {
        throw new ConfigError(
            "adminCidrs",
            `set when your public IP cannot be detected (${(err as Error).message}): a list of IPv4 or IPv6 CIDRs, ` +
                `e.g. pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32`,
            undefined,
        );
    }
    const problem = detectedAddressProblem(ip);
    if (problem !== undefined) {
        throw ConfigError.withoutValue(
            "adminCidrs",
            `set: your address was detected as ${JSON.stringify(ip.slice(0, 64))}, ${problem}, which is not a public address to open SSH ` +
                `and the Docker API to. Set a list of IPv4 or IPv6 CIDRs, e.g. pulumi config set --path 'adminCidrs[0]' 203.0.113.7/32`,
        );
    }
    const addr = ipaddr.parse(ip);
    return [addr.kind() === "ipv4" ? `${addr.toString()}/32` : `${addr.toString()}/128`];
}

/** What to tell the operator about the auto-detected admin address, and how loudly. */
export interface AdminNotice {
    level: "info" | "warn";
    message: string;
}

/** `cidr` in ipaddr.js's canonical form (IPv6 compressed, lower case), or as given if it is not a CIDR. */
function canonicalCidr(cidr: string): string {
    if (!ipaddr.isValidCIDR(cidr)) return cidr;
    const [addr, bits] = ipaddr.parseCIDR(cidr);
    return `${addr.toString()}/${bits}`;
}

/** The commands that set `adminCidrs` to exactly `cidrs`. */
function pinCommand(cidrs: readonly string[]): string {
    return cidrs.map((c, i) => `pulumi config set --path 'adminCidrs[${i}]' ${c}`).join(" && ");
}

/**
 * Says what auto-detection does to SSH and the Docker API, given what they are open to now
 * (`previous`: undefined before the first deployment) and the CIDRs detected for this run. Undefined
 * when nothing changes. A change is a warning: the old address loses access with this update, and the
 * operator may be locking out a colleague, or themselves on another network.
 */
export function adminAddressNotice(previous: readonly string[] | undefined, detected: readonly string[]): AdminNotice | undefined {
    const now = [...new Set(detected.map(canonicalCidr))];
    const before = [...new Set((previous ?? []).map(canonicalCidr))];
    if (before.length === 0) {
        return {
            level: "info",
            message:
                `berth:adminCidrs is not set: SSH (22) and the Docker API (2376) open to your current ` +
                `${now.length === 1 ? "address" : "addresses"} ${now.join(", ")} only. Pin it with: ${pinCommand(now)}`,
        };
    }
    const removed = before.filter((c) => !now.includes(c));
    const added = now.filter((c) => !before.includes(c));
    if (removed.length === 0 && added.length === 0) return undefined;
    const lost =
        removed.length === before.length
            ? before.length === 1
                ? " (the old address loses access)"
                : " (the old addresses lose access)"
            : removed.length === 0
              ? ""
              : ` (${removed.join(", ")} ${removed.length === 1 ? "loses" : "lose"} access)`;
    const all = [...before, ...added];
    return {
        level: "warn",
        message:
            `berth:adminCidrs is not set and your address changed: SSH and the Docker API move from ${before.join(", ")} ` +
            `to ${now.join(", ")} with this update${lost}. ` +
            `To keep ${all.length === 2 ? "both" : "them all"}, set adminCidrs: ${pinCommand(all)}`,
    };
}
