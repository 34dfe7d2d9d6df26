/**
 * The providers' side of planning, for the resource types Berth declares: what each provider's Diff
 * says about a change (nothing, an in-place update, or a replacement, and its own replace policy),
 * and the state it records after a create or an update. Pure.
 *
 * Sources (read at pulumi-docker 237b789, which builds kreuzwerker/terraform-provider-docker v4.5.0
 * = 5074970; pulumi-terraform-bridge 59de6c6; pulumi-command v1.2.1 on pulumi-go-provider v1.3.0):
 * - docker.Container, Network, Volume, RemoteImage are Terraform resources behind the bridge. The bridge's
 *   Diff (pulumi-terraform-bridge pkg/tfbridge/provider.go, Provider.Diff) plans the new inputs
 *   against the old STATE (the outputs), and a change to a ForceNew attribute is a replacement.
 * - docker.Image is pulumi-docker's own resource: Diff compares old and new inputs and never asks
 *   for a replacement (pulumi-docker provider/provider.go, dockerNativeProvider.Diff).
 * - command:local:Command: pulumi-go-provider infer/resource.go, diff(): every change is an update
 *   (Command implements Update, which re-runs `update` or else `create`), except properties the
 *   schema marks replaceOnChanges: `triggers` (pulumi-command provider/pkg/provider/common/inputs.go).
 */
import { canonicalGoDuration } from "./go-duration";
import { clone, deepEqual, detailedDiff, DiffKind, processIgnoreChanges, Props, topLevel, UNKNOWN, Value } from "./property-path";

export type Kind =
    | "network"
    | "volume"
    | "remoteImage"
    | "image"
    | "container"
    | "command"
    | "awsInstance"
    | "awsVolume"
    | "awsVolumeAttachment"
    | "awsEipAssociation"
    | "awsInstanceState"
    | "awsMetricAlarm"
    | "awsRolePolicy"
    | "opaque";

/** One attribute of a Terraform schema, as the bridge sees it under its Pulumi name. */
interface TfField {
    forceNew?: true;
    /** Optional+Computed: left out of the program, the provider's value stands. */
    computed?: true;
    default?: Value;
    /** TypeSet: order does not matter. */
    set?: true;
    /** Never set by the provider's Read: the state keeps what the program gave. */
    configOnly?: true;
    /** DiffSuppressFunc treating a new "" as no change (user, working_dir). */
    suppressEmpty?: true;
    /** Defaults of the nested block's attributes. */
    nested?: Props;
}

const HEALTHCHECK_DEFAULTS = { interval: "0s", timeout: "0s", startPeriod: "0s", startInterval: "0s", retries: 0 };

/**
 * docker_container (internal/provider/resource_docker_container.go, resourceDockerContainer) under
 * its Pulumi names. `configOnly` marks what resourceDockerContainerRead never sets
 * (resource_docker_container_funcs.go): env and labels ("We decided not to set the environment
 * variables and labels"), volumes, upload, networks_advanced (only on import), and the
 * create-time switches.
 */
