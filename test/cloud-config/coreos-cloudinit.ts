/**
 * What coreos-cloudinit does with a document's `coreos.units` on a boot, and what systemd then does
 * with each unit command given the unit's state. A port of the rules, so a test can read a boot
 * where Docker already runs without a Flatcar machine:
 * - flatcar/coreos-cloudinit initialize/config.go `processUnits`: units and drop-ins with content
 *   are written, then `enable` (not for network units), then one daemon-reload, then each unit's
 *   `command` in document order (network units only restart systemd-networkd);
 * - flatcar/coreos-cloudinit system/systemd.go `RunUnitCommand`: the command is sent to systemd's
 *   D-Bus method of the same name with mode "replace"; anything else is "Unsupported systemd
 *   command"; config/unit.go lists the commands a document may hold;
 * - systemd/systemd src/core/job.c `job_type_is_redundant` and `job_type_collapse`: what the job
 *   does to a unit in a given active state. Flatcar re-runs all of this at every boot
 *   (flatcar/init systemd/system/oem-cloudinit.service).
 */
import type { CloudUnit } from "./host-root";

/** systemd's UnitActiveState, as `systemctl show -p ActiveState` prints it. */
export type ActiveState = "active" | "reloading" | "inactive" | "failed" | "activating" | "deactivating";

/** What a unit command does to the unit: nothing, start it, stop it, or stop and start it again. */
export type Effect = "nothing" | "start" | "stop" | "restart";

/** The `command` values coreos-cloudinit accepts (config/unit.go, `valid:` on Unit.Command). */
const COMMANDS = ["start", "stop", "restart", "reload", "try-restart", "reload-or-restart", "reload-or-try-restart"];

/** The unit groups of system/unit.go `Group()`: network units are handed to systemd-networkd. */
function isNetworkUnit(name: string): boolean {
    return /\.(network|netdev|link)$/.test(name);
}

export interface CloudinitPass {
    /** Unit files and drop-ins written, as paths under /etc/systemd/system. */
    written: string[];
    /** Units enabled (their [Install] links created, `systemctl enable --force`). */
    enabled: string[];
    /** Whether a daemon-reload follows the writes. */
    daemonReload: boolean;
    /** Unit commands sent to systemd, in order. */
    commands: { unit: string; command: string }[];
}

/** One pass of `processUnits` over the document's units. */
export function processUnits(units: readonly CloudUnit[]): CloudinitPass {
    const pass: CloudinitPass = { written: [], enabled: [], daemonReload: false, commands: [] };
    let restartNetworkd = false;
    for (const u of units) {
        if (u.name === "") continue;
        if (u.content) pass.written.push(u.name);
        for (const d of u.drop_ins ?? []) if (d.name && d.content) pass.written.push(`${u.name}.d/${d.name}`);
        if (u.enable && !isNetworkUnit(u.name)) pass.enabled.push(u.name);
        if (isNetworkUnit(u.name)) restartNetworkd = true;
        else if (u.command) pass.commands.push({ unit: u.name, command: u.command });
    }
    pass.daemonReload = pass.written.length > 0;
    if (restartNetworkd) pass.commands.unshift({ unit: "systemd-networkd.service", command: "restart" });
    return pass;
}

/** What systemd does with a job of type `command` on a unit in state `state`. */
export function jobEffect(command: string, state: ActiveState): Effect {
    if (!COMMANDS.includes(command)) throw new Error(`Unsupported systemd command ${JSON.stringify(command)}`);
    const running = state === "active" || state === "reloading" || state === "activating";
    switch (command) {
        case "start":
            // Redundant on an active or reloading unit; on an activating one it merges with the start
            // job already queued (job_type_lookup_merge(START, START) = START).
            return running ? "nothing" : "start";
        case "stop":
            return state === "inactive" || state === "failed" ? "nothing" : "stop";
        case "restart":
            // "Restart jobs must always be kept" (job_type_is_redundant, JOB_RESTART: false), even for
            // an activating unit. On a stopped unit the stop half has nothing to do.
            return state === "inactive" || state === "failed" ? "start" : "restart";
        case "try-restart":
            // job_type_collapse: a no-op unless the unit is active or activating.
            return running ? "restart" : "nothing";
        default:
            // The reload family depends on whether the unit can reload (ExecReload=): not ported.
            throw new Error(`jobEffect: ${command} is not ported`);
    }
}

/** Each command of a boot's cloudinit pass with its effect, given the units' states at that moment. */
export function bootEffects(
    units: readonly CloudUnit[],
    state: (unit: string) => ActiveState,
): { unit: string; command: string; effect: Effect }[] {
    return processUnits(units).commands.map((c) => ({ ...c, effect: jobEffect(c.command, state(c.unit)) }));
}
