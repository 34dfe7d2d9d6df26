/**
 * How the Node.js language host prints an error that ends the program: a port of the uncaught-error
 * handler in github.com/pulumi/pulumi sdk/nodejs/cmd/run/run.ts (runProgram's `uncaughtHandler`, at
 * commit 1b5949891b3c; the same logic ships in @pulumi/pulumi's cmd/run/run.js).
 */
import * as util from "node:util";
import * as pulumi from "@pulumi/pulumi";

/** The text `pulumi up` shows for `err` thrown by the program at `program`. */
export function reportedByNodeHost(err: unknown, program = "/work/berth"): string {
    // A RunError: "Always hide the stack for RunErrors."
    if (pulumi.RunError.isInstance(err)) return err.message;
    // A ResourceError hides its stack only when asked to.
    if (pulumi.ResourceError.isInstance(err)) return err.hideStack ? err.message : util.inspect(err);
    // Anything else (TSError and SyntaxError aside): a banner, then the error with its stack.
    return `Running program '${program}' failed with an unhandled exception:\n${util.inspect(err)}`;
}
