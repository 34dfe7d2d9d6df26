import * as ipaddr from "ipaddr.js";
import { ConfigError } from "./fields";

/** Where the operator's public address is asked for when `adminCidrs` is not set. */
export const PUBLIC_IP_URL = "https://checkip.amazonaws.com/";

/** Asks `url` for the caller's public address; bounded by `timeoutMs`. */
export async function detectPublicIp(url: string = PUBLIC_IP_URL, timeoutMs = 5000): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    const text = (await res.text()).trim();
    if (!ipaddr.isValid(text)) throw new Error(`${url} answered ${JSON.stringify(text.slice(0, 64))}, not an IP address`);
    return ipaddr.parse(text).toString();
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
    return [ipaddr.parse(ip).kind() === "ipv4" ? `${ip}/32` : `${ip}/128`];
}
