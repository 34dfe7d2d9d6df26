/**
 * Carries out planned steps on a real engine, as the Docker provider would for `pulumi up`: the
 * same API calls for networks, volumes and containers (create, upload, start, run to completion and read the
 * exit code, wait until healthy, stop with the grace period, remove), images built from the
 * declared context, and Pulumi's order of steps.
 */
import * as crypto from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stepFailure } from "../../../infra/deploy/spec";
import { mockAutoName } from "../../support/mocks";
import type { Engine } from "../harness/engine";
import { ensureImage, StandinKind } from "../harness/images";
import { describeFailure, sleep } from "../harness/proc";
import { ContainerInfo, DockerApi, DockerApiError } from "./api";
import { containerCreateBody } from "./container-spec";
import { DockerResource, outputsAfterUpdate, outputsOf, Prior, Step } from "./plan";

const ROOT = path.resolve(__dirname, "../../..");

/** One object the applier made: an entry of Pulumi's state (see Prior) with its engine identity. */
export interface Deployed extends Prior {
    resource: DockerResource;
    /** Engine id (container, network), volume name, or image reference. */
    id: string;
    /** Engine name of a network, volume or container. */
    engineName?: string;
}

/** What a command resource's step asks for: the provider runs `create`, `update` (else `create`), or `delete`. */
export type CommandOp = "create" | "update" | "delete";

export interface ApplierOptions {
    api: DockerApi;
    engine: Engine;
    /** Host directory standing in for /opt/data. */
    dataDir: string;
    /** Prefix of every engine object this applier creates, so tests can clean up. */
    prefix: string;
    /** Build args for the app image when the real base image cannot be pulled. */
    buildArgs?: Record<string, string>;
    log?: (line: string) => void;
    /**
     * Runs a command resource (command:local:Command) as its provider would; a rejection fails the
     * step. Without it, command steps change only the state (an event says they were skipped).
     */
    runCommand?: (resource: DockerResource, op: CommandOp) => Promise<void>;
}

export interface ApplyEvent {
    at: number;
    what: "created" | "started" | "exited" | "healthy" | "stopping" | "removed" | "failed" | "updated" | "ran" | "skipped";
    /** Pulumi resource name. */
    name: string;
    /** Engine name. */
    engineName?: string;
    /** The berth.version label, for app containers. */
    version?: string;
}

export class Applier {
    /** Everything that happened, in order, for tests to check the order of steps. */
    readonly events: ApplyEvent[] = [];
    /** What is deployed now, by Pulumi resource name: Pulumi's state. */
    readonly state = new Map<string, Deployed>();
    /** Old objects of create-before-delete replacements whose delete has not run yet (pending deletes). */
    private readonly replaced: Deployed[] = [];
    /** Objects a delete step left in place (retainOnDelete): out of the state, still on the engine. */
    readonly retained: Deployed[] = [];

    constructor(private readonly o: ApplierOptions) {}

    /** After the engine restarted: the CLI environment may have changed. */
    setEngine(engine: Engine): void {
        this.o.engine = engine;
    }

    /** A new engine on a new host (the instance was replaced): its API and the host's data directory. */
    moveTo(engine: Engine, api: DockerApi, dataDir: string): void {
        this.o.engine = engine;
        this.o.api = api;
        this.o.dataDir = dataDir;
    }

    private log(line: string) {
        this.o.log?.(`[apply] ${line}`);
    }

    private event(what: ApplyEvent["what"], d: { resource: DockerResource; engineName?: string }): void {
        const labels = (d.resource.inputs.labels as { label: string; value: string }[] | undefined) ?? [];
        const version = labels.find((l) => l.label === "berth.version")?.value;
        this.events.push({ at: Date.now(), what, name: d.resource.name, engineName: d.engineName, version });
    }

    /** Pulumi's state, pending deletes included, to plan the next update from (planUpdate). */
    current(): Deployed[] {
        return [...this.state.values(), ...this.replaced];
    }

