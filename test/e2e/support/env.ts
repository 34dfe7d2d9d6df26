/**
 * The end-to-end environment: a Docker engine serving the Docker API over mutual TLS exactly as the
 * rendered cloud-config sets the host's daemon up, a client holding the material the program gives
 * its Docker provider, and an applier that deploys what the program declares. For target local
 * (setupLocalE2e): the engine over its unix socket, named to the program by DOCKER_HOST.
 */
import * as crypto from "node:crypto";
import { promises as fs, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BASE_CONFIG, MockInput, one, ProgramResult, runProgram } from "../../support/program";
import { dockerOptsArgv, dropIn, parseCloudConfig, relocateFlagPaths, writeHostFiles } from "../../support/mtls/host-files";
import { acquireEngine, defaultEngineDir, Engine } from "../harness/engine";
import { ensureImage } from "../harness/images";
import { freePort } from "../harness/tls";
import { run } from "../harness/proc";
import { DockerApi } from "../apply/api";
import { Applier } from "../apply/apply";
import { CutoverHooks, CutoverRun, runCommand } from "./cutover";
import { dockerResources, DockerResource, planUpdate } from "../apply/plan";

/** The official image the sample app's Dockerfile builds on (its ARG NODE_IMAGE default). */
export const NODE_IMAGE = "node:22-bookworm-slim";

export interface E2eEnv {
    engine: Engine;
    api: DockerApi;
    applier: Applier;
    /** Build args for the app image: the node stand-in when the real image can't be pulled. */
    buildArgs: Record<string, string>;
    /** The stack outputs of the run whose TLS material the engine serves, with the engine's real port. */
    outputs: Record<string, unknown>;
    /** Every run of the cutover command, in order. */
    cutovers: CutoverRun[];
    /** Hooks for the next cutover runs (drills break things at the worst moment). */
    cutoverHooks: CutoverHooks;
    /** Runs the program under mocks with `config` on top of the base config (and `mock`: what AWS answers). */
    declare(config: Record<string, unknown>, mock?: Partial<MockInput>): Promise<DockerResource[]>;
    /** `pulumi up` of a declaration: plans from the current state and applies. */
    up(declared: DockerResource[]): Promise<void>;
    /** Stops the daemon (SIGTERM: it stops its containers) and starts it again with the same flags. */
    restartEngine(): Promise<void>;
    /**
     * The instance is replaced (target aws): the old host stops (its containers get their stop
     * grace, as a shutdown gives them), its data directory moves to a fresh dockerd with an empty
     * data root and the same TLS material (the same user data), and the applier deploys there from
     * now on. The images the new host would pull come from the old engine (there is no registry
     * here). Not provided for target local.
     */
    replaceHost?(): Promise<void>;
    /** Target aws: where a host path under /opt/data (the data volume) is on this machine now. */
    hostPath?(p: string): string;
    close(): Promise<void>;
}

/** The TLS material of this process's stack, kept across its `pulumi up`s as the engine keeps it in state. */
const TLS_STATE_DIR = path.join(os.tmpdir(), `berth-e2e-tls-${process.pid}`);
process.once("exit", () => rmSync(TLS_STATE_DIR, { recursive: true, force: true }));

export const APP_DEFAULTS = { ...BASE_CONFIG, healthTimeout: 90 };

export async function declare(
    config: Record<string, unknown>,
    mock: Partial<MockInput> = {},
): Promise<{ result: ProgramResult; resources: DockerResource[] }> {
    const result = await runProgram({ ...mock, config: { ...APP_DEFAULTS, ...config }, publicIp: "127.0.0.1", tlsStateDir: TLS_STATE_DIR });
    return { result, resources: dockerResources(result) };
}

/** The program with target local, on the engine `dockerHost` names (the operator's DOCKER_HOST). */
export async function declareLocal(
    config: Record<string, unknown>,
    dockerHost: string,
): Promise<{ result: ProgramResult; resources: DockerResource[] }> {
    const result = await runProgram({ config: { ...LOCAL_DEFAULTS, ...config } }, { env: { DOCKER_HOST: dockerHost } });
    return { result, resources: dockerResources(result) };
}

export const LOCAL_DEFAULTS = { target: "local", healthTimeout: 90 };

/** The applier on `engine`, running the program's cutover as the Command provider would. */
function applierFor(
    api: DockerApi,
    engine: Engine,
    dataDir: string,
    buildArgs: Record<string, string>,
    log: (line: string) => void,
    tls: { port: number; ca: string; cert: string; key: string } | undefined,
): { applier: Applier; cutovers: CutoverRun[]; cutoverHooks: CutoverHooks } {
    const cutovers: CutoverRun[] = [];
    const cutoverHooks: CutoverHooks = {};
    const applier: Applier = new Applier({
        api,
        engine,
        dataDir,
        prefix: `berth-e2e-${process.pid}`,
        buildArgs,
        log,
        // The program's commands, run as the Command provider runs them: the readiness gate and the cutover.
        runCommand: async (r, op) => {
            if (op === "delete") return;
            const names = applier.current().map((x) => x.resource.name);
            const cutover = r.name.endsWith("-cutover");
            await runCommand(r.inputs, (n) => applier.engineName(n), names, tls, cutover ? cutovers : [], cutover ? cutoverHooks : {});
        },
    });
    return { applier, cutovers, cutoverHooks };
}

