/**
 * The cloud-config at every boot: Flatcar runs coreos-cloudinit again on each one, so what the
 * document says to systemd must be harmless on a host whose Docker already runs. Read through the
 * port of coreos-cloudinit's and systemd's rules in ./coreos-cloudinit.ts, and the [Install] links
 * made for real by `systemctl --root enable`.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { bootEffects, jobEffect, processUnits, type ActiveState } from "./coreos-cloudinit";
import { enableUnits, layOut, renderTestDoc, UNIT_DIR, type CloudConfigDoc } from "./host-root";

let doc: CloudConfigDoc;
const roots: string[] = [];

before(() => {
    doc = renderTestDoc("berth boot CA");
});

after(() => {
    for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

const all = (state: ActiveState) => (): ActiveState => state;

describe("the cloud-config at every boot", () => {
    it("sends systemd nothing but 'start'", () => {
        const commands = processUnits(doc.coreos.units).commands;
        assert.deepEqual(
            commands.map((c) => c.command),
            commands.map(() => "start"),
        );
    });

    it("first boot: writes the units, enables them, reloads once, then starts the mount, the TLS socket, Docker and the timers", () => {
        const pass = processUnits(doc.coreos.units);
        assert.deepEqual(pass.enabled, [
            "opt-data.mount",
            "docker-tls-tcp.socket",
            "docker.service",
            "berth-disk-metrics.timer",
            "berth-dumps-sync.timer",
        ]);
        assert.ok(pass.written.includes("docker.service.d/30-stop-timeout.conf"));
        assert.equal(pass.daemonReload, true);
        assert.deepEqual(bootEffects(doc.coreos.units, all("inactive")), [
            { unit: "opt-data.mount", command: "start", effect: "start" },
            { unit: "docker-tls-tcp.socket", command: "start", effect: "start" },
            { unit: "docker.service", command: "start", effect: "start" },
            { unit: "berth-disk-metrics.timer", command: "start", effect: "start" },
            { unit: "berth-dumps-sync.timer", command: "start", effect: "start" },
        ]);
    });

    it("second boot: with Docker already running, cloudinit stops or restarts nothing", () => {
        for (const state of ["active", "activating", "reloading"] as const) {
            const effects = bootEffects(doc.coreos.units, all(state));
            assert.deepEqual(
                effects.map((e) => `${e.unit}: ${e.effect}`),
                [
                    "opt-data.mount: nothing",
                    "docker-tls-tcp.socket: nothing",
                    "docker.service: nothing",
                    "berth-disk-metrics.timer: nothing",
                    "berth-dumps-sync.timer: nothing",
                ],
                `units ${state}`,
            );
        }
    });

    it("enables Docker, its TLS socket, the data mount and the timers, so systemd starts them at boot whatever cloudinit does", () => {
        const { root } = layOut(doc);
        roots.push(root);
        const pass = processUnits(doc.coreos.units);
        const r = enableUnits(root, pass.enabled);
        assert.equal(r.status, 0, r.stderr);
        const link = (target: string, unit: string) => path.join(root, UNIT_DIR, `${target}.wants`, unit);
        for (const [target, unit] of [
            ["multi-user.target", "docker.service"],
            ["sockets.target", "docker-tls-tcp.socket"],
            ["local-fs.target", "opt-data.mount"],
            ["timers.target", "berth-disk-metrics.timer"],
            ["timers.target", "berth-dumps-sync.timer"],
        ] as const) {
            assert.ok(fs.lstatSync(link(target, unit)).isSymbolicLink(), `${target} wants ${unit}`);
        }
    });

    it("the reading catches a document that restarts Docker at every boot", () => {
        const restarting = doc.coreos.units.map((u) => (u.name === "docker.service" ? { ...u, command: "restart" } : u));
        const docker = bootEffects(restarting, all("active")).find((e) => e.unit === "docker.service");
        assert.equal(docker?.effect, "restart");
    });
});

describe("the ported job rules (systemd src/core/job.c)", () => {
    it("start is a no-op on a running or starting unit, and starts a stopped one", () => {
        assert.deepEqual(
            (["active", "reloading", "activating", "inactive", "failed", "deactivating"] as const).map((s) => jobEffect("start", s)),
            ["nothing", "nothing", "nothing", "start", "start", "start"],
        );
    });

    it("restart always stops a running unit, even one still starting; try-restart leaves a stopped one alone", () => {
        assert.equal(jobEffect("restart", "active"), "restart");
        assert.equal(jobEffect("restart", "activating"), "restart");
        assert.equal(jobEffect("restart", "inactive"), "start");
        assert.equal(jobEffect("try-restart", "active"), "restart");
        assert.equal(jobEffect("try-restart", "inactive"), "nothing");
        assert.equal(jobEffect("stop", "active"), "stop");
        assert.equal(jobEffect("stop", "failed"), "nothing");
    });

    it("refuses what coreos-cloudinit refuses, and what is not ported", () => {
        assert.throws(() => jobEffect("enable", "active"), { message: 'Unsupported systemd command "enable"' });
        assert.throws(() => jobEffect("reload-or-restart", "active"), { message: "jobEffect: reload-or-restart is not ported" });
    });

    it("hands network units to systemd-networkd instead of running their command", () => {
        const pass = processUnits([
            { name: "10-eth.network", command: "start", enable: true, content: "[Match]\nName=eth0\n" },
            { name: "a.service", command: "start" },
        ]);
        assert.deepEqual(pass.enabled, []);
        assert.deepEqual(pass.commands, [
            { unit: "systemd-networkd.service", command: "restart" },
            { unit: "a.service", command: "start" },
        ]);
    });
});