    /**
     * Carries out the steps in order. The first failure stops the rest, as a failed step cancels
     * `pulumi up` (pulumi/pulumi pkg/resource/deploy/step_executor.go, executeChain and
     * cancelDueToError; the deletes of deployment_executor.go performPostSteps then never run): what
     * the failed update created stays in the state, and old objects of create-before-delete
     * replacements whose new one was made stay as pending deletes, which the next plan deletes at
     * its end.
     */
    async apply(steps: Step[]): Promise<void> {
        for (let i = 0; i < steps.length;) {
            const step = steps[i]!;
            // The end-of-update deletes of one round run in parallel, as the engine runs an antichain.
            if (step.op === "delete" && step.round !== undefined) {
                let j = i;
                while (j < steps.length && steps[j]!.op === "delete" && (steps[j] as { round?: number }).round === step.round) j++;
                const batch = steps.slice(i, j);
                const results = await Promise.allSettled(batch.map((s) => this.applyStep(s)));
                const failed = results.find((r) => r.status === "rejected");
                if (failed) throw failed.reason;
                i = j;
                continue;
            }
            await this.applyStep(step);
            i++;
        }
    }

    private mine(p: Prior): Deployed {
        const d = p as Deployed;
        if (this.state.get(d.resource.name) !== d && !this.replaced.includes(d))
            throw new Error(`${d.resource.name}: the step refers to an object that is not in this applier's state`);
        return d;
    }

    private async applyStep(step: Step): Promise<void> {
        switch (step.op) {
            case "same": {
                // A same step keeps the provider's state and records the new inputs.
                const d = this.mine(step.old);
                d.outputs = outputsOf(d);
                d.resource = step.resource;
                return;
            }
            case "update": {
                const d = this.mine(step.old);
                await this.update(d, step.resource, step.keys);
                d.outputs = outputsAfterUpdate(d.resource.kind, outputsOf(d), step.resource.inputs);
                d.resource = step.resource;
                d.initErrors = false;
                this.event("updated", d);
                return;
            }
            case "delete": {
                const d = this.mine(step.old);
                await this.remove(d);
                const i = this.replaced.indexOf(d);
                if (i >= 0) this.replaced.splice(i, 1);
                if (this.state.get(d.resource.name) === d) this.state.delete(d.resource.name);
                return;
            }
            case "create":
                return this.createStep(step.resource);
            case "replace-create":
                // Delete-first: the old one is gone already. Create-before-delete: it stays until its delete step.
                return this.createStep(step.resource, step.deleteBeforeReplace ? undefined : this.mine(step.old));
        }
    }

    /**
     * A create (or the create of a replacement). The engine marks a create-before-delete
     * replacement's old object for deletion once the provider made the new one, even when the
     * create then failed part-way (pulumi/pulumi pkg/resource/deploy/step.go, CreateStep.Apply).
     */
    private async createStep(r: DockerResource, old?: Deployed): Promise<void> {
        const before = this.state.get(r.name);
        let failure: { error: unknown } | undefined;
        try {
            this.state.set(r.name, await this.create(r));
        } catch (e) {
            failure = { error: e };
            const recorded = this.state.get(r.name);
            if (recorded && recorded !== before) {
                // An attached one-shot's create succeeds whatever its exit code (exit_code is an output; the
                // program's check of it fails the update); a failed wait or start is the provider's InitError.
                recorded.initErrors = !r.inputs.attach;
            }
        }
        if (old && this.state.get(r.name) !== old) {
            old.pendingDelete = true;
            this.replaced.push(old);
        }
        if (failure) throw failure.error;
    }

    /**
     * An in-place update, as each provider does it. docker_container: resourceDockerContainerUpdate
     * changes only the restart policy and resources, and starts the container when must_run turns
     * true; nothing else Berth sets. docker.Image: Update rebuilds. Command: runs update, else create.
     */
    private async update(d: Deployed, r: DockerResource, keys: string[]): Promise<void> {
        switch (r.kind) {
            case "container":
                if (keys.includes("restart") || keys.includes("maxRetryCount")) {
                    await this.o.api.call("POST", `/containers/${d.id}/update`, {
                        RestartPolicy: { Name: r.inputs.restart ?? "no", MaximumRetryCount: r.inputs.maxRetryCount ?? 0 },
                    });
                }
                if (keys.includes("mustRun") && r.inputs.mustRun !== false) await this.o.api.call("POST", `/containers/${d.id}/start`);
                return;
            case "image":
                d.id = await this.build(r);
                return;
            case "command":
                await this.command(r, "update");
                return;
            case "network":
            case "volume":
            case "remoteImage":
                // Nothing Berth sets updates a network or volume in place (every attribute is ForceNew);
                // a remote image's keepLocally and forceRemove act at delete time.
                return;
        }
    }

