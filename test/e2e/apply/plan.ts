/**
 * What the program declared for its Docker host (the Docker resources and the command resources
 * beside them), read from a mocks run, and the steps `pulumi up` takes from the current state to
 * that declaration, in the order the engine carries them out. A port of the step generator of
 * pulumi/pulumi (pkg/resource/deploy/step_generator.go, read at 1b59498) for the cases Berth meets;
 * the providers' rules live in provider-rules.ts. Pure.
 */
import type { ProgramResult, RecordedResource } from "../../support/program";
import { Kind, outputsAfterUpdate, ProviderDiff, providerDiff, readBack } from "./provider-rules";
import { contains, parsePath, processIgnoreChanges, Props, UNKNOWN } from "./property-path";

export type { Kind } from "./provider-rules";
export { outputsAfterUpdate, readBack };

const KINDS: Record<string, Kind> = {
    "docker:index/network:Network": "network",
    "docker:index/volume:Volume": "volume",
    "docker:index/remoteImage:RemoteImage": "remoteImage",
    "docker:index/image:Image": "image",
    "docker:index/container:Container": "container",
    "command:local:Command": "command",
};

export interface DockerResource {
    kind: Kind;
    /** Pulumi resource name, e.g. "berth-app". */
    name: string;
    urn: string;
    inputs: Props;
    /** Names of the planned resources this one depends on: dependsOn and property dependencies. */
    deps: string[];
    /** Per input, the planned resources its value came from (the engine's PropertyDependencies). */
    propertyDeps: Record<string, string[]>;
    /** The resource option as the program states it; undefined leaves it to the provider. */
    deleteBeforeReplace: boolean | undefined;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    /** The retainOnDelete option: the engine's delete drops it from the state and leaves it in place. */
    retainOnDelete?: boolean;
    /** The replacementTrigger option; undefined (null to the engine) when not given. */
    replacementTrigger?: unknown;
}

/** One resource in the state: what it was last created or updated from, and what the provider recorded. */
export interface Prior {
    resource: DockerResource;
    /** The provider's state; absent: what the provider reads back after creating `resource`. */
    outputs?: Props;
    /** A create-before-delete replacement's old object whose delete has not run yet. */
    pendingDelete?: boolean;
    /** The provider created it but its create then failed (the engine's InitErrors). */
    initErrors?: boolean;
}

export const outputsOf = (p: Prior): Props => p.outputs ?? readBack(p.resource.kind, p.resource.inputs);

/** Why an old object is deleted. */
export type DeleteReason =
    /** Its replacement is delete-before-replace: the old one goes first. */
    | "replace"
    /** It depends on something replaced delete-first and would be replaced too: deleted before it. */
    | "dependent"
    /** The old object of a create-before-delete replacement, deleted at the end of the update. */
    | "replaced"
    /** No longer declared. */
    | "removed"
    /** Left by an earlier update that stopped before its deletes. */
    | "pending";

export type Step =
    | { op: "create"; resource: DockerResource }
    | { op: "same"; resource: DockerResource; old: Prior }
    | { op: "update"; resource: DockerResource; old: Prior; keys: string[] }
    | { op: "replace-create"; resource: DockerResource; old: Prior; keys: string[]; deleteBeforeReplace: boolean }
    | { op: "delete"; resource: DockerResource; old: Prior; reason: DeleteReason; round?: number };

/** The planned resources of a mocks run, each after its dependencies (registration order). */
export function dockerResources(result: ProgramResult): DockerResource[] {
    return planned(result, (r) => KINDS[r.type]);
}

/**
 * The host's resources Berth replaces or keeps when the instance changes (infra/host), beside the
 * Docker ones: their providers' rules are ported in provider-rules.ts. Everything else the program
 * declares (security group and rules, address, TLS material, passwords, the Docker provider) is
 * "opaque": the planner refuses to plan a change to one, since its rules are not ported.
 */
const HOST_KINDS: Record<string, Kind> = {
    ...KINDS,
    "aws:ec2/instance:Instance": "awsInstance",
    "aws:ebs/volume:Volume": "awsVolume",
    "aws:ec2/volumeAttachment:VolumeAttachment": "awsVolumeAttachment",
    "aws:ec2/eipAssociation:EipAssociation": "awsEipAssociation",
    "aws:ec2transitgateway/instanceState:InstanceState": "awsInstanceState",
    // Their inputs name the instance or the data volume, so a new one updates them.
    "aws:cloudwatch/metricAlarm:MetricAlarm": "awsMetricAlarm",
    "aws:iam/rolePolicy:RolePolicy": "awsRolePolicy",
};

