/**
 * Runs one of the program's commands (the readiness gate, the cutover) as the Command provider would:
 * `node scripts/X.js` in the project directory with the declared environment, against the e2e engine.
 * The declared names of the network and containers (what the mocks returned) become the engine's
 * names, and the host's 2376 becomes the engine's TLS port (a unix socket is used as declared).
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { mockAutoName } from "../../support/mocks";

const ROOT = path.resolve(__dirname, "../../..");

export interface CutoverRun {
    /** Date.now() when the script started, was about to flip the route, had flipped it, and ended. */
    started: number;
    switching?: number;
    switched?: number;
    ended: number;
    code: number | null;
    output: string;
}

export interface CutoverHooks {
    /** Before the script starts (drills use it to break things at the worst moment). */
    before?: () => Promise<void>;
}

/**
 * @param inputs the Command's declared inputs
 * @param engineName the engine name of a declared resource, by Pulumi resource name
 * @param names Pulumi resource names that may appear (as mock auto-names) in the environment
 */
export async function runCommand(
    inputs: Record<string, unknown>,
    engineName: (resourceName: string) => string,
    names: string[],
    /** The TLS engine's real port and material; undefined for a unix socket, used as declared. */
    tls: { port: number; ca: string; cert: string; key: string } | undefined,
    runs: CutoverRun[],
    hooks: CutoverHooks = {},
): Promise<void> {
    const create = String(inputs.create);
    const script = /^node (\S+)$/.exec(create)?.[1];
    if (script === undefined) throw new Error(`unexpected command ${JSON.stringify(create)}`);
    const declared = (inputs.environment ?? {}) as Record<string, string>;
    const byMockName = new Map(names.map((n) => [mockAutoName(n), n]));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const [k, v] of Object.entries(declared)) {
        const resource = byMockName.get(v);
        env[k] = resource ? engineName(resource) : v;
    }
    // Each mocks run makes its own TLS material: the engine serves the first run's.
    if (tls) {
        env.BERTH_DOCKER_HOST = String(env.BERTH_DOCKER_HOST).replace(/:2376$/, `:${tls.port}`);
        if (env.BERTH_DOCKER_CA !== undefined)
            Object.assign(env, { BERTH_DOCKER_CA: tls.ca, BERTH_DOCKER_CERT: tls.cert, BERTH_DOCKER_KEY: tls.key });
    }
    await hooks.before?.();
    const run: CutoverRun = { started: Date.now(), ended: 0, code: null, output: "" };
    runs.push(run);
    await new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, script)], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        const take = (d: Buffer) => {
            const text = d.toString();
            if (run.switching === undefined && /switching nginx/.test(text)) run.switching = Date.now();
            if (run.switched === undefined && /switched:|already live/.test(text)) run.switched = Date.now();
            run.output += text;
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        child.on("close", (code) => {
            run.code = code;
            run.ended = Date.now();
            resolve();
        });
    });
    if (run.code !== 0) throw new Error(`command ${script} failed (exit ${run.code}):\n${run.output}`);
}
