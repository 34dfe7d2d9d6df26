/**
 * The ported provider and engine details the planner stands on: Go's duration text, the providers'
 * read-back and diff, and the engine's property paths (ignoreChanges, replaceOnChanges).
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { canonicalGoDuration, goDurationString, parseGoDuration } from "./go-duration";
import { contains, detailedDiff, parsePath, processIgnoreChanges, UNKNOWN } from "./property-path";
import { providerDiff, readBack } from "./provider-rules";

describe("Go durations, as the Docker provider parses and writes them back", () => {
    it("writes time.Duration.String()", () => {
        const cases: [string, string][] = [
            ["120s", "2m0s"],
            ["5s", "5s"],
            ["90s", "1m30s"],
            ["3600s", "1h0m0s"],
            ["1.5s", "1.5s"],
            ["250ms", "250ms"],
            ["1500us", "1.5ms"],
            ["0s", "0s"],
            ["0", "0s"],
            ["2h45m", "2h45m0s"],
            ["1ns", "1ns"],
            ["-90s", "-1m30s"],
        ];
        for (const [given, back] of cases) assert.equal(canonicalGoDuration(given), back, given);
        assert.equal(goDurationString(1_000n), "1\u00b5s");
        assert.equal(parseGoDuration("1m30s"), 90_000_000_000n);
    });

    it("refuses what time.ParseDuration refuses", () => {
        for (const bad of ["", "5", "5 seconds", "1d", ".s"]) assert.throws(() => parseGoDuration(bad), /not a Go duration/, bad);
    });
});

describe("what the providers record and compare", () => {
    it("a container's state: the health check as Go writes it, the rest as given or never read back", () => {
        const state = readBack("container", {
            image: "sha256:aaa",
            healthcheck: { tests: ["CMD", "true"], startPeriod: "120s", interval: "5s" },
            envs: ["A=1"],
            labels: [{ label: "v", value: "1" }],
            ports: [{ internal: 80, external: 80 }],
        });
        assert.deepEqual(state.healthcheck, {
            tests: ["CMD", "true"],
            interval: "5s",
            timeout: "0s",
            startPeriod: "2m0s",
            startInterval: "0s",
            retries: 0,
        });
        assert.deepEqual(state.envs, ["A=1"]);
        assert.deepEqual(state.labels, [{ label: "v", value: "1" }]);
        assert.deepEqual(state.ports, [{ internal: 80, external: 80, ip: "0.0.0.0", protocol: "tcp" }]);
        assert.equal(state.restart, "no");
    });

    it("an input nobody classified stops the plan instead of guessing", () => {
        assert.throws(
            () => readBack("container", { image: "x", newFangledOption: true }),
            /container input newFangledOption is not classified/,
        );
    });

    it("an unknown value replaces a container only through a ForceNew property", () => {
        const diff = (k: string, old: unknown) =>
            providerDiff({
                kind: "container",
                oldInputs: { [k]: old },
                oldOutputs: readBack("container", { [k]: old }),
                newInputs: { [k]: UNKNOWN },
                ignoreChanges: [],
            });
        assert.deepEqual(diff("labels", [{ label: "a", value: "b" }]).replaceKeys, ["labels"]);
        assert.deepEqual(diff("image", "sha256:a").replaceKeys, ["image"]);
        const hc = diff("healthcheck", { tests: ["CMD", "true"] });
        assert.deepEqual([hc.changedKeys, hc.replaceKeys], [["healthcheck"], []]);
        assert.equal(diff("restart", "always").replaceKeys.length, 0);
    });

    it("set-typed properties ignore order; left-out computed ones are no change", () => {
        const old = { image: "x", envs: ["A=1", "B=2"], command: ["run"] };
        const d = providerDiff({
            kind: "container",
            oldInputs: old,
            oldOutputs: readBack("container", old),
            newInputs: { image: "x", envs: ["B=2", "A=1"] },
            ignoreChanges: [],
        });
        assert.deepEqual(d.changedKeys, []);
    });

    it("a volume reads back as given; any change of what Berth sets replaces it, created before the old one goes", () => {
        const labels = [
            { label: "berth.volume", value: "mysql" },
            { label: "berth.stack", value: "dev" },
        ];
        const state = readBack("volume", { labels });
        assert.deepEqual(state.labels, [...labels].reverse(), "a set, in a fixed order");
        const diff = (newInputs: Record<string, unknown>) =>
            providerDiff({ kind: "volume", oldInputs: { labels }, oldOutputs: state, newInputs, ignoreChanges: [] });
        // Autonamed (no name given) and driver left to the engine: no change.
        assert.deepEqual(diff({ labels: [...labels].reverse() }).changedKeys, []);
        const relabelled = diff({ labels: [{ label: "berth.volume", value: "other" }] });
        assert.deepEqual([relabelled.replaceKeys, relabelled.deleteBeforeReplace], [["labels"], false]);
        assert.deepEqual(diff({ labels, driver: "other" }).replaceKeys, ["driver"]);
        assert.throws(() => readBack("volume", { labels, size: 1 }), /volume input size is not classified/);
    });

    it("pulumi-docker's Image asks for an update, never a replacement, whatever changed", () => {
        const d = providerDiff({
            kind: "image",
            oldInputs: { imageName: "a:v1", registry: { server: "r", username: "u" } },
            oldOutputs: {},
            newInputs: { imageName: UNKNOWN, registry: { server: "r", username: "other" } },
            ignoreChanges: [],
        });
        assert.deepEqual([d.changedKeys, d.replaceKeys, d.deleteBeforeReplace], [["imageName"], [], false]);
    });
});

describe("the engine's property paths", () => {
    it("parses and contains as PropertyPath does", () => {
        assert.deepEqual(parsePath('a.b[0]["c.d"][*]'), ["a", "b", 0, "c.d", "*"]);
        assert.ok(contains(parsePath("triggers[*]"), parsePath("triggers[0]")));
        assert.ok(!contains(parsePath("triggers[*]"), parsePath("triggers")));
        assert.ok(contains(parsePath("healthcheck"), parsePath("healthcheck.interval")));
    });

    it("processIgnoreChanges resets ignored paths to the old values, and reports the ones it cannot", () => {
        const old = { image: "v1", hc: { interval: "5s" }, list: [1, 2], gone: "x" };
        const news = { image: "v2", hc: { interval: "9s", timeout: "1s" }, list: [1, 3, 4] };
        const { inputs, invalid } = processIgnoreChanges(news, old, ["image", "hc.interval", "list[1]", "list[2]", "gone", "absent"]);
        assert.deepEqual(inputs, { image: "v1", hc: { interval: "5s", timeout: "1s" }, list: [1, 2, 4], gone: "x" });
        // An element only the new list has cannot be reset (an array is never resized).
        assert.deepEqual(invalid, ["list[2]"]);
        assert.deepEqual(news.image, "v2", "the program's value is not modified");
    });

    it("a detailed diff names each changed leaf", () => {
        const d = detailedDiff({ triggers: ["a"], env: { A: "1" }, same: 1 }, { triggers: ["b", "c"], env: { A: "1", B: "2" }, same: 1 });
        assert.deepEqual(Object.fromEntries(d), { "triggers[0]": "update", "triggers[1]": "add", "env.B": "add" });
    });
});