/**
 * Target local: the engine on its unix socket (the private dockerd, or the one DOCKER_HOST names),
 * which the program is told of by DOCKER_HOST, as an operator's shell would.
 */
export async function setupLocalE2e(log: (line: string) => void = () => undefined): Promise<E2eEnv> {
    let engine = await acquireEngine({ dir: defaultEngineDir() });
    const socket = /^unix:\/\/(\/.+)$/.exec(engine.host)?.[1];
    if (socket === undefined) {
        await engine.stop();
        throw new Error(`target local is tested over a unix socket; the engine is at ${engine.host}`);
    }
    const api = new DockerApi({ kind: "unix", socketPath: socket });
    const nodeImage = await ensureImage(engine, NODE_IMAGE, "node");
    const buildArgs: Record<string, string> = nodeImage === NODE_IMAGE ? {} : { NODE_IMAGE: nodeImage };
    const dataDir = await fs.mkdtemp("/var/tmp/berth-e2e-data-");
    const { applier, cutovers, cutoverHooks } = applierFor(api, engine, dataDir, buildArgs, log, undefined);
    const host = engine.host;
    const env: E2eEnv = {
        engine,
        api,
        outputs: {},
        applier,
        buildArgs,
        cutovers,
        cutoverHooks,
        declare: async (config) => (await declareLocal(config, host)).resources,
        up: (declared) => applier.apply(planUpdate(applier.current(), declared)),
        restartEngine: async () => {
            await engine.stop();
            engine = await acquireEngine({ dir: defaultEngineDir() });
            env.engine = engine;
            applier.setEngine(engine);
        },
        close: async () => {
            await applier.destroyAll();
            await engine.stop();
            await fs.rm(dataDir, { recursive: true, force: true });
        },
    };
    return env;
}

