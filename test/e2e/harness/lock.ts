// A cross-process lock for the harness: a file naming its holder's pid. A holder that died (a killed
// test run) leaves it stale, and the next taker removes it.
import { promises as fs } from "node:fs";
import { waitFor } from "./proc";

export function alive(pid: number): boolean {
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

export async function withLock<T>(lockFile: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    await waitFor(
        `the lock ${lockFile}`,
        timeoutMs,
        async () => {
            try {
                await fs.writeFile(lockFile, String(process.pid), { flag: "wx" });
                return true;
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            }
            const holder = Number((await fs.readFile(lockFile, "utf8").catch(() => "")).trim());
            const age = Date.now() - ((await fs.stat(lockFile).catch(() => undefined))?.mtimeMs ?? Date.now());
            // An empty lock younger than a few seconds is one being written right now.
            if (holder > 0 ? !alive(holder) : age > 5_000) await fs.rm(lockFile, { force: true });
            return undefined;
        },
        200,
    );
    try {
        return await fn();
    } finally {
        await fs.rm(lockFile, { force: true });
    }
}