/** Every custom resource of a mocks run, for plans of the whole program (the host and the app). */
export function programResources(result: ProgramResult): DockerResource[] {
    return planned(result, (r) => (r.custom ? (HOST_KINDS[r.type] ?? "opaque") : undefined));
}

function planned(result: ProgramResult, kindOf: (r: RecordedResource) => Kind | undefined): DockerResource[] {
    if (result.error) throw new Error(`the program failed under mocks: ${result.error}`);
    const chosen = result.resources.filter((r) => kindOf(r) !== undefined);
    const nameOf = new Map(chosen.map((r) => [r.urn, r.name]));
    const names = (urns: string[]) => [...new Set(urns.filter((u) => nameOf.has(u)).map((u) => nameOf.get(u)!))];
    const list = chosen.map((r: RecordedResource) => ({
        kind: kindOf(r)!,
        name: r.name,
        urn: r.urn,
        inputs: r.inputs,
        // The provider is a dependency too (pkg/resource/graph/dependency_graph.go, DependingOn):
        // its reference is "<urn>::<id>".
        deps: names([...r.dependencies, ...(r.provider ? [r.provider.replace(/::[^:]*$/, "")] : [])]),
        propertyDeps: Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, urns]) => [k, names(urns)])),
        deleteBeforeReplace: r.deleteBeforeReplace,
        ignoreChanges: r.ignoreChanges,
        replaceOnChanges: r.replaceOnChanges,
        replacementTrigger: r.replacementTrigger,
        retainOnDelete: r.retainOnDelete,
    }));
    return topological(list, (r) => r);
}

/** Stable topological order (each after the ones it depends on), as a snapshot is kept. */
function topological<T>(list: readonly T[], res: (t: T) => DockerResource): T[] {
    const out: T[] = [];
    const placed = new Set<string>();
    const present = new Set(list.map((t) => res(t).name));
    let rest = [...list];
    while (rest.length > 0) {
        const next = rest.find((t) => res(t).deps.every((d) => placed.has(d) || !present.has(d)));
        if (next === undefined) throw new Error(`dependency cycle among ${rest.map((t) => res(t).name).join(", ")}`);
        out.push(next);
        placed.add(res(next).name);
        rest = rest.filter((t) => t !== next);
    }
    return out;
}

const changes = (d: ProviderDiff) => d.changedKeys.length > 0 || d.detailed.size > 0;
/** plugin.DiffResult.Replace(). */
const replaces = (d: ProviderDiff) => d.replaceKeys.length > 0 || [...d.detailed.values()].some((x) => x.replace);

/**
 * step_generator.go, applyReplaceOnChanges: a change under a replaceOnChanges path becomes a
 * replacement; so do init errors when "#initerror" is listed. `triggers[*]` contains `triggers[0]`
 * but not `triggers` itself.
 */
export function applyReplaceOnChanges(diff: ProviderDiff, replaceOnChanges: string[], initErrors: boolean): ProviderDiff {
    if (!changes(diff) && !initErrors) return diff;
    const paths = replaceOnChanges.map(parsePath);
    const covered = (p: string) => paths.some((roc) => contains(roc, parsePath(p)));
    const detailed = new Map([...diff.detailed].map(([p, d]) => [p, { ...d, replace: d.replace || covered(p) }]));
    const replaceKeys = [...new Set([...diff.replaceKeys, ...diff.changedKeys.filter(covered)])];
    const changedKeys = [...diff.changedKeys];
    if (initErrors && covered("#initerror")) {
        replaceKeys.push("#initerror");
        changedKeys.push("#initerror");
    }
    return { ...diff, detailed, replaceKeys, changedKeys };
}

/**
 * step_generator.go, calculateDependentReplacements: walk the old snapshot's dependents of `root`
 * (pkg/resource/graph/dependency_graph.go, DependingOn: dependsOn, property and provider edges, not
 * parents), skipping resources this update has already registered; a dependent is replaced when a
 * property whose value came from a resource in the replace set, made unknown, makes its provider's
 * Diff ask for a replacement. A dependsOn-only edge makes nothing unknown, so it replaces nothing.
 */
