/** Ready-to-paste commands printed by `pulumi stack output`. */
export interface OperatorCommands {
    /** The docker CLI aimed at the host through the stack's context. */
    docker: string;
    /** Creates that context from the stack outputs. */
    dockerContext: string;
}

export function contextName(stack: string): string {
    return `berth-${stack}`;
}

export function operatorCommands(i: { stack: string }): OperatorCommands {
    const ctx = contextName(i.stack);
    return {
        docker: `docker --context ${ctx}`,
        dockerContext: `pulumi stack output --json --show-secrets | node scripts/docker-context.js ${ctx}`,
    };
}
