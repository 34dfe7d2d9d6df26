import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { DockerResource, planUpdate } from "./plan";

const r = (name: string, inputs: Record<string, unknown>, extra: Partial<DockerResource> = {}): DockerResource => ({
    kind: "container",
    name,
    urn: `urn:${name}`,
    inputs,
    deps: [],
    deleteBeforeReplace: true,
    ignoreChanges: [],
    ...extra,
});
const show = (steps: ReturnType<typeof planUpdate>) =>
    steps.map((s) => `${s.op} ${s.resource.name}${s.op === "create" ? ` ${JSON.stringify(s.resource.inputs)}` : ""}`);

describe("Pulumi's steps for an update", () => {
    it("creates everything on the first deployment, in the given order", () => {
        assert.deepEqual(show(planUpdate(undefined, [r("a", { x: 1 }), r("b", { y: 1 })])), ['create a {"x":1}', 'create b {"y":1}']);
    });

    it("deletes first for delete-before-replace, and last for create-before-delete", () => {
        const before = [r("db", { v: 1 }), r("app", { v: 1 }, { deleteBeforeReplace: false }), r("web", { v: 1 })];
        const after = [r("db", { v: 2 }), r("app", { v: 2 }, { deleteBeforeReplace: false }), r("web", { v: 1 })];
        assert.deepEqual(show(planUpdate(before, after)), [
            "delete db",
            'create db {"v":2}',
            'create app {"v":2}',
            "same web",
            "delete app",
        ]);
    });

    it("ignores the inputs the resource ignores, and deletes what is no longer declared", () => {
        const before = [r("once", { image: "v1" }), r("gone", {})];
        const after = [r("once", { image: "v2" }, { ignoreChanges: ["image"] })];
        assert.deepEqual(show(planUpdate(before, after)), ["same once", "delete gone"]);
    });
});
