import { spawn } from "child_process";
import * as path from "path";
import { DOCKER_CLIENT_VARIABLES } from "../../infra/config/environment";
import type { MockInput } from "./mocks";
import type { ProgramResult, RecordedResource } from "./program-runner";

export type { ProgramResult, RecordedResource } from "./program-runner";
export type { MockInput } from "./mocks";

const ROOT = path.resolve(__dirname, "../..");
const MARKER = "@@berth-mock-result@@";

/** A config that passes validation without network access. */
export const BASE_CONFIG = { appVersion: 1, adminCidrs: ["198.51.100.7/32"] };

export interface RunOptions {
    /** Variables added to the program's environment (the operator's shell, as the CLI passes it on). */
    env?: Record<string, string>;
    /**
     * The project directory to run: a copy of this repository's program with test/support inside it
     * (so the copy's runner loads the copy's index.ts) and a node_modules it can resolve. Default: this
     * repository.
     */
    root?: string;
}

/**
 * Runs index.ts under mocks in a fresh process (so runs never share runtime state) and returns
 * everything it declared.
 */
export function runProgram(input: MockInput, options: RunOptions = {}): Promise<ProgramResult> {
    // The program refuses to run with the Docker client variables set (infra/config/environment.ts):
    // drop them from what it inherits, so a DOCKER_HOST in the test's own environment (an e2e
    // engine) does not stop it. `options.env` sets them on purpose.
    const inherited = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !(DOCKER_CLIENT_VARIABLES as readonly string[]).includes(k)),
    );
    return new Promise((resolve, reject) => {
        const root = options.root ?? ROOT;
        const child = spawn(process.execPath, ["--import", "tsx", path.join(root, path.relative(ROOT, __dirname), "program-runner.ts")], {
            cwd: root,
            env: { ...inherited, ...options.env, BERTH_MOCK_INPUT: JSON.stringify(input) },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => {
            const line = out.split("\n").find((l) => l.startsWith(MARKER));
            if (!line) return reject(new Error(`program runner exited ${code} without a result:\n${err}\n${out}`));
            resolve(JSON.parse(line.slice(MARKER.length)) as ProgramResult);
        });
    });
}

export function byType(result: ProgramResult, type: string): RecordedResource[] {
    return result.resources.filter((r) => r.type === type);
}

export function one(result: ProgramResult, type: string, nameSuffix?: string): RecordedResource {
    const found = byType(result, type).filter((r) => nameSuffix === undefined || r.name.endsWith(nameSuffix));
    const [only] = found;
    if (found.length !== 1 || !only)
        throw new Error(
            `expected one ${type}${nameSuffix ? ` named *${nameSuffix}` : ""}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`,
        );
    return only;
}

/** The stack output `key`, which the program must have exported. */
export function output(result: ProgramResult, key: string): ProgramResult["outputs"][string] {
    const o = result.outputs[key];
    if (!o) throw new Error(`expected a stack output ${key}, found: ${Object.keys(result.outputs).join(", ")}`);
    return o;
}

/** Every string or number inside `v` (arrays and objects walked), as text: where a value can end up. */
export function leaves(v: unknown): string[] {
    if (Array.isArray(v)) return v.flatMap(leaves);
    if (v && typeof v === "object") return Object.values(v).flatMap(leaves);
    return typeof v === "string" || typeof v === "number" ? [String(v)] : [];
}
