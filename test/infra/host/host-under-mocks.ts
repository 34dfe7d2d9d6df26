/**
 * The Host component alone under the shared mocks, in this process: for its own arguments (the day-2
 * ones the program passes from config), several hosts can be declared side by side. Call once per test
 * file (one set of mocks per process).
 */
import * as pulumi from "@pulumi/pulumi";
import { mocks } from "../../support/mocks";
import type { Host, HostArgs } from "../../../infra/host";

export interface Declared {
    type: string;
    name: string;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, unknown>;
    /** Top-level inputs that were secrets. */
    secretInputs: string[];
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isSecret = (v: unknown) => typeof v === "object" && v !== null && SECRET_SIG in v;
function unwrap(v: unknown): unknown {
    if (isSecret(v)) return unwrap((v as unknown as { value: unknown }).value);
    if (Array.isArray(v)) return v.map(unwrap);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
    return v;
}

/** What a test host needs besides the arguments under test. */
export const BASE_HOST_ARGS: HostArgs = {
    instanceType: "t3.small",
    architecture: "x86_64",
    instanceName: "berth-dev",
    adminCidrs: ["198.51.100.7/32"],
    rootVolumeSize: 20,
    dataVolumeSize: 10,
    updateStrategy: "reboot",
};

/** Declares the hosts `build` makes (stack "dev") and returns every resource they registered. */
export async function declareHosts(build: (HostClass: typeof Host) => void): Promise<Declared[]> {
    const declared: Declared[] = [];
    const m = mocks({ config: {} }, []);
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                const raw = args.inputs as Record<string, unknown>;
                declared.push({
                    type: args.type,
                    name: args.name,
                    inputs: unwrap(raw) as Record<string, unknown>,
                    secretInputs: Object.keys(raw).filter((k) => isSecret(raw[k])),
                });
                return m.newResource(args);
            },
            call: (args) => m.call(args),
        },
        "berth",
        "dev",
        false,
    );
    // Imported once the mocks are set, as a program is loaded by the engine.
    const { Host: HostClass } = await import("../../../infra/host");
    build(HostClass);
    // Every registration (and every apply feeding one) is done once the runtime has no RPC left.
    await pulumi.runtime.disconnect();
    return declared;
}

/** The one resource of `type` whose name is exactly `name`. */
export function named(declared: Declared[], type: string, name: string): Declared {
    const found = declared.filter((d) => d.type === type && d.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
    return found[0]!;
}