    /**
     * A command step. A failed command records nothing: pulumi-go-provider (infer/resource.go, Create)
     * keeps a partial state only for ResourceInitFailedError, which pulumi-command never returns.
     */
    private async command(r: DockerResource, op: CommandOp): Promise<Deployed> {
        const d: Deployed = { resource: r, id: `${r.name}-id` };
        if (!this.o.runCommand) {
            this.event("skipped", d);
            return d;
        }
        await this.o.runCommand(r, op);
        this.event("ran", d);
        return d;
    }

    engineName(name: string): string {
        const d = this.state.get(name);
        if (!d?.engineName) throw new Error(`${name} is not deployed`);
        return d.engineName;
    }

    async inspect(name: string): Promise<ContainerInfo> {
        return this.o.api.call<ContainerInfo>("GET", `/containers/${this.engineName(name)}/json`);
    }

    /** The loopback port the engine published for a container's `internal` port. */
    async publishedPort(name: string, internal: number): Promise<number> {
        const info = await this.inspect(name);
        const binding = info.NetworkSettings.Ports?.[`${internal}/tcp`]?.[0];
        if (!binding) throw new Error(`${name} publishes no ${internal}/tcp`);
        return Number(binding.HostPort);
    }

    private async create(r: DockerResource): Promise<Deployed> {
        switch (r.kind) {
            case "network": {
                const name = `${this.o.prefix}-${r.name}-${crypto.randomBytes(3).toString("hex")}`;
                const res = await this.o.api.call<{ Id: string }>("POST", "/networks/create", {
                    Name: name,
                    Driver: r.inputs.driver ?? "bridge",
                    CheckDuplicate: true,
                    Labels: { "berth.e2e": this.o.prefix },
                });
                this.log(`network ${name} created`);
                return { resource: r, id: res.Id, engineName: name };
            }
            case "volume": {
                // resourceDockerVolumeCreate: VolumeCreate with the name (here prefixed), labels and driver.
                const name = `${this.o.prefix}-${r.name}-${crypto.randomBytes(3).toString("hex")}`;
                const labels = (r.inputs.labels as { label: string; value: string }[] | undefined) ?? [];
                await this.o.api.call("POST", "/volumes/create", {
                    Name: name,
                    Driver: r.inputs.driver ?? "local",
                    Labels: { ...Object.fromEntries(labels.map((l) => [l.label, l.value])), "berth.e2e": this.o.prefix },
                });
                this.log(`volume ${name} created`);
                return { resource: r, id: name, engineName: name };
            }
            case "remoteImage": {
                const declared = String(r.inputs.name);
                const kind: StandinKind | undefined = declared.startsWith("mysql")
                    ? "mysql"
                    : declared.startsWith("nginx")
                      ? "nginx"
                      : declared.startsWith("goacme/lego")
                        ? "lego"
                        : undefined;
                if (kind === undefined) {
                    // A pinned app image: the provider uses a local image of that name, else pulls it, else fails
                    // (terraform-provider-docker resource_docker_image_funcs.go findImage); no stand-in stands in.
                    const found = await this.o.engine.docker(["image", "inspect", "--format", "{{.Id}}", declared], { timeoutMs: 60_000 });
                    if (found.code !== 0) throw new Error(`Unable to read Docker image into resource: unable to pull image ${declared}`);
                    this.log(`image ${declared} found on the engine`);
                    return { resource: r, id: declared };
                }
                const image = await ensureImage(this.o.engine, declared, kind);
                this.log(`image ${declared} -> ${image}`);
                return { resource: r, id: image };
            }
            case "image":
                return { resource: r, id: await this.build(r) };
            case "container":
                return this.createContainer(r);
            case "command":
                return this.command(r, "create");
            default:
                throw new Error(`the applier deploys Docker and command resources only, not ${r.kind} ${r.name}`);
        }
    }