export async function setupE2e(log: (line: string) => void = () => undefined): Promise<E2eEnv> {
    // The host's daemon, as cloud-config sets it up: its TLS files and the drop-in's flags.
    const base = await runProgram({ config: APP_DEFAULTS, publicIp: "127.0.0.1", tlsStateDir: TLS_STATE_DIR });
    if (base.error) throw new Error(`the program failed under mocks: ${base.error}`);
    const doc = parseCloudConfig(String(one(base, "aws:ec2/instance:Instance").inputs.userData));
    const engineDir = defaultEngineDir();
    // One directory per set of material: a daemon another run still uses keeps its files.
    const tlsHash = crypto
        .createHash("sha256")
        .update(JSON.stringify(doc.write_files ?? []))
        .digest("hex")
        .slice(0, 16);
    const root = path.join(engineDir, "host-root", tlsHash);
    const written = writeHostFiles(doc, "/etc/docker/", root);
    const { argv } = relocateFlagPaths(dockerOptsArgv(dropIn(doc, "docker.service", "10-tls-verify.conf")), "/etc/docker/", written);
    const port = await freePort();
    const engineOptions = { dir: engineDir, extraArgs: [...argv, "-H", `tcp://127.0.0.1:${port}`] };
    let engine = await acquireEngine(engineOptions);

    const provider = one(base, "pulumi:providers:docker").inputs;
    const api = new DockerApi({
        kind: "tls",
        host: "127.0.0.1",
        port,
        ca: String(provider.caMaterial),
        cert: String(provider.certMaterial),
        key: String(provider.keyMaterial),
    });
    const nodeImage = await ensureImage(engine, NODE_IMAGE, "node");
    const buildArgs: Record<string, string> = nodeImage === NODE_IMAGE ? {} : { NODE_IMAGE: nodeImage };
    let dataDir = await fs.mkdtemp("/var/tmp/berth-e2e-data-");
    /** The engine directory of a replaced host's fresh dockerd (the first host's is the shared one). */
    let replacedDir: string | undefined;
    const retired: { engine: Engine; api: DockerApi; dataDir: string; engineDir: string | undefined; containers: string[] }[] = [];
    const material = { port, ca: String(provider.caMaterial), cert: String(provider.certMaterial), key: String(provider.keyMaterial) };
    const { applier, cutovers, cutoverHooks } = applierFor(api, engine, dataDir, buildArgs, log, material);

    const outputs = Object.fromEntries(Object.entries(base.outputs).map(([k, o]) => [k, o.value]));
    // The program says 2376; this engine listens on a free loopback port with the same material.
    outputs.dockerHost = String(outputs.dockerHost).replace(/:2376$/, `:${port}`);
    const env: E2eEnv = {
        engine,
        api,
        outputs,
        applier,
        buildArgs,
        cutovers,
        cutoverHooks,
        declare: async (config, mock) => (await declare(config, mock)).resources,
        up: (declared) => applier.apply(planUpdate(applier.current(), declared)),
        restartEngine: async () => {
            await engine.stop();
            engine = await acquireEngine(engineOptions);
            env.engine = engine;
            applier.setEngine(engine);
        },
        hostPath: (p) => {
            if (!p.startsWith("/opt/data/")) throw new Error(`${p} is not on the data volume`);
            return path.join(dataDir, p.slice("/opt/data".length));
        },
        replaceHost: async () => {
            const old = { engine, api: env.api, dataDir, engineDir: replacedDir };
            // The old instance stops: every container gets its stop grace (MySQL shuts down cleanly).
            const containers = applier
                .current()
                .filter((d) => d.resource.kind === "container")
                .map((d) => d.id);
            await Promise.all(
                containers.map((id) => old.api.call("POST", `/containers/${id}/stop?t=150`, undefined, 200_000).catch(() => undefined)),
            );
            // The data volume moves to the new instance.
            const newData = await fs.mkdtemp("/var/tmp/berth-e2e-data-");
            // As an EBS volume moves: owners, modes and times kept (fs.cp drops owners: MySQL would not
            // open its own files).
            await run("cp", ["-a", `${dataDir}/.`, newData], { check: true, timeoutMs: 300_000 });
            // The old instance is gone for good (terminated at the end of the real update): remove its
            // objects now, so its bridges do not share subnets with the new engine's on this one machine.
            await removeOurs(old.api, containers);
            // The new instance: a fresh data root, the same flags and material (the same user data), its own port.
            const newPort = await freePort();
            const newEngineDir = await fs.mkdtemp("/var/tmp/berth-e2e-engine-replaced-");
            const fresh = await acquireEngine({ dir: newEngineDir, extraArgs: [...argv, "-H", `tcp://127.0.0.1:${newPort}`] });
            // The images it would pull: from the old engine (no registry here), then tagged with the
            // names the deployment pulls, as a registry would serve them; and the app's base image.
            const pulled = applier
                .current()
                .filter((d) => d.resource.kind === "remoteImage")
                .map((d) => ({ image: d.id, as: String(d.resource.inputs.name) }));
            const images = [...new Set([...pulled.map((p) => p.image), ...Object.values(buildArgs)])];
            const tar = path.join(newEngineDir, "images.tar");
            const save = await old.engine.docker(["save", "-o", tar, ...images], { timeoutMs: 600_000 });
            if (save.code !== 0) throw new Error(`docker save: ${save.stderr}`);
            const load = await fresh.docker(["load", "-i", tar], { timeoutMs: 600_000 });
            if (load.code !== 0) throw new Error(`docker load: ${load.stderr}`);
            for (const p of pulled.filter((x) => x.image !== x.as)) await fresh.docker(["tag", p.image, p.as], { check: true });
            await fs.rm(tar, { force: true });

            retired.push({ ...old, containers });
            const api = new DockerApi({
                kind: "tls",
                host: "127.0.0.1",
                port: newPort,
                ca: material.ca,
                cert: material.cert,
                key: material.key,
            });
            engine = fresh;
            env.engine = fresh;
            env.api = api;
            material.port = newPort;
            outputs.dockerHost = String(outputs.dockerHost).replace(/:\d+$/, `:${newPort}`);
            dataDir = newData;
            replacedDir = newEngineDir;
            applier.moveTo(fresh, api, newData);
        },
        close: async () => {
            await applier.destroyAll();
            await engine.stop();
            await fs.rm(dataDir, { recursive: true, force: true });
            if (replacedDir) await removeEngineDir(replacedDir);
            // Replaced hosts: what the applier left on them (it no longer reaches them), then the engine.
            for (const r of retired) {
                await removeOurs(r.api, r.containers);
                await r.engine.stop();
                await fs.rm(r.dataDir, { recursive: true, force: true });
                if (r.engineDir) await removeEngineDir(r.engineDir);
            }
            await fs.rm(root, { recursive: true, force: true });
        },
    };
    return env;
}

/** Removes the given containers and this process's networks from an engine (a replaced host's). */
async function removeOurs(api: DockerApi, containers: string[]): Promise<void> {
    for (const id of containers) await api.call("DELETE", `/containers/${id}?force=true`).catch(() => undefined);
    const nets = await api.call<{ Id: string; Labels: Record<string, string> | null }[]>("GET", "/networks").catch(() => []);
    for (const n of nets.filter((x) => x.Labels?.["berth.e2e"] === `berth-e2e-${process.pid}`))
        await api.call("DELETE", `/networks/${n.Id}`).catch(() => undefined);
}

/**
 * Removes a stopped private dockerd's directory. dockerd leaves its network namespace bind-mounted
 * under exec/netns after it exits: unmount what is still mounted below the directory first.
 */
async function removeEngineDir(dir: string): Promise<void> {
    const mounts = (await fs.readFile("/proc/self/mounts", "utf8"))
        .split("\n")
        .map((l) => l.split(" ")[1] ?? "")
        .filter((m) => m.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m], { timeoutMs: 30_000 });
    await fs.rm(dir, { recursive: true, force: true });
}
