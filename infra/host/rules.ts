/** Which port is open to whom: decided here, wired in the host component. */
export interface IngressRule {
    port: number;
    cidr: string;
    family: "ipv4" | "ipv6";
    description: string;
    /** Stable, unique part of the rule's resource name. */
    key: string;
}

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
export const SSH_PORT = 22;
export const DOCKER_TLS_PORT = 2376;

const WORLD = ["0.0.0.0/0", "::/0"];

function rule(port: number, cidr: string, description: string): IngressRule {
    return {
        port,
        cidr,
        family: cidr.includes(":") ? "ipv6" : "ipv4",
        description,
        key: `${port}-${cidr.includes(":") ? "ipv6" : "ipv4"}-${cidr.replace(/[:/]/g, "_")}`,
    };
}

/**
 * HTTP for everyone, and HTTPS with `https`; SSH and the mutual-TLS Docker API only for the admin CIDRs.
 * The plain Docker port 2375 is never opened.
 */
export function ingressRules(adminCidrs: readonly string[], opts: { https?: boolean } = {}): IngressRule[] {
    if (adminCidrs.length === 0) throw new Error("ingressRules: at least one admin CIDR is needed");
    return [
        ...WORLD.map((c) => rule(HTTP_PORT, c, "HTTP for visitors")),
        ...(opts.https ? WORLD.map((c) => rule(HTTPS_PORT, c, "HTTPS for visitors")) : []),
        ...adminCidrs.map((c) => rule(SSH_PORT, c, "SSH for admins")),
        ...adminCidrs.map((c) => rule(DOCKER_TLS_PORT, c, "Docker API over mutual TLS for admins")),
    ];
}