    private async build(r: DockerResource): Promise<string> {
        const build = r.inputs.build as { context: string; dockerfile: string; platform?: string };
        const tag = String(r.inputs.imageName);
        const args = ["build", "--network", "host", "-t", tag, "-f", path.resolve(ROOT, build.dockerfile)];
        for (const [k, v] of Object.entries(this.o.buildArgs ?? {})) args.push("--build-arg", `${k}=${v}`);
        args.push(path.resolve(ROOT, build.context));
        const started = Date.now();
        const res = await this.o.engine.docker(args, { timeoutMs: 600_000 });
        if (res.code !== 0) throw new Error(`building ${tag}: ${describeFailure("docker", args, res)}`);
        this.log(`image ${tag} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return tag;
    }

    /** The image a container runs: the image-like resource its `image` input came from. */
    private imageFor(r: DockerResource): string {
        const images = (r.propertyDeps.image ?? r.deps)
            .map((d) => this.state.get(d))
            .filter((d) => d && (d.resource.kind === "image" || d.resource.kind === "remoteImage"));
        if (images.length !== 1) throw new Error(`${r.name}: expected one image dependency, found ${images.length}`);
        return images[0]!.id;
    }

    /** The engine name of the network or volume the program knows by its (mock auto-)name. */
    private engineNameFor(kind: "network" | "volume", declared: string): string {
        for (const d of this.state.values()) {
            if (d.resource.kind === kind && mockAutoName(d.resource.name) === declared) return d.engineName!;
        }
        throw new Error(`${kind} ${declared} is not deployed`);
    }

    private async createContainer(r: DockerResource): Promise<Deployed> {
        const api = this.o.api;
        const name = `${this.o.prefix}-${r.name}-${crypto.randomBytes(4).toString("hex").slice(0, 7)}`;
        const body = containerCreateBody(r.inputs, {
            image: this.imageFor(r),
            network: (n) => this.engineNameFor("network", n),
            volume: (v) => this.engineNameFor("volume", v),
            hostPath: (p) => (p.startsWith("/opt/data") ? path.join(this.o.dataDir, p.slice("/opt/data".length)) : p),
        });
        // A host directory is made as the host's own would be; a named volume exists already.
        for (const bind of (body.HostConfig as { Binds: string[] }).Binds) {
            const [source = ""] = bind.split(":");
            if (path.isAbsolute(source)) await fs.mkdir(source, { recursive: true });
        }
        const { Id } = await api.call<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(name)}`, body);
        const deployed: Deployed = { resource: r, id: Id, engineName: name };
        // In the state from here on, as the provider records a created container even if a later check fails.
        this.state.set(r.name, deployed);
        for (const u of (r.inputs.uploads as { file: string; content: string }[] | undefined) ?? [])
            await this.upload(name, u.file, u.content);
        this.event("created", deployed);
        await api.call("POST", `/containers/${Id}/start`);
        this.event("started", deployed);
        this.log(`container ${name} started`);

        if (r.inputs.attach) {
            const { StatusCode } = await api.call<{ StatusCode: number }>(
                "POST",
                `/containers/${Id}/wait?condition=not-running`,
                undefined,
                600_000,
            );
            const logs = await this.o.engine.docker(["logs", Id], { timeoutMs: 60_000 });
            this.event(StatusCode === 0 ? "exited" : "failed", deployed);
            // What the program does with the provider's exitCode and containerLogs.
            if (StatusCode !== 0) {
                throw new Error(
                    stepFailure(`${r.name}`, { container: name, exitCode: StatusCode, logs: logs.stdout + logs.stderr, urn: r.urn }),
                );
            }
            this.log(`${name} exited 0`);
        }
        if (r.inputs.wait) {
            try {
                await this.waitHealthy(name, Number(r.inputs.waitTimeout ?? 60));
            } catch (e) {
                this.event("failed", deployed);
                throw e;
            }
            this.event("healthy", deployed);
        }
        return deployed;
    }

