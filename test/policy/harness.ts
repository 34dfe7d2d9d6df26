/**
 * Runs a policy pack's resource policies over the resources a program declared under mocks, as the
 * Pulumi CLI's analyzer does over gRPC (which cannot run here). A port of
 * pulumi/pulumi-policy v1.21.0 sdk/nodejs/policy/server.ts:
 * - makeAnalyzeRpcFun: per resource, every policy whose level is not "disabled" and that has a
 *   `validateResource`; the fast skip on a validation's `__pulumiType`; the `ResourceValidationArgs`
 *   it builds (props deserialized with secrets unwrapped and wrapped in `unknownCheckingProxy`, urn,
 *   name, opts, provider, stackTags, isType/asType, getConfig, notApplicable); an `UnknownValueError`
 *   turned into an advisory "can't run ... during preview"; any other error is the analysis failing.
 * - makeReportViolationFun: the message is the policy's description, a newline, then the message given.
 * - makeGetConfigFun / isTypeOf: config without enforcementLevel; a type matches a class by its
 *   `__pulumiType` (what `validateResourceOfType` relies on), else by its `isInstance`.
 * The policy config is reconciled as the CLI does before it configures the pack: each policy's schema
 * defaults, then the given values (pulumi/pulumi pkg/resource/analyzer/config.go, ReconcilePolicyPackConfig).
 *
 * What differs from a real run: the engine sends a resource's inputs after its provider's Check
 * (pulumi/pulumi pkg/resource/deploy/step_generator.go), which may add provider defaults; under mocks
 * they are the program's own inputs. The recorded options carry no protect, aliases or custom timeouts.
 * The pack has no stack policy (see policy/policies.ts), so analyzeStack is not ported: `analyze`
 * refuses a pack that has one.
 */
import * as policySdk from "@pulumi/policy";
import type {
    EnforcementLevel,
    Policy,
    PolicyPackArgs,
    PolicyProviderResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
} from "@pulumi/policy";
import type { RecordedResource } from "../support/program";

// Exported at run time (index.ts: `export { unknownCheckingProxy, UnknownValueError } from "./proxy"`), but
// the published typings strip them (proxy.ts marks them @internal): typed here as proxy.ts declares them.
const { unknownCheckingProxy, UnknownValueError } = policySdk as unknown as {
    unknownCheckingProxy: <T>(toProxy: T) => T;
    UnknownValueError: new (unknownTypeSentinel: string, props: string[]) => Error;
};

export interface Diagnostic {
    policyName: string;
    urn: string;
    /** The policy's description, a newline, and what the policy said. */
    message: string;
    enforcementLevel: EnforcementLevel;
}

export interface Analysis {
    diagnostics: Diagnostic[];
    /** Policies that said they do not apply to a resource, with why. */
    notApplicable: { policyName: string; urn: string; reason?: string }[];
}

/** Per policy name: its config (and optionally its enforcementLevel), as in a policy pack config file. */
export type PackConfig = Record<string, Record<string, unknown>>;

class NotApplicableError extends Error {
    constructor(readonly reason?: string) {
        super(reason ?? "Policy does not apply");
    }
}

/** policy.ts getPulumiType: the type token a class or validation function carries. */
function pulumiTypeOf(obj: unknown): string | undefined {
    const t = (obj as { __pulumiType?: unknown } | undefined)?.__pulumiType;
    return typeof t === "string" && t.length > 0 ? t : undefined;
}

/** server.ts isTypeOf. */
export function isTypeOf(type: string, resourceClass: unknown): boolean {
    const pulumiType = pulumiTypeOf(resourceClass);
    if (pulumiType) return type === pulumiType;
    const isInstance = (resourceClass as { isInstance?: unknown }).isInstance;
    return typeof isInstance === "function" && (isInstance as (o: unknown) => unknown)({ __pulumiType: type }) === true;
}

/** policy.ts isResourcePolicy. */
function isResourcePolicy(p: Policy): p is ResourceValidationPolicy {
    const v = (p as ResourceValidationPolicy).validateResource;
    if (typeof v === "function") return true;
    if (Array.isArray(v)) return v.every((f) => typeof f === "function");
    return typeof (p as ResourceValidationPolicy).remediateResource === "function";
}

/** Schema defaults, then the given values: what the CLI sends the pack's `configure`. */
export function reconcileConfig(pack: PolicyPackArgs, given: PackConfig = {}): PackConfig {
    const out: PackConfig = {};
    for (const p of pack.policies) {
        const defaults = Object.fromEntries(
            Object.entries(p.configSchema?.properties ?? {}).flatMap(([k, s]) => (s.default === undefined ? [] : [[k, s.default]])),
        );
        if (Object.keys(defaults).length > 0 || given[p.name]) out[p.name] = { ...defaults, ...given[p.name] };
    }
    return out;
}