const CONTAINER: Record<string, TfField> = {
    attach: { default: false, configOnly: true },
    capabilities: { forceNew: true, set: true },
    cgroupParent: { forceNew: true },
    cgroupnsMode: { forceNew: true },
    command: { forceNew: true, computed: true },
    containerReadRefreshTimeoutMilliseconds: { default: 15000, configOnly: true },
    cpuPeriod: {},
    cpuQuota: {},
    cpuSet: {},
    cpuShares: {},
    cpus: { forceNew: true },
    destroyGraceSeconds: { configOnly: true },
    deviceReadBps: { set: true },
    deviceReadIops: { set: true },
    deviceRequests: { forceNew: true, set: true },
    deviceWriteBps: { set: true },
    deviceWriteIops: { set: true },
    devices: { forceNew: true, set: true },
    dns: { forceNew: true, set: true },
    dnsOpts: { forceNew: true, set: true },
    dnsSearches: { forceNew: true, set: true },
    domainname: { forceNew: true },
    entrypoints: { forceNew: true, computed: true },
    envs: { forceNew: true, computed: true, set: true, configOnly: true },
    gpus: { forceNew: true },
    groupAdds: { forceNew: true, set: true },
    // Not ForceNew anywhere in the block: a changed health check is an in-place update, and
    // resourceDockerContainerUpdate does not touch it.
    healthcheck: { computed: true, nested: HEALTHCHECK_DEFAULTS },
    hostname: { forceNew: true, computed: true },
    hosts: { forceNew: true, set: true },
    image: { forceNew: true },
    init: { computed: true },
    ipcMode: { forceNew: true, computed: true },
    labels: { forceNew: true, computed: true, set: true, configOnly: true },
    logDriver: { forceNew: true, computed: true },
    logOpts: { forceNew: true },
    logs: { default: false, configOnly: true },
    maxRetryCount: {},
    memory: {},
    memoryReservation: { default: 0 },
    memorySwap: {},
    mounts: { forceNew: true, set: true },
    mustRun: { default: true, configOnly: true },
    name: { forceNew: true },
    networkMode: { forceNew: true, default: "bridge" },
    networksAdvanced: { forceNew: true, set: true, configOnly: true },
    pidMode: { forceNew: true },
    platform: { forceNew: true, computed: true },
    ports: { forceNew: true, nested: { ip: "0.0.0.0", protocol: "tcp" } },
    privileged: { forceNew: true },
    publishAllPorts: { forceNew: true },
    readOnly: { forceNew: true, default: false },
    removeVolumes: { default: true, configOnly: true },
    restart: { default: "no" },
    rm: { default: false },
    runtime: { forceNew: true, computed: true },
    securityOpts: { forceNew: true, computed: true, set: true },
    shmSize: { forceNew: true, computed: true },
    start: { default: true, configOnly: true },
    stdinOpen: { forceNew: true, default: false },
    stopSignal: { forceNew: true, computed: true },
    stopTimeout: { forceNew: true, computed: true },
    storageOpts: { forceNew: true },
    sysctls: { forceNew: true },
    tmpfs: {},
    tty: { forceNew: true, default: false },
    ulimits: { forceNew: true, set: true },
    uploads: { forceNew: true, set: true, configOnly: true, nested: { executable: false } },
    user: { forceNew: true, suppressEmpty: true },
    usernsMode: { forceNew: true },
    volumes: { forceNew: true, set: true, configOnly: true },
    wait: { default: false, configOnly: true },
    waitTimeout: { default: 60, configOnly: true },
    workingDir: { forceNew: true, suppressEmpty: true },
};

/** docker_network (internal/provider/resource_docker_network.go): every attribute is ForceNew. */
const NETWORK: Record<string, TfField> = {
    attachable: { forceNew: true },
    driver: { forceNew: true, computed: true },
    ingress: { forceNew: true },
    internal: { forceNew: true, computed: true },
    ipamConfigs: { forceNew: true, computed: true, set: true },
    ipamDriver: { forceNew: true, default: "default" },
    ipamOptions: { forceNew: true },
    ipv6: { forceNew: true },
    labels: { forceNew: true, set: true },
    name: { forceNew: true },
    options: { forceNew: true, computed: true },
};

/**
 * docker_volume (internal/provider/resource_docker_volume.go, resourceDockerVolume): every attribute
 * Berth can set is ForceNew; only cluster.availability updates in place (resourceDockerVolumeUpdate).
 * resourceDockerVolumeRead sets name, labels, driver, driver_opts and mountpoint from the engine's
 * VolumeInspect, so none of them is configOnly. Under its Pulumi names.
 */
const VOLUME: Record<string, TfField> = {
    cluster: { forceNew: true },
    driver: { forceNew: true, computed: true },
    driverOpts: { forceNew: true },
    labels: { forceNew: true, set: true },
    mountpoint: { computed: true },
    name: { forceNew: true, computed: true },
};

/** docker_image, i.e. RemoteImage (internal/provider/resource_docker_image.go). */
const REMOTE_IMAGE: Record<string, TfField> = {
    // Not ForceNew at the top, but every attribute of its block is.
    build: { forceNew: true, set: true },
    forceRemove: {},
    keepLocally: {},
    name: { forceNew: true },
    platform: { forceNew: true, default: "" },
    pullTriggers: { forceNew: true, set: true },
    triggers: { forceNew: true },
};

/*
 * The AWS resources a host replacement touches, read at hashicorp/terraform-provider-aws 1265e58
 * (behind pulumi-aws 7.x; the attributes Berth sets, under their Pulumi names). pulumi-aws sets no
 * DeleteBeforeReplace for them, so a replacement is create-first unless the program says otherwise.
 */

/**
 * aws_instance (internal/service/ec2/ec2_instance.go, ResourceInstance): ami, availability_zone,
 * subnet_id and key_name are ForceNew; instance_type, user_data (user_data_replace_on_change
 * unset: a stop and start), security groups, metadata options, the root block device's size and
 * tags update in place.
 */
