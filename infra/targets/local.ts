/**
 * Target local: the same deployment on the Docker engine of the machine running `pulumi up`. No
 * cloud account: no AWS resource, no AWS call, nothing to wait for before the engine answers.
 */
import * as docker from "@pulumi/docker";
import { BerthConfig, localEngineHost } from "../config";
import type { Target } from ".";

/** nginx listens on the loopback address only: the app is for this machine, not its network. */
export const LOCAL_ADDRESS = "127.0.0.1";

/** Node.js's name of this machine's CPU (process.arch) to the Docker platform the image is built for. */
const PLATFORMS: Readonly<Record<string, string>> = {
    x64: "linux/amd64",
    arm64: "linux/arm64",
    arm: "linux/arm/v7",
    ia32: "linux/386",
    ppc64: "linux/ppc64le",
    s390x: "linux/s390x",
    riscv64: "linux/riscv64",
};

export function localPlatform(arch: string): string {
    const platform = PLATFORMS[arch];
    if (platform === undefined) throw new Error(`target local: no Docker platform is known for this machine's CPU (${arch})`);
    return platform;
}

export function localTarget(
    config: BerthConfig,
    env: Readonly<Record<string, string | undefined>> = process.env,
    arch: string = process.arch,
): Target {
    // No host: the provider finds the engine as the docker CLI does, by DOCKER_HOST or else the default
    // socket (loadConfig has refused what the cutover could not follow).
    const provider = new docker.Provider("docker-local", {});
    return {
        deployment: {
            provider,
            engine: { host: localEngineHost(env) },
            platform: localPlatform(arch),
            mysqlStorage: { volume: { keep: config.localKeepData } },
            // The marker is no data: it goes with the stack.
            routeStorage: { volume: { keep: false } },
            // The dumps are data: kept with MySQL's volume.
            dumpStorage: { volume: { keep: config.localKeepData } },
            publish: { port: config.localPort, ip: LOCAL_ADDRESS },
        },
        url: `http://localhost:${config.localPort}/`,
        docker: "docker",
        outputs: {},
    };
}
