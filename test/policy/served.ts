/**
 * The policy pack served as the Pulumi CLI serves it, spoken to as the engine speaks to it. The CLI starts
 * a Node.js pack with the `pulumi-analyzer-policy` shim: in the pack's directory, `node <@pulumi/pulumi's
 * cmd/run-policy-pack> <engine address> .` (pulumi/pulumi sdk/nodejs/dist/pulumi-analyzer-policy, and
 * sdk/go/common/resource/plugin/analyzer_plugin.go NewPolicyAnalyzer: pwd is the pack's path, args
 * `[host.ServerAddr(), "."]`). run-policy-pack compiles the pack with ts-node, type-checking it against
 * its tsconfig.json, and the PolicyPack serves the Analyzer gRPC service on 127.0.0.1, printing its port
 * (pulumi/pulumi-policy sdk/nodejs/policy/server.ts, serve). Requests are built as the engine builds them
 * (analyzer_plugin.go, Analyze: properties marshalled with secrets kept, and resource options).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as proto from "@pulumi/pulumi/proto/analyzer_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import type { EnforcementLevel } from "@pulumi/policy";
import type { RecordedResource } from "../support/program";
import type { Diagnostic, PackConfig } from "./harness";

const ROOT = path.resolve(__dirname, "../..");
export const PACK_DIR = path.join(ROOT, "policy");

const LEVELS: Record<number, EnforcementLevel> = {
    [proto.EnforcementLevel.ADVISORY]: "advisory",
    [proto.EnforcementLevel.MANDATORY]: "mandatory",
    [proto.EnforcementLevel.DISABLED]: "disabled",
    [proto.EnforcementLevel.REMEDIATE]: "remediate",
};

/** Calls a unary gRPC method as a promise. */
function call<Res>(start: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown): Promise<Res> {
    return new Promise((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
}

export interface ServedPack {
    info: proto.AnalyzerInfo;
    /**
     * Sends the pack's config, as the CLI does once it has reconciled it with the schema defaults: with each
     * policy's enforcement level (the server takes an unset one as advisory: server.ts, configure).
     */
    configure(config: PackConfig): Promise<void>;
    analyze(r: RecordedResource): Promise<Diagnostic[]>;
    close(): void;
}

/** Starts the pack in policy/ and connects to it; rejects with its output when it does not come up. */
export async function servePack(timeoutMs = 120_000): Promise<ServedPack> {
    const child: ChildProcess = spawn(
        process.execPath,
        [require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [PACK_DIR] }), "127.0.0.1:0", "."],
        { cwd: PACK_DIR, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => (err += String(d)));
    const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the policy pack did not start in ${timeoutMs} ms:\n${err}`)), timeoutMs);
        child.stdout!.on("data", (d) => {
            out += String(d);
            const m = /^(\d+)\s*$/m.exec(out);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        child.on("exit", (code) => {
            clearTimeout(timer);
            reject(new Error(`the policy pack exited ${code}:\n${err}${out}`));
        });
    });
    const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const close = () => {
        client.close();
        child.kill();
    };
    try {
        const info = await call<proto.AnalyzerInfo>((cb) => client.getAnalyzerInfo(new Empty(), cb));
        return {
            info,
            configure: async (config) => {
                const req = new proto.ConfigureAnalyzerRequest();
                for (const [name, { enforcementLevel, ...properties }] of Object.entries(config)) {
                    const c = new proto.PolicyConfig();
                    const own = info.getPoliciesList().find((p) => p.getName() === name);
                    if (!own) throw new Error(`the pack has no policy ${name}`);
                    const level = Object.entries(LEVELS).find(([, l]) => l === enforcementLevel);
                    c.setEnforcementlevel(level ? Number(level[0]) : own.getEnforcementlevel());
                    c.setProperties(Struct.fromJavaScript(properties as Record<string, never>));
                    req.getPolicyconfigMap().set(name, c);
                }
                await call((cb) => client.configure(req, cb));
            },
            analyze: async (r) => {
                // The engine keeps secrets marked (analyzer_plugin.go, Analyze: KeepSecrets: true).
                const props = Object.fromEntries(
                    Object.entries(r.inputs).map(([k, v]) => [
                        k,
                        r.secretInputs.includes(k) ? { [specialSigKey]: specialSecretSig, value: v } : v,
                    ]),
                );
                const opts = new proto.AnalyzerResourceOptions();
                opts.setIgnorechangesList(r.ignoreChanges);
                opts.setAdditionalsecretoutputsList(r.additionalSecretOutputs);
                if (r.deleteBeforeReplace !== undefined) {
                    opts.setDeletebeforereplacedefined(true);
                    opts.setDeletebeforereplace(r.deleteBeforeReplace);
                }
                if (r.parent) opts.setParent(r.parent);
                const req = new proto.AnalyzeRequest();
                req.setType(r.type);
                req.setUrn(r.urn);
                req.setName(r.name);
                req.setProperties(Struct.fromJavaScript(props as Record<string, never>));
                req.setOptions(opts);
                const res = await call<proto.AnalyzeResponse>((cb) => client.analyze(req, cb));
                return res.getDiagnosticsList().map((d) => ({
                    policyName: d.getPolicyname(),
                    urn: d.getUrn() || r.urn,
                    message: d.getMessage(),
                    enforcementLevel: LEVELS[d.getEnforcementlevel()]!,
                }));
            },
            close,
        };
    } catch (e) {
        close();
        throw e;
    }
}