const AWS_INSTANCE: Record<string, TfField> = {
    ami: { forceNew: true, computed: true },
    availabilityZone: { forceNew: true, computed: true },
    // Optional+Computed, not ForceNew: resourceInstanceUpdate associates a profile with a running instance
    // (AssociateIamInstanceProfile, or ReplaceIamInstanceProfileAssociation), no stop.
    iamInstanceProfile: { computed: true },
    instanceType: { computed: true },
    keyName: { forceNew: true, computed: true },
    metadataOptions: { computed: true },
    rootBlockDevice: { computed: true },
    subnetId: { forceNew: true, computed: true },
    tags: {},
    userData: { computed: true },
    vpcSecurityGroupIds: { computed: true, set: true },
};

/** aws_ebs_volume (internal/service/ec2/ebs_volume.go, ResourceEBSVolume): the zone, encryption and source snapshot are ForceNew. */
const AWS_VOLUME: Record<string, TfField> = {
    availabilityZone: { forceNew: true },
    encrypted: { forceNew: true, computed: true },
    finalSnapshot: { default: false },
    size: { computed: true },
    snapshotId: { forceNew: true, computed: true },
    tags: {},
    type: { computed: true },
};

/** aws_volume_attachment (internal/service/ec2/ebs_volume_attachment.go, ResourceVolumeAttachment). */
const AWS_VOLUME_ATTACHMENT: Record<string, TfField> = {
    deviceName: { forceNew: true },
    forceDetach: {},
    instanceId: { forceNew: true },
    skipDestroy: {},
    stopInstanceBeforeDetaching: {},
    volumeId: { forceNew: true },
};

/** aws_eip_association (internal/service/ec2/ec2_eip_association.go, ResourceEIPAssociation): every attribute is ForceNew. */
const AWS_EIP_ASSOCIATION: Record<string, TfField> = {
    allocationId: { forceNew: true, computed: true },
    allowReassociation: { forceNew: true },
    instanceId: { forceNew: true, computed: true },
    networkInterfaceId: { forceNew: true, computed: true },
    privateIpAddress: { forceNew: true, computed: true },
    publicIp: { forceNew: true, computed: true },
};

/**
 * aws_ec2_instance_state (internal/service/ec2/ec2_instance_state.go, ResourceInstanceState):
 * instance_id is ForceNew; create starts a stopped instance, delete leaves it as it is.
 */
const AWS_INSTANCE_STATE: Record<string, TfField> = {
    force: { default: false },
    instanceId: { forceNew: true },
    state: {},
};

/**
 * aws_cloudwatch_metric_alarm (internal/service/cloudwatch/metric_alarm.go, resourceMetricAlarm): the
 * alarm's name (alarm_name) is ForceNew; everything else is one PutMetricAlarm in place, the
 * dimensions (a new instance's id) included.
 */
const AWS_METRIC_ALARM: Record<string, TfField> = {
    actionsEnabled: { default: true },
    alarmActions: { set: true },
    alarmDescription: {},
    comparisonOperator: {},
    datapointsToAlarm: {},
    dimensions: {},
    evaluationPeriods: {},
    extendedStatistic: {},
    insufficientDataActions: { set: true },
    metricName: {},
    name: { forceNew: true },
    namespace: {},
    okActions: { set: true },
    period: {},
    statistic: {},
    tags: {},
    threshold: {},
    treatMissingData: { default: "missing" },
    unit: {},
};

/** aws_iam_role_policy (internal/service/iam/role_policy.go, resourceRolePolicy): role is ForceNew, the policy a PutRolePolicy in place. */
const AWS_ROLE_POLICY: Record<string, TfField> = {
    name: { forceNew: true, computed: true },
    namePrefix: { forceNew: true, computed: true },
    policy: {},
    role: { forceNew: true },
};

const TF_SCHEMAS: Partial<Record<Kind, Record<string, TfField>>> = {
    container: CONTAINER,
    network: NETWORK,
    volume: VOLUME,
    remoteImage: REMOTE_IMAGE,
    awsInstance: AWS_INSTANCE,
    awsVolume: AWS_VOLUME,
    awsVolumeAttachment: AWS_VOLUME_ATTACHMENT,
    awsEipAssociation: AWS_EIP_ASSOCIATION,
    awsInstanceState: AWS_INSTANCE_STATE,
    awsMetricAlarm: AWS_METRIC_ALARM,
    awsRolePolicy: AWS_ROLE_POLICY,
};
const IMAGE_INPUTS = ["build", "buildOnPreview", "imageName", "registry", "skipPush"];
const COMMAND_INPUTS = [
    ...["addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir", "environment"],
    ...["interpreter", "logging", "stdin", "triggers", "update"],
];

