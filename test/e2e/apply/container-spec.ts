/**
 * The Docker Engine API body for a container the program declared: the provider's inputs
 * (docker.Container) mapped the way the provider maps them, plus the few remaps a test machine
 * needs (the data directory, the engine's names of networks and volumes, a free host port). Pure.
 */
export interface Remaps {
    /** The engine image to run. */
    image: string;
    /** Engine network name for each network name the program declared. */
    network: (declared: string) => string;
    /** Engine volume name for each volume name the program declared. */
    volume: (declared: string) => string;
    /** Host directory standing in for the host path (e.g. /opt/data/mysql). */
    hostPath: (declared: string) => string;
}

interface Inputs {
    command?: string[];
    entrypoints?: string[];
    envs?: string[];
    labels?: { label: string; value: string }[];
    healthcheck?: { tests: string[]; interval?: string; timeout?: string; retries?: number; startPeriod?: string };
    stopSignal?: string;
    stopTimeout?: number;
    restart?: string;
    maxRetryCount?: number;
    init?: boolean;
    user?: string;
    workingDir?: string;
    volumes?: { hostPath?: string; volumeName?: string; containerPath: string; readOnly?: boolean }[];
    ports?: { internal: number; external?: number; protocol?: string; ip?: string }[];
    networksAdvanced?: { name: string; aliases?: string[] }[];
    sysctls?: Record<string, string>;
    cpuShares?: number;
}

/** Go duration text ("5s", "1m30s", "250ms") to nanoseconds, as the Engine API wants. */
export function durationNs(text: string | undefined): number | undefined {
    if (text === undefined || text === "") return undefined;
    const units: Record<string, number> = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, ns: 1 };
    let total = 0;
    let rest = text;
    const re = /^(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/;
    while (rest.length > 0) {
        const m = re.exec(rest);
        const unit = m ? units[m[2] ?? ""] : undefined;
        if (!m || unit === undefined) throw new Error(`not a Go duration: ${JSON.stringify(text)}`);
        total += Number(m[1]) * unit;
        rest = rest.slice(m[0].length);
    }
    return Math.round(total);
}

export function containerCreateBody(raw: Record<string, unknown>, remap: Remaps): Record<string, unknown> {
    const i = raw as Inputs;
    const nets = i.networksAdvanced ?? [];
    const ports = i.ports ?? [];
    const hc = i.healthcheck;
    return {
        Image: remap.image,
        Cmd: i.command,
        Entrypoint: i.entrypoints,
        Env: i.envs ?? [],
        User: i.user,
        WorkingDir: i.workingDir,
        Labels: Object.fromEntries((i.labels ?? []).map((l) => [l.label, l.value])),
        Healthcheck: hc && {
            Test: hc.tests,
            Interval: durationNs(hc.interval),
            Timeout: durationNs(hc.timeout),
            Retries: hc.retries,
            StartPeriod: durationNs(hc.startPeriod),
        },
        StopSignal: i.stopSignal,
        StopTimeout: i.stopTimeout,
        ExposedPorts: Object.fromEntries(ports.map((p) => [`${p.internal}/${p.protocol ?? "tcp"}`, {}])),
        HostConfig: {
            RestartPolicy: { Name: i.restart ?? "no", MaximumRetryCount: i.maxRetryCount ?? 0 },
            Init: i.init,
            Sysctls: i.sysctls,
            CpuShares: i.cpuShares,
            // A host path wins over a volume name (resource_docker_container_structures.go, volumeSetToDockerVolumes).
            Binds: (i.volumes ?? [])
                .filter((v) => v.hostPath || v.volumeName)
                .map(
                    (v) =>
                        `${v.hostPath ? remap.hostPath(v.hostPath) : remap.volume(v.volumeName!)}:${v.containerPath}${v.readOnly ? ":ro" : ""}`,
                ),
            // The host port the program publishes (80, or localPort) becomes a free port here, on the address
            // it names (portSetToDockerPorts: HostIP from `ip`), or on loopback when it names none (all addresses).
            PortBindings: Object.fromEntries(
                ports.map((p) => [`${p.internal}/${p.protocol ?? "tcp"}`, [{ HostIp: p.ip ?? "127.0.0.1", HostPort: "" }]]),
            ),
            NetworkMode: nets[0] ? remap.network(nets[0].name) : undefined,
        },
        NetworkingConfig: {
            EndpointsConfig: Object.fromEntries(nets.map((n) => [remap.network(n.name), { Aliases: n.aliases ?? [] }])),
        },
    };
}
