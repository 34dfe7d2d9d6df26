import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { KNOWN_KEYS, parseConfig, SECRET_KEYS } from "../infra/config";

const ROOT = path.resolve(__dirname, "..");
const project = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
    name: string;
    backend?: { url?: string };
    config: Record<string, { type?: string; default?: unknown; description?: string; secret?: boolean }>;
};
const ctx = { project: "berth", stack: "dev" };

describe("Pulumi.yaml", () => {
    it("is the berth project, with the local state backend as the default", () => {
        assert.equal(project.name, "berth");
        assert.equal(project.backend?.url, "file://~", "no Pulumi Cloud account needed");
    });

    it("documents every key the program reads, and no other", () => {
        assert.deepEqual(Object.keys(project.config).sort(), [...KNOWN_KEYS].sort());
        for (const [key, v] of Object.entries(project.config)) {
            assert.ok(v.type, `${key} has a type`);
            assert.ok(v.description && v.description.length > 10, `${key} has a description`);
        }
        for (const key of SECRET_KEYS) assert.equal(project.config[key].secret, true, `${key} is marked secret`);
    });

    it("states the same defaults as the program applies", () => {
        const base = parseConfig({ appVersion: "1", adminCidrs: '["198.51.100.7/32"]' }, ctx) as unknown as Record<string, unknown>;
        for (const [key, v] of Object.entries(project.config)) {
            if (v.default === undefined) continue;
            const raw = typeof v.default === "string" ? v.default : JSON.stringify(v.default);
            const withDefault = parseConfig({ appVersion: "1", adminCidrs: '["198.51.100.7/32"]', [key]: raw }, ctx) as unknown as Record<
                string,
                unknown
            >;
            assert.deepEqual(withDefault[key], base[key], `${key}: Pulumi.yaml says ${raw}`);
        }
    });

    it("has a working example stack in eu-west-1", () => {
        const dev = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, string> };
        assert.equal(dev.config["aws:region"], "eu-west-1");
        const raw = Object.fromEntries(
            Object.entries(dev.config)
                .filter(([k]) => k.startsWith("berth:"))
                .map(([k, x]) => [k.slice(6), String(x)]),
        );
        assert.equal(parseConfig({ ...raw, adminCidrs: '["198.51.100.7/32"]' }, ctx).appVersion, 1);
    });
});
