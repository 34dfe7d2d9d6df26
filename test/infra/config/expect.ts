/** Shared expectations for the config tests: parse a literal raw config, or assert its exact refusal. */
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, ConfigErrors, parseConfig, type BerthConfig, type ParseContext, type RawConfig } from "../../../infra/config/parse";

export const CTX = { project: "berth", stack: "dev" };

export const parse = (raw: RawConfig): BerthConfig => parseConfig(raw, CTX);
export const withVersion = (raw: Record<string, string>): BerthConfig => parse({ appVersion: "1", ...raw });

/** The error `parse` throws for `raw` (it must throw ConfigErrors, a pulumi.RunError). */
export function errorOf(raw: RawConfig, ctx: ParseContext = CTX): ConfigErrors {
    try {
        parseConfig(raw, ctx);
    } catch (err) {
        assert.ok(err instanceof ConfigErrors, `not a ConfigErrors: ${String(err)}`);
        assert.ok(pulumi.RunError.isInstance(err), "a RunError: the CLI shows its message without a stack trace");
        return err;
    }
    assert.fail(`accepted: ${JSON.stringify(raw)}`);
}

/** Asserts that `raw` is refused for exactly one key, `key`, with exactly `message`. */
export function refused(raw: RawConfig, key: string, message: string): void {
    const err = errorOf(raw);
    assert.equal(err.message, message);
    assert.equal(err.errors.length, 1, err.message);
    const [one] = err.errors;
    assert.ok(one instanceof ConfigError);
    assert.equal(one.name, "ConfigError");
    assert.equal(one.key, key);
    assert.equal(one.message, message);
}

export const refusedWithVersion = (raw: Record<string, string>, key: string, message: string) =>
    refused({ appVersion: "1", ...raw }, key, message);

export const CIDR_FORM = 'a list of IPv4 or IPv6 CIDRs such as ["203.0.113.7/32"]';
