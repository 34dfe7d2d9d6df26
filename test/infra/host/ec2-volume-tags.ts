/**
 * How the AWS provider reads and writes the tags of an instance's volumes, ported so a test can
 * replay create, refresh and update against an in-memory EC2 (this machine has no AWS account).
 * Sources, hashicorp/terraform-provider-aws internal/service/ec2/:
 * - ec2_instance.go `resourceInstanceCreate`: `volume_tags` go into RunInstances' tag
 *   specifications, so they tag the volumes created with the instance (the root); the tags of
 *   `root_block_device` are set afterwards with CreateTags on the root volume (`getRootVolID`).
 * - ec2_instance.go `resourceInstanceRead`: when `volume_tags` is set and no block device carries
 *   tags (`blockDeviceTagsDefined`), it is read back by `readVolumeTags`: DescribeTags over every
 *   volume attached to the instance (`getInstanceVolIDs`: DescribeVolumes filtered on
 *   attachment.instance-id), merged into one map, a later description overwriting an earlier one.
 *   Otherwise the root volume's own tags are read into `root_block_device.0.tags`
 *   (`readBlockDevicesFromInstance`).
 * - ec2_instance.go `resourceInstanceUpdate`: a change of `volume_tags` is applied with
 *   `updateTags` to every attached volume; a change of `root_block_device.0.tags` to the root only.
 * - tags_gen.go `updateTags`: DeleteTags of the keys gone (sent with their old values), then
 *   CreateTags of the keys added or changed. EC2 deletes a tag given with a value only if the value
 *   matches (EC2 API reference, DeleteTags).
 */

export type Tags = Readonly<Record<string, string>>;

/** The tag-related inputs (or state) of an aws.ec2.Instance. */
export interface InstanceTags {
    volumeTags?: Tags;
    rootTags?: Tags;
}

/** The recorded inputs of an aws.ec2.Instance, reduced to what this port reads. */
export function instanceTags(inputs: Record<string, unknown>): InstanceTags {
    const root = inputs.rootBlockDevice as { tags?: Tags } | undefined;
    return { volumeTags: inputs.volumeTags as Tags | undefined, rootTags: root?.tags };
}

const empty = (t: Tags | undefined) => t === undefined || Object.keys(t).length === 0;

/** Pulumi sees no difference between an absent map and an empty one. */
export function sameTags(a: Tags | undefined, b: Tags | undefined): boolean {
    if (empty(a) || empty(b)) return empty(a) && empty(b);
    const ka = Object.keys(a!).sort();
    return JSON.stringify(ka) === JSON.stringify(Object.keys(b!).sort()) && ka.every((k) => a![k] === b![k]);
}

/** EC2, as far as volume tags go. */
export class Ec2 {
    readonly volumes = new Map<string, Record<string, string>>();
    rootVolumeId = "";
    /** Volumes attached to the instance, in the order DescribeVolumes lists them. */
    readonly attached: string[] = [];

    tagsOf(id: string): Tags {
        return { ...this.volumes.get(id)! };
    }

    createTags(id: string, tags: Tags): void {
        Object.assign(this.volumes.get(id)!, tags);
    }

    /** DeleteTags with values: a tag goes only if its value matches. */
    deleteTags(id: string, tags: Tags): void {
        const vol = this.volumes.get(id)!;
        for (const [k, v] of Object.entries(tags)) if (vol[k] === v) delete vol[k];
    }

    /** tags_gen.go `updateTags`. */
    updateTags(id: string, oldTags: Tags | undefined, newTags: Tags | undefined): void {
        const o = oldTags ?? {};
        const n = newTags ?? {};
        const removed = Object.fromEntries(Object.entries(o).filter(([k]) => !(k in n)));
        const updated = Object.fromEntries(Object.entries(n).filter(([k, v]) => o[k] !== v));
        if (Object.keys(removed).length > 0) this.deleteTags(id, removed);
        if (Object.keys(updated).length > 0) this.createTags(id, updated);
    }

    /** aws.ebs.Volume create: its tags go on the volume. */
    createVolume(id: string, tags: Tags | undefined): void {
        this.volumes.set(id, { ...(tags ?? {}) });
    }

    /** aws.ec2.VolumeAttachment create. */
    attach(id: string): void {
        this.attached.push(id);
    }

    /** `resourceInstanceCreate`: the root volume, tagged at launch by volume_tags, then by root_block_device tags. */
    createInstance(config: InstanceTags, rootVolumeId = "vol-root"): InstanceTags {
        // ec2_instance.go: root_block_device's "tags" is tagsSchemaConflictsWith([]string{"volume_tags"}).
        if (!empty(config.volumeTags) && !empty(config.rootTags)) throw new Error('"root_block_device.0.tags": conflicts with volume_tags');
        this.volumes.set(rootVolumeId, { ...(config.volumeTags ?? {}) });
        this.rootVolumeId = rootVolumeId;
        this.attached.unshift(rootVolumeId);
        if (!empty(config.rootTags)) this.createTags(rootVolumeId, config.rootTags!);
        return { ...config };
    }

    /**
     * `resourceInstanceRead` of the volume tags. `describeOrder` is the order in which DescribeTags
     * lists the attached volumes' tags: EC2 does not promise one, so tests try each.
     */
    readInstance(state: InstanceTags, describeOrder: readonly string[] = this.attached): InstanceTags {
        const blockDeviceTagsDefined = !empty(state.rootTags);
        if (!empty(state.volumeTags) && !blockDeviceTagsDefined) {
            const merged: Record<string, string> = {};
            for (const id of describeOrder) Object.assign(merged, this.volumes.get(id));
            return { volumeTags: merged, rootTags: undefined };
        }
        return { volumeTags: state.volumeTags, rootTags: empty(state.volumeTags) ? this.tagsOf(this.rootVolumeId) : undefined };
    }

    /** `resourceInstanceUpdate` of the volume tags: state → config. */
    updateInstance(state: InstanceTags, config: InstanceTags): InstanceTags {
        if (!sameTags(state.volumeTags, config.volumeTags)) {
            for (const id of this.attached) this.updateTags(id, state.volumeTags, config.volumeTags);
        }
        if (!sameTags(state.rootTags, config.rootTags)) this.updateTags(this.rootVolumeId, state.rootTags, config.rootTags);
        return { ...config };
    }
}

/** Every order of a list (the DescribeTags orders of a few volumes). */
export function orders<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((x, i) => orders([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}
