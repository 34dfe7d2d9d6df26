/**
 * Runs the whole Pulumi program (index.ts) under mocks in this process and prints what it declared
 * as one JSON line after RESULT_MARKER. Run one program per process: see `runProgram` in program.ts.
 *
 * Input (env BERTH_MOCK_INPUT, JSON): { config: {key: value}, secretConfig?: {key: value},
 * stack?, amiId?, failingCommands?: string[], ... } — see MockInput. pulumi.log calls are recorded in
 * `logs`, and the public-IP lookup is answered from `detectedIp`.
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
// Internal, untyped: the store holds the monitor that setMocks installed.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { getStore } = require("@pulumi/pulumi/runtime/state") as { getStore: () => { settings: { monitor: unknown } } };
import { mocks, MockInput } from "./mocks";
import { PUBLIC_IP_URL } from "../../infra/config/admin";

export const RESULT_MARKER = "@@berth-mock-result@@";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface RecordedResource {
    type: string;
    name: string;
    urn: string;
    parent: string;
    provider: string;
    custom: boolean;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, unknown>;
    /** Top-level input names whose value is (or contains) a secret. */
    secretInputs: string[];
    dependencies: string[];
    /** Per input property, the resources its value came from (the engine's PropertyDependencies). */
    propertyDependencies: Record<string, string[]>;
    deleteBeforeReplace: boolean | undefined;
    /** The retainOnDelete option: `pulumi destroy` leaves the object in place. */
    retainOnDelete: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    /** The replacementTrigger option, unwrapped; undefined when not given. */
    replacementTrigger?: unknown;
    additionalSecretOutputs: string[];
}

export interface RecordedOutput {
    value: unknown;
    secret: boolean;
}

export interface ProgramResult {
    resources: RecordedResource[];
    invokes: { token: string; inputs: unknown }[];
    outputs: Record<string, RecordedOutput>;
    /** What the program said through pulumi.log, in order. */
    logs: { level: "info" | "warn" | "error"; message: string }[];
    error?: string;
}

export function isSecret(v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

export function unwrap(v: unknown): unknown {
    if (isSecret(v)) return unwrap((v as { value: unknown }).value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

function containsSecret(v: unknown): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

/** The request's property dependencies: for each input, the URNs its value came from. */
function propertyDependencies(req: RegisterResourceRequest): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
        out[key] = deps.getUrnsList();
    });
    return out;
}

async function main(): Promise<void> {
    const input = JSON.parse(process.env.BERTH_MOCK_INPUT ?? "{}") as MockInput;
    const result: ProgramResult = { resources: [], invokes: [], outputs: {}, logs: [] };

    // A failure inside an apply (e.g. a migration's exit-code check) fails `pulumi up`; here it
    // surfaces as a rejection outside the program's own promise.
    const fail = (err: unknown) => {
        result.error ??= err instanceof Error ? err.message : String(err);
    };

    // Wraps the mock monitor's registerResource to keep what mocks drop: dependencies, options and
    // which inputs are secret.
    const record = (req: RegisterResourceRequest, res: { getUrn(): string }) => {
        const raw = (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>;
        result.resources.push({
            type: req.getType(),
            name: req.getName(),
            urn: res.getUrn(),
            parent: req.getParent(),
            provider: req.getProvider(),
            custom: req.getCustom(),
            inputs: unwrap(raw) as Record<string, unknown>,
            secretInputs: Object.keys(raw).filter((k) => containsSecret(raw[k])),
            dependencies: req.getDependenciesList(),
            propertyDependencies: propertyDependencies(req),
            deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
            retainOnDelete: req.getRetainondelete() === true,
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            replacementTrigger: req.hasReplacementTrigger() ? unwrap(req.getReplacementTrigger()?.toJavaScript()) : undefined,
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        });
    };

    process.on("unhandledRejection", fail);
    process.on("uncaughtException", fail);

    const m = mocks(input, result.invokes);
    await pulumi.runtime.setMocks(m, "berth", input.stack ?? "dev", false);
    const monitor = getStore().settings.monitor as MockMonitor;
    const register = monitor.registerResource.bind(monitor);
    // The callback's types are MockMonitor's own.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (req: RegisterResourceRequest, callback: (err: any, res: any) => void) =>
        register(req, (err: unknown, res: { getUrn(): string } | undefined) => {
            if (!err && res) {
                try {
                    record(req, res);
                } catch (e) {
                    process.stderr.write(`record failed: ${String(e)}\n`);
                }
            }
            if (err) fail(err);
            callback(err, res);
        });
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...input.config, ...input.secretConfig })) {
        config[`berth:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    }
    pulumi.runtime.setAllConfig(
        config,
        Object.keys(input.secretConfig ?? {}).map((k) => `berth:${k}`),
    );

    // Keep what the program logs; the messages still reach stdout/stderr as before.
    for (const level of ["info", "warn", "error"] as const) {
        const original = pulumi.log[level];
        pulumi.log[level] = (message, ...rest) => {
            result.logs.push({ level, message });
            return original(message, ...rest);
        };
    }
    // The one address the program asks the network for (infra/config/admin.ts, when adminCidrs is
    // not set), answered as checkip.amazonaws.com does: the address and a newline. Any other fetch fails.
    globalThis.fetch = async (url: string | URL | Request) => {
        const href = url instanceof Request ? url.url : String(url);
        if (href !== PUBLIC_IP_URL) throw new Error(`mocks: unexpected fetch ${href}`);
        if (input.detectedIp === undefined) throw new Error("mocks: no detectedIp given");
        return new Response(`${input.detectedIp}\n`);
    };

    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const outputs = (await require("../../index")) as Record<string, unknown>;
        for (const [k, o] of Object.entries(outputs)) {
            const out = pulumi.output(o);
            // Output internals: the documented way to read values under mocks.
            const internal = out as unknown as { promise(): Promise<unknown>; isSecret: Promise<boolean> };
            result.outputs[k] = { value: await internal.promise(), secret: await internal.isSecret };
        }
    } catch (err) {
        fail(err);
    }
    await pulumi.runtime.disconnect().catch(fail);
    process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

main().catch((err) => {
    process.stderr.write(`program runner failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
});
