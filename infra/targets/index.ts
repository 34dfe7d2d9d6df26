/**
 * Where the app runs. Each target makes its Docker provider (and whatever the engine needs first) and
 * decides the few things that differ between engines; the Deployment is the same on all of them.
 */
import * as pulumi from "@pulumi/pulumi";
import type * as docker from "@pulumi/docker";
import type { EngineEndpoint } from "../deploy";
import type { TargetSettings } from "../deploy/plan";

export interface Target {
    /** What the Deployment takes from the target: the provider, the cutover's way to the same engine, storage, port, platform. */
    deployment: TargetSettings & {
        provider: docker.Provider;
        engine: EngineEndpoint;
        hostId?: pulumi.Input<string>;
        /** What the ACME client waits for before it starts (the DNS records Berth creates). */
        acmeDependsOn?: pulumi.Resource[];
    };
    /** Where visitors reach the app. */
    url: pulumi.Input<string>;
    /** The docker CLI aimed at the engine, for the printed commands. */
    docker: pulumi.Input<string>;
    /** Outputs only this target has. */
    outputs: Record<string, pulumi.Input<unknown>>;
}

export { awsTarget } from "./aws";
export { localTarget } from "./local";