    private async waitHealthy(name: string, timeoutSeconds: number): Promise<void> {
        const started = Date.now();
        for (;;) {
            const info = await this.o.api.call<ContainerInfo>("GET", `/containers/${name}/json`);
            if (info.State.Health?.Status === "healthy") {
                this.log(`${name} healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
                return;
            }
            if (Date.now() - started > timeoutSeconds * 1000) {
                throw new Error(
                    `container ${name} did not become healthy within ${timeoutSeconds} s (state ${info.State.Status}, health ${info.State.Health?.Status ?? "none"})`,
                );
            }
            await sleep(500);
        }
    }

    private async upload(container: string, file: string, content: string): Promise<void> {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-upload-"));
        try {
            const local = path.join(dir, path.basename(file));
            await fs.writeFile(local, content, { mode: 0o644 });
            const r = await this.o.engine.docker(["cp", local, `${container}:${file}`], { timeoutMs: 60_000 });
            if (r.code !== 0) throw new Error(`uploading ${file}: ${r.stderr}`);
        } finally {
            await fs.rm(dir, { recursive: true, force: true });
        }
    }

    /**
     * The provider's delete: stop with destroyGraceSeconds (SIGTERM, then SIGKILL), then remove. An
     * object with retainOnDelete is only dropped from the state: the engine's delete step calls no
     * provider for it (pulumi/pulumi pkg/resource/deploy/step.go, DeleteStep.Apply: "Deleting a
     * 'drop on delete' is a no-op").
     */
    private async remove(d: Deployed): Promise<void> {
        const api = this.o.api;
        if (d.resource.retainOnDelete) {
            this.retained.push(d);
            this.log(`${d.resource.name} (${d.engineName ?? d.id}) retained`);
            return;
        }
        if (d.resource.kind === "container") {
            const grace = Number(d.resource.inputs.destroyGraceSeconds ?? 0);
            const started = Date.now();
            this.event("stopping", d);
            if (grace > 0 && !d.resource.inputs.attach)
                await api.call("POST", `/containers/${d.id}/stop?t=${grace}`, undefined, (grace + 30) * 1000).catch(() => undefined);
            // resourceDockerContainerDelete (terraform-provider-docker resource_docker_container_funcs.go):
            // ContainerStop and ContainerRemove errors containing "No such container" are ignored, so an
            // object that is not on this engine (a new host's) counts as deleted.
            await api.call("DELETE", `/containers/${d.id}?force=true`).catch((e: unknown) => {
                if (!(e instanceof DockerApiError && e.status === 404 && /No such container/i.test(e.message))) throw e;
                this.log(`container ${d.engineName} is not on this engine: deleted`);
            });
            this.event("removed", d);
            this.log(`container ${d.engineName} removed after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        } else if (d.resource.kind === "network") {
            // resourceDockerNetworkRemoveRefreshFunc (resource_docker_network_funcs.go): a network whose
            // inspect fails is "removed" already.
            const present = await api.call("GET", `/networks/${d.id}`).then(
                () => true,
                (e: unknown) => {
                    if (e instanceof DockerApiError) return false;
                    throw e;
                },
            );
            if (present) await api.call("DELETE", `/networks/${d.id}`);
        } else if (d.resource.kind === "volume") {
            // resourceDockerVolumeDelete: VolumeRemove with force, retried while the volume is in use.
            await api.call("DELETE", `/volumes/${encodeURIComponent(d.id)}?force=true`);
        } else if (d.resource.kind === "command" && d.resource.inputs.delete !== undefined) {
            await this.command(d.resource, "delete");
        }
        // Images stay, as the provider leaves local images (keepLocally, and Image never deletes tags).
    }

    /** Removes everything this applier created (test cleanup), retained volumes too, containers first. */
    async destroyAll(): Promise<void> {
        const all = [...this.replaced, ...this.state.values(), ...this.retained];
        for (const d of all.filter((x) => x.resource.kind === "container"))
            await this.o.api.call("DELETE", `/containers/${d.id}?force=true`).catch(() => undefined);
        for (const d of all.filter((x) => x.resource.kind === "network"))
            await this.o.api.call("DELETE", `/networks/${d.id}`).catch(() => undefined);
        for (const d of all.filter((x) => x.resource.kind === "volume"))
            await this.o.api.call("DELETE", `/volumes/${encodeURIComponent(d.id)}?force=true`).catch(() => undefined);
        this.state.clear();
        this.replaced.length = 0;
        this.retained.length = 0;
    }
}