export function dependentReplacements(root: Prior, snapshot: readonly Prior[], done: (p: Prior) => boolean) {
    const replaceSet = new Set([root.resource.name]);
    const dependents = new Set([root.resource.name]);
    const out: { prior: Prior; keys: string[] }[] = [];
    for (const c of snapshot.slice(snapshot.indexOf(root) + 1)) {
        if (done(c) || !c.resource.deps.some((d) => dependents.has(d))) continue;
        dependents.add(c.resource.name);
        let unknown = false;
        const inputsForDiff: Props = {};
        for (const [k, v] of Object.entries(c.resource.inputs)) {
            const hit = (c.resource.propertyDeps[k] ?? []).some((d) => replaceSet.has(d));
            unknown ||= hit;
            inputsForDiff[k] = hit ? UNKNOWN : v;
        }
        if (!unknown) continue;
        const diff = applyReplaceOnChanges(
            providerDiff({
                kind: c.resource.kind,
                oldInputs: c.resource.inputs,
                oldOutputs: outputsOf(c),
                newInputs: inputsForDiff,
                ignoreChanges: c.resource.ignoreChanges,
            }),
            c.resource.replaceOnChanges,
            false,
        );
        if (!replaces(diff)) continue;
        out.push({ prior: c, keys: diff.replaceKeys });
        replaceSet.add(c.resource.name);
    }
    return out;
}

/**
 * The steps of `pulumi up` from `prior` (undefined: nothing deployed) to `declared`, in order:
 * each declared resource at its registration (continueStepsFromImport, continueStepsFromDiff),
 * then the deletes the engine leaves for the end (deployment_executor.go, performPostSteps:
 * GenerateDeletes, then ScheduleDeletes in reverse dependency order).
 */
export function planUpdate(prior: readonly Prior[] | undefined, declared: readonly DockerResource[]): Step[] {
    const snapshot = topological(prior ?? [], (p) => p.resource);
    const live = new Map(snapshot.filter((p) => !p.pendingDelete).map((p) => [p.resource.name, p]));
    const steps: Step[] = [];
    const operated = new Set<string>(); // sg.creates, sames, updates, replaces
    const deleted = new Set<string>(); // sg.deletes: deleted earlier in this update
    const gone = new Set<Prior>(); // sg.pendingDeletes: old objects already deleted
    const dependentKeys = new Map<string, string[]>();
    const deferred: Prior[] = [];

    for (const d of topological(declared, (r) => r)) {
        const old = live.get(d.name);
        if (!old) {
            operated.add(d.name);
            steps.push({ op: "create", resource: d });
            continue;
        }
        // Ignored paths take the old inputs' values before anything else looks at them.
        const r = { ...d, inputs: processIgnoreChanges(d.inputs, old.resource.inputs, d.ignoreChanges).inputs };
        if (deleted.has(r.name)) {
            // Case 1, recreating: deleted earlier as the dependent of a delete-first replacement.
            deleted.delete(r.name);
            operated.add(r.name);
            steps.push({ op: "replace-create", resource: r, old, keys: dependentKeys.get(r.name) ?? [], deleteBeforeReplace: true });
            continue;
        }
        operated.add(r.name);
        let replaceKeys: string[];
        let deleteBeforeReplace: boolean;
        if (triggerReplace(r.replacementTrigger, old.resource.replacementTrigger)) {
            // generateStepsFromDiff: a replacement trigger that differs from the state's replaces the
            // resource without asking the provider (shouldTriggerReplace: null on either side is no
            // trigger); its replace policy is then the program's alone.
            replaceKeys = ["#trigger"];
            deleteBeforeReplace = r.deleteBeforeReplace ?? false;
        } else {
            const diff = applyReplaceOnChanges(
                providerDiff({
                    kind: r.kind,
                    oldInputs: old.resource.inputs,
                    oldOutputs: outputsOf(old),
                    newInputs: r.inputs,
                    ignoreChanges: r.ignoreChanges,
                }),
                r.replaceOnChanges,
                !!old.initErrors,
            );
            if (!changes(diff)) {
                // Unchanged but left with init errors: an update "to attempt to continue awaiting initialization".
                steps.push(old.initErrors ? { op: "update", resource: r, old, keys: [] } : { op: "same", resource: r, old });
                continue;
            }
            if (!replaces(diff)) {
                steps.push({ op: "update", resource: r, old, keys: diff.changedKeys });
                continue;
            }
            replaceKeys = diff.replaceKeys;
            // The provider's policy unless the program states one (goal.DeleteBeforeReplace).
            deleteBeforeReplace = r.deleteBeforeReplace ?? diff.deleteBeforeReplace;
        }
        if (!deleteBeforeReplace) {
            // Create-before-delete: the old one is marked for deletion and deleted after everything else.
            steps.push({ op: "replace-create", resource: r, old, keys: replaceKeys, deleteBeforeReplace });
            deferred.push(old);
            continue;
        }
        // Delete-before-replace: first the dependents that would be replaced, in reverse dependency order.
        const chain = dependentReplacements(old, snapshot, (p) => operated.has(p.resource.name) || deleted.has(p.resource.name));
        for (const dep of chain.reverse()) {
            if (gone.has(dep.prior)) continue;
            steps.push({ op: "delete", resource: dep.prior.resource, old: dep.prior, reason: "dependent" });
            gone.add(dep.prior);
            deleted.add(dep.prior.resource.name);
            dependentKeys.set(dep.prior.resource.name, dep.keys);
        }
        steps.push({ op: "delete", resource: old.resource, old, reason: "replace" });
        gone.add(old);
        steps.push({ op: "replace-create", resource: r, old, keys: replaceKeys, deleteBeforeReplace });
    }

    // GenerateDeletes: pending deletes (this update's and earlier ones'), then what nobody declared.
    const condemned: { prior: Prior; reason: DeleteReason }[] = [];
    for (const p of snapshot) {
        if (gone.has(p)) continue;
        if (p.pendingDelete) condemned.push({ prior: p, reason: "pending" });
        else if (deferred.includes(p)) condemned.push({ prior: p, reason: "replaced" });
        else if (!operated.has(p.resource.name) && !deleted.has(p.resource.name)) condemned.push({ prior: p, reason: "removed" });
    }
    return [...steps, ...scheduleDeletes(condemned)];
}