function checkKnown(kind: Kind, inputs: Props): void {
    if (kind === "opaque") return;
    const known = TF_SCHEMAS[kind] ? Object.keys(TF_SCHEMAS[kind]) : kind === "image" ? IMAGE_INPUTS : COMMAND_INPUTS;
    for (const k of Object.keys(inputs)) {
        if (!known.includes(k)) throw new Error(`${kind} input ${k} is not classified in test/e2e/apply/provider-rules.ts`);
    }
}

const isZero = (v: Value) =>
    v === undefined ||
    v === null ||
    v === "" ||
    v === 0 ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === "object" && v !== null && Object.keys(v).length === 0);

/** A value as Terraform holds it: nested defaults filled in, set elements in a fixed order. */
function tfValue(f: TfField, v: Value): Value {
    if (v === undefined || v === null || v === UNKNOWN) return v;
    const withNested = (x: Value) =>
        f.nested && typeof x === "object" && x !== null && !Array.isArray(x) ? { ...f.nested, ...(x as Props) } : x;
    const out = Array.isArray(v) ? v.map(withNested) : withNested(v);
    return f.set && Array.isArray(out) ? [...(out as Value[])].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : out;
}

/**
 * The Terraform plan of one attribute (terraform-plugin-sdk schemaMap.diff): an unknown new value
 * is a change; a value the program leaves out is no change when Computed, else it is compared as
 * its default or zero value; equal zero values are no change.
 */
function tfChanged(f: TfField, state: Value, config: Value): boolean {
    if (config === UNKNOWN) return true;
    if ((config === undefined || config === null) && f.computed) return false;
    const n = tfValue(f, config ?? f.default);
    const o = tfValue(f, state ?? f.default);
    if (f.suppressEmpty && (n === undefined || n === null || n === "")) return false;
    if (isZero(n) && isZero(o)) return false;
    return !deepEqual(o, n);
}

export interface ProviderDiff {
    /** Top-level inputs that change. */
    changedKeys: string[];
    /** Top-level inputs whose change needs a new resource. */
    replaceKeys: string[];
    /** Changed paths, and whether each forces a replacement. */
    detailed: Map<string, { kind: DiffKind; replace: boolean }>;
    /** The provider's replace policy, which the program may override. */
    deleteBeforeReplace: boolean;
}

export interface DiffInput {
    kind: Kind;
    oldInputs: Props;
    /** The provider's state of the resource (what it read back). */
    oldOutputs: Props;
    newInputs: Props;
    ignoreChanges: string[];
}