/** The recorded inputs as the SDK deserializes them for validation: plain JSON, secrets unwrapped (a fresh copy each time). */
function deserialize(inputs: Record<string, unknown>): Record<string, unknown> {
    return JSON.parse(JSON.stringify(inputs)) as Record<string, unknown>;
}

function optionsOf(r: RecordedResource): PolicyResourceOptions {
    const opts: PolicyResourceOptions = {
        protect: false,
        ignoreChanges: r.ignoreChanges,
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: r.additionalSecretOutputs,
    };
    if (r.deleteBeforeReplace !== undefined) opts.deleteBeforeReplace = r.deleteBeforeReplace;
    if (r.parent) opts.parent = r.parent;
    return opts;
}

/** The resource's provider as the engine describes it: a provider reference is `<urn>::<id>`. */
function providerOf(r: RecordedResource, byUrn: Map<string, RecordedResource>): PolicyProviderResource | undefined {
    if (!r.provider) return undefined;
    const p = byUrn.get(r.provider.slice(0, r.provider.lastIndexOf("::")));
    if (!p) return undefined;
    return { type: p.type, props: unknownCheckingProxy(deserialize(p.inputs)), urn: p.urn, name: p.name };
}

/**
 * Every resource policy of `pack` over every resource, in the order the program registered them;
 * `config` as in a policy pack config file. Resolves with all diagnostics (violations, and advisories for
 * values unknown during a preview).
 */
export async function analyze(pack: PolicyPackArgs, resources: readonly RecordedResource[], config: PackConfig = {}): Promise<Analysis> {
    const stack = pack.policies.filter((p) => typeof (p as { validateStack?: unknown }).validateStack === "function");
    if (stack.length > 0) throw new Error(`harness: stack policies are not ported (${stack.map((p) => p.name).join(", ")})`);
    const policyConfig = reconcileConfig(pack, config);
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const diagnostics: Diagnostic[] = [];
    const notApplicable: Analysis["notApplicable"] = [];
    const packLevel = pack.enforcementLevel ?? "advisory";

    for (const r of resources) {
        for (const p of pack.policies) {
            let level = (policyConfig[p.name]?.enforcementLevel as EnforcementLevel | undefined) || p.enforcementLevel || packLevel;
            if (level === "disabled" || !isResourcePolicy(p)) continue;
            if (!p.validateResource) {
                notApplicable.push({ policyName: p.name, urn: r.urn, reason: "Policy does not implement validateResource" });
                continue;
            }
            if (level === "remediate") level = "mandatory";
            if (!Array.isArray(p.validateResource)) {
                const t = pulumiTypeOf(p.validateResource);
                if (t && r.type !== t) {
                    notApplicable.push({ policyName: p.name, urn: r.urn, reason: `Policy only applies to resources of type '${t}'` });
                    continue;
                }
            }
            const enforcementLevel = level;
            const report: ReportViolation = (message, urn) => {
                diagnostics.push({
                    policyName: p.name,
                    urn: urn ?? r.urn,
                    message: message ? `${p.description}\n${message}` : p.description,
                    enforcementLevel,
                });
            };
            const validations: ResourceValidation[] = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
            for (const validate of validations) {
                try {
                    const props = unknownCheckingProxy(deserialize(r.inputs));
                    const args: ResourceValidationArgs = {
                        type: r.type,
                        props,
                        urn: r.urn,
                        name: r.name,
                        opts: optionsOf(r),
                        stackTags: new Map<string, string>(),
                        isType: (resourceClass) => isTypeOf(r.type, resourceClass),
                        asType: ((resourceClass: unknown) =>
                            isTypeOf(r.type, resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
                        getConfig: <T extends object>() => {
                            const properties = { ...policyConfig[p.name] };
                            delete properties.enforcementLevel;
                            return properties as T;
                        },
                        notApplicable: (reason?: string): never => {
                            throw new NotApplicableError(reason);
                        },
                    };
                    const provider = providerOf(r, byUrn);
                    if (provider) args.provider = provider;
                    await Promise.resolve(validate(args, report));
                } catch (e) {
                    if (e instanceof UnknownValueError) {
                        diagnostics.push({
                            policyName: p.name,
                            urn: r.urn,
                            message: `can't run policy '${p.name}' during preview: ${e.message}`,
                            enforcementLevel: "advisory",
                        });
                    } else if (e instanceof NotApplicableError) {
                        notApplicable.push({ policyName: p.name, urn: r.urn, reason: e.reason });
                    } else {
                        throw new Error(`Error validating ${r.urn} with policy '${p.name}'`, { cause: e });
                    }
                }
            }
        }
    }
    return { diagnostics, notApplicable };
}

/** The diagnostics that fail a preview and stop an update. */
export function violations(a: Analysis): Diagnostic[] {
    return a.diagnostics.filter((d) => d.enforcementLevel === "mandatory");
}
