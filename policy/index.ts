// Berth's policy pack: `pulumi preview --policy-pack policy` (and `pulumi up --policy-pack policy`) runs it
// against every resource the program declares. The policies live in policies.ts, which the tests import
// without serving them: constructing the PolicyPack starts the gRPC server the CLI talks to
// (pulumi/pulumi-policy sdk/nodejs/policy/policy.ts, PolicyPack → server.ts serve).
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./policies";

new PolicyPack(PACK_NAME, packArgs);