/** The provider's Diff for one resource. */
export function providerDiff(d: DiffInput): ProviderDiff {
    checkKnown(d.kind, d.newInputs);
    if (d.kind === "opaque") {
        const changed = [...detailedDiff(d.oldInputs, d.newInputs).keys()];
        if (changed.length > 0)
            throw new Error(`a resource whose provider rules are not ported changes (${changed.join(", ")}): port them first`);
        return { changedKeys: [], replaceKeys: [], detailed: new Map(), deleteBeforeReplace: false };
    }
    const schema = TF_SCHEMAS[d.kind];
    if (schema) {
        // The bridge drops attribute diffs under ignored paths (pkg/tfbridge/diff.go,
        // computeIgnoreChanges); taking the state's value there has the same effect.
        const news = processIgnoreChanges(d.newInputs, d.oldOutputs, d.ignoreChanges).inputs;
        const changed = Object.entries(schema).filter(([k, field]) => {
            // An autonamed name: Check reuses the default the old inputs hold (pkg/tfbridge/schema.go, applyDefaults).
            if (k === "name" && (news.name === undefined || news.name === null)) return false;
            return tfChanged(field, d.oldOutputs[k], news[k]);
        });
        const changedKeys = changed.map(([k]) => k);
        const replaceKeys = changed.filter(([, field]) => field.forceNew).map(([k]) => k);
        const detailed = new Map(changed.map(([k, field]) => [k, { kind: "update" as const, replace: !!field.forceNew }]));
        // Provider.Diff: deleteBeforeReplace := len(replaces) > 0 && (res.Schema.DeleteBeforeReplace ||
        // nameRequiresDeleteBeforeReplace(...)). pulumi-docker provider/resources.go sets
        // DeleteBeforeReplace: true for docker_container; a name the program sets itself cannot exist
        // twice (pkg/tfbridge/schema.go, nameRequiresDeleteBeforeReplace).
        const fixedName = d.kind !== "remoteImage" && news.name !== undefined && news.name !== null;
        const deleteBeforeReplace = replaceKeys.length > 0 && (d.kind === "container" || fixedName);
        return { changedKeys, replaceKeys, detailed, deleteBeforeReplace };
    }
    if (d.kind === "image") {
        // dockerNativeProvider.Diff: old inputs (kept in state under __inputs) against new; every change
        // is an UPDATE (a rebuild); registry counts only when its server changes (diffUpdates).
        const detailed = new Map<string, { kind: DiffKind; replace: boolean }>();
        for (const [path, kind] of detailedDiff(d.oldInputs, d.newInputs)) {
            if (path.startsWith("registry.") && path !== "registry.server") continue;
            detailed.set(path, { kind, replace: false });
        }
        const changedKeys = [...new Set([...detailed.keys()].map(topLevel))].sort();
        return { changedKeys, replaceKeys: [], detailed, deleteBeforeReplace: false };
    }
    // infer diff(): ignoreChanges take the state's value, then old inputs against new inputs; a key
    // is forced to replace when the schema marks exactly that key replaceOnChanges, so a change of
    // "triggers[0]" is an update here and a replacement only through the SDK's resource option
    // replaceOnChanges: ["triggers[*]"] (sdk/nodejs/local/command.ts), which the engine applies.
    const news = processIgnoreChanges(d.newInputs, d.oldOutputs, d.ignoreChanges).inputs;
    const detailed = new Map<string, { kind: DiffKind; replace: boolean }>();
    for (const [path, kind] of detailedDiff(d.oldInputs, news)) detailed.set(path, { kind, replace: path === "triggers" });
    const changedKeys = [...new Set([...detailed.keys()].map(topLevel))].sort();
    return { changedKeys, replaceKeys: [], detailed, deleteBeforeReplace: false };
}

/**
 * The state a provider records when it creates a resource from `inputs`.
 * Containers: resourceDockerContainerCreate ends with resourceDockerContainerRead, which writes the
 * health check's durations with Go's time.Duration.String() ("120s" reads back as "2m0s") and, for a
 * container that is not running while must_run is true, sets must_run to false ("This creates a state
 * drift that Terraform will detect and trigger an update"). What Read never sets keeps the program's
 * value. Everything else Berth sets reads back as given (the engine reports what it was sent).
 */
export function readBack(kind: Kind, inputs: Props): Props {
    checkKnown(kind, inputs);
    const schema = TF_SCHEMAS[kind];
    if (!schema) return clone(inputs);
    const out: Props = {};
    for (const [k, f] of Object.entries(schema)) {
        const v = inputs[k] ?? f.default;
        if (v !== undefined && v !== null) out[k] = tfValue(f, clone(v));
    }
    if (kind === "container") {
        const hc = out.healthcheck as Props | undefined;
        if (hc) {
            for (const k of ["interval", "timeout", "startPeriod", "startInterval"]) hc[k] = canonicalGoDuration(String(hc[k]));
        }
        // An attached container has exited by the time Read runs.
        if (out.attach === true && out.mustRun === true) out.mustRun = false;
    }
    return out;
}

/**
 * The state after an in-place update. Terraform keeps the planned state (the program's values)
 * unless the update's code sets something: resourceDockerContainerUpdate returns without a Read, so
 * a container's health check takes the program's text; resourceDockerImageUpdate ends with a Read
 * that sets only computed attributes. The native Image and the Command record their new inputs.
 */
export function outputsAfterUpdate(kind: Kind, oldOutputs: Props, newInputs: Props): Props {
    checkKnown(kind, newInputs);
    const schema = TF_SCHEMAS[kind];
    if (!schema) return { ...oldOutputs, ...clone(newInputs) };
    const out: Props = { ...oldOutputs };
    for (const [k, f] of Object.entries(schema)) {
        const v = newInputs[k] ?? (f.computed ? oldOutputs[k] : f.default);
        if (v === undefined || v === null) delete out[k];
        else out[k] = tfValue(f, clone(v));
    }
    return out;
}
