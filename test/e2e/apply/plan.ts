/**
 * What the program declared for Docker, read from a mocks run, and the steps Pulumi takes to go from
 * one declaration to the next. Pure: no engine here.
 *
 * Pulumi's order for an update (https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/):
 * resources are created or replaced in dependency order; a create-before-delete replacement creates
 * the new resource at once and deletes the old one at the end of the update, after everything that
 * depends on it; a delete-before-replace replacement deletes first.
 */
import type { ProgramResult, RecordedResource } from "../../support/program";

export type Kind = "network" | "remoteImage" | "image" | "container";

const KINDS: Record<string, Kind> = {
    "docker:index/network:Network": "network",
    "docker:index/remoteImage:RemoteImage": "remoteImage",
    "docker:index/image:Image": "image",
    "docker:index/container:Container": "container",
};

export interface DockerResource {
    kind: Kind;
    /** Pulumi resource name, e.g. "berth-app". */
    name: string;
    urn: string;
    inputs: Record<string, unknown>;
    /** Names of the Docker resources this one depends on. */
    deps: string[];
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
}

/** The Docker resources of a run, in an order where each comes after its dependencies. */
export function dockerResources(result: ProgramResult): DockerResource[] {
    if (result.error) throw new Error(`the program failed under mocks: ${result.error}`);
    const docker = result.resources.filter((r) => KINDS[r.type]);
    const byUrn = new Map(docker.map((r) => [r.urn, r]));
    const list = docker.map((r: RecordedResource) => ({
        kind: KINDS[r.type],
        name: r.name,
        urn: r.urn,
        inputs: r.inputs,
        deps: r.dependencies.filter((u) => byUrn.has(u)).map((u) => byUrn.get(u)!.name),
        // The bridge replaces containers delete-before-replace unless the program says otherwise.
        deleteBeforeReplace: r.deleteBeforeReplace ?? KINDS[r.type] === "container",
        ignoreChanges: r.ignoreChanges,
    }));
    return topological(list);
}

function topological(list: DockerResource[]): DockerResource[] {
    const byName = new Map(list.map((r) => [r.name, r]));
    const out: DockerResource[] = [];
    const seen = new Set<string>();
    const visit = (r: DockerResource, path: string[]) => {
        if (seen.has(r.name)) return;
        if (path.includes(r.name)) throw new Error(`dependency cycle: ${[...path, r.name].join(" -> ")}`);
        for (const d of r.deps) visit(byName.get(d)!, [...path, r.name]);
        seen.add(r.name);
        out.push(r);
    };
    for (const r of list) visit(r, []);
    return out;
}

/** Input keys whose value differs, leaving out the ones the resource ignores. */
export function changedInputs(before: DockerResource, after: DockerResource): string[] {
    const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
    return [...keys]
        .filter((k) => !after.ignoreChanges.includes(k))
        .filter((k) => JSON.stringify(before.inputs[k]) !== JSON.stringify(after.inputs[k]))
        .sort();
}

export type Step =
    | { op: "create"; resource: DockerResource }
    | { op: "same"; resource: DockerResource }
    | { op: "delete"; resource: DockerResource; reason: "replaced" | "removed" };

/**
 * The steps from `before` (undefined: nothing deployed yet) to `after`. A resource whose inputs
 * changed is replaced; so is one whose dependency is replaced and whose inputs mention it (the
 * mocks give new outputs to a replaced resource, so that shows up as a changed input already).
 */
export function planUpdate(before: DockerResource[] | undefined, after: DockerResource[]): Step[] {
    const old = new Map((before ?? []).map((r) => [r.name, r]));
    const steps: Step[] = [];
    const deferredDeletes: Step[] = [];
    for (const r of after) {
        const prev = old.get(r.name);
        if (!prev) {
            steps.push({ op: "create", resource: r });
            continue;
        }
        if (changedInputs(prev, r).length === 0) {
            steps.push({ op: "same", resource: prev });
            continue;
        }
        if (r.deleteBeforeReplace) {
            steps.push({ op: "delete", resource: prev, reason: "replaced" }, { op: "create", resource: r });
        } else {
            steps.push({ op: "create", resource: r });
            deferredDeletes.unshift({ op: "delete", resource: prev, reason: "replaced" });
        }
    }
    const declared = new Set(after.map((r) => r.name));
    const removed = [...(before ?? [])].reverse().filter((r) => !declared.has(r.name));
    return [...steps, ...deferredDeletes, ...removed.map((r) => ({ op: "delete", resource: r, reason: "removed" }) as Step)];
}