/** step_generator.go, shouldTriggerReplace: unknowns always trigger; null (absent) on either side never does. */
export function triggerReplace(now: unknown, before: unknown): boolean {
    if (now === UNKNOWN || before === UNKNOWN) return true;
    if (now === undefined || now === null || before === undefined || before === null) return false;
    return JSON.stringify(now) !== JSON.stringify(before);
}

/**
 * step_generator.go, ScheduleDeletes: peel off the condemned resources none of whose dependencies
 * are still condemned, round by round, then reverse the rounds, so dependents go first. Each round
 * is an antichain the step executor deletes in parallel (step_executor.go ExecuteParallel): the
 * steps carry their round so the applier can do the same.
 */
function scheduleDeletes(condemned: { prior: Prior; reason: DeleteReason }[]): Step[] {
    const rounds: (typeof condemned)[] = [];
    let rest = [...condemned];
    while (rest.length > 0) {
        const names = new Set(rest.map((c) => c.prior.resource.name));
        const round = rest.filter((c) => !c.prior.resource.deps.some((d) => d !== c.prior.resource.name && names.has(d)));
        if (round.length === 0) throw new Error(`dependency cycle among deletes: ${[...names].join(", ")}`);
        rounds.push(round);
        rest = rest.filter((c) => !round.includes(c));
    }
    return rounds
        .reverse()
        .flatMap((round, i) => round.reverse().map((c) => ({ c, i })))
        .map(({ c, i }) => ({ op: "delete", resource: c.prior.resource, old: c.prior, reason: c.reason, round: i }));
}

/** The state right after a fresh `pulumi up` of `declared`: every resource as its provider records it. */
export function freshState(declared: readonly DockerResource[]): Prior[] {
    return declared.map((resource) => ({ resource, outputs: readBack(resource.kind, resource.inputs) }));
}

/** A step as short text, for assertions and logs: "replace-create berth-app (cbd: image, labels)". */
export function showStep(step: Step): string {
    switch (step.op) {
        case "create":
            return `create ${step.resource.name}`;
        case "same":
            return `same ${step.resource.name}`;
        case "update":
            return `update ${step.resource.name} (${step.keys.join(", ")})`;
        case "replace-create":
            return `replace-create ${step.resource.name} (${step.deleteBeforeReplace ? "dbr" : "cbd"}: ${step.keys.join(", ")})`;
        case "delete":
            return `delete ${step.resource.name} (${step.reason})`;
    }
}
