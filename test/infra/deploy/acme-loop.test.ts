// The ACME client's loop (infra/deploy/acme.ts acmeScript) run for real, by dash and by busybox sh (the
// official lego image's /bin/sh), against a stand-in `lego` that records its arguments and writes the
// files lego writes (certificates/<first name>.crt and .key): first order, retries with backoff, publish
// order and modes, renewals that keep the key, a refused renewal that leaves the published files alone,
// a change of names, and SIGTERM.
import { describe, it, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { acmeEnvironment, acmeScript, NGINX_WORKER_GID, RENEW_DAYS } from "../../../infra/deploy/acme";

const FAKE_LEGO = `#!/bin/sh
echo "$*" >> "$FAKE_DIR/calls"
p=; main=; cmd=
while [ $# -gt 0 ]; do
  case "$1" in
    --path) p=$2; shift ;;
    --domains) [ -z "$main" ] && main=$2; shift ;;
    run|renew) cmd=$1 ;;
  esac
  shift
done
if [ -e "$FAKE_DIR/fail" ]; then echo "acme: error: 400 :: urn:ietf:params:acme:error:rejectedIdentifier" >&2; exit 1; fi
mkdir -p "$p/certificates"
n=$(cat "$FAKE_DIR/count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE_DIR/count"
printf 'CHAIN %s %s\\n' "$n" "$main" > "$p/certificates/$main.crt"
if [ "$cmd" = run ]; then printf 'KEY %s\\n' "$n" > "$p/certificates/$main.key"; fi
`;

const shells: [string, string[]][] = [
    ["dash", ["dash"]],
    ["busybox sh", ["busybox", "sh"]],
];

const isRoot = process.getuid?.() === 0;

describe("the ACME client's loop, run by the shells that run it", () => {
    const tmps: string[] = [];
    const running = new Set<ChildProcess>();
    after(async () => {
        // A failed assertion leaves its loop running: end it, or the test process never exits.
        for (const c of running) c.kill("SIGKILL");
        for (const t of tmps) await fs.rm(t, { recursive: true, force: true });
    });

    for (const [name, sh] of shells) {
        it(`${name}: orders, retries with backoff, publishes key then chain, renews with the same key, keeps serving on a refusal`, async () => {
            const found = spawnSync(sh[0]!, [...sh.slice(1), "-c", "true"]);
            // Both are in CI's packages (.ci/run): a missing shell fails rather than skips.
            assert.equal(
                found.error,
                undefined,
                `${sh[0]} must be installed (apt-get install ${sh[0] === "busybox" ? "busybox" : "dash"})`,
            );
            const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-acme-loop-"));
            tmps.push(tmp);
            const dir = path.join(tmp, "acme");
            const fake = path.join(tmp, "fake");
            await fs.mkdir(fake);
            const lego = path.join(tmp, "lego");
            await fs.writeFile(lego, FAKE_LEGO, { mode: 0o755 });
            await fs.writeFile(path.join(fake, "fail"), "");

            const start = (domains: string[]) => {
                const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", FAKE_DIR: fake };
                for (const e of acmeEnvironment({ domains, email: "ops@example.com", server: "https://acme.test/dir" })) {
                    const i = e.indexOf("=");
                    env[e.slice(0, i)] = e.slice(i + 1);
                }
                // Seconds instead of hours; as root the key's group is nginx's, else our own (chgrp needs root).
                Object.assign(env, { CHECK_SECONDS: "1", RETRY_SECONDS: "1", RETRY_MAX_SECONDS: "2" });
                if (!isRoot) env.CERT_GID = String(process.getgid?.() ?? 0);
                const child = spawn(sh[0]!, [...sh.slice(1), "-c", acmeScript({ dir, lego })], { env, stdio: ["ignore", "pipe", "pipe"] });
                running.add(child);
                child.on("exit", () => running.delete(child));
                let out = "";
                child.stdout.on("data", (b: Buffer) => (out += b.toString()));
                child.stderr.on("data", (b: Buffer) => (out += b.toString()));
                return { child, out: () => out };
            };
            const until = async (what: string, ok: () => Promise<boolean> | boolean, ms = 15_000) => {
                const end = Date.now() + ms;
                while (!(await ok())) {
                    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
                    await new Promise((r) => setTimeout(r, 50));
                }
            };
            const stop = async (child: ChildProcess) => {
                const code = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
                const t0 = Date.now();
                child.kill("SIGTERM");
                const c = await code;
                return { code: c, ms: Date.now() - t0 };
            };
            const calls = async () => (await fs.readFile(path.join(fake, "calls"), "utf8").catch(() => "")).trim().split("\n");
            const live = (f: string) => path.join(dir, "live", f);

            // The CA refuses at first: one clear line, a retry after 1 s, then 2 s (the maximum here).
            let p = start(["a.example.com", "b.example.com"]);
            await until("two failed runs", () => (p.out().match(/lego run failed/g) ?? []).length >= 2);
            assert.match(
                p.out(),
                /berth-acme: lego run failed \(exit 1\) for a\.example\.com b\.example\.com at https:\/\/acme\.test\/dir; HTTP keeps serving the app until a certificate is issued; next try in 1 s\n/,
            );
            assert.match(p.out(), /next try in 2 s\n/, "the wait doubles");
            assert.match(p.out(), /urn:ietf:params:acme:error:rejectedIdentifier/, "lego's own answer is in the log");
            await assert.rejects(fs.stat(live("fullchain.pem")), "nothing is published before an order succeeds");

            // The CA answers: the key, then the chain, are published; then renewals every check.
            await fs.rm(path.join(fake, "fail"));
            await until("a published chain", async () => (await fs.stat(live("fullchain.pem")).catch(() => undefined)) !== undefined);
            await until("two renewals", async () => (await calls()).filter((c) => / renew /.test(c)).length >= 2);
            const out = p.out();
            assert.ok(out.indexOf("published privkey.pem") < out.indexOf("published fullchain.pem"), "the key goes first");
            const firstRun = (await calls()).find((c) => / run$/.test(c));
            assert.ok(firstRun, "the first success is an order (lego run)");
            assert.match(
                firstRun,
                /--accept-tos --email ops@example\.com --server https:\/\/acme\.test\/dir --path \S+ --key-type ec256 --http --http\.webroot \S+webroot --domains a\.example\.com --domains b\.example\.com run$/,
            );
            const renew = (await calls()).find((c) => / renew /.test(c))!;
            assert.match(renew, new RegExp(`renew --days ${RENEW_DAYS} --no-random-sleep --reuse-key$`));
            assert.equal((out.match(/published privkey\.pem/g) ?? []).length, 1, "renewals keep the key");
            assert.ok((out.match(/published fullchain\.pem/g) ?? []).length >= 2, "each renewal publishes its chain");
            const key = await fs.stat(live("privkey.pem"));
            assert.equal(key.mode & 0o777, 0o640);
            assert.equal((await fs.stat(live("fullchain.pem"))).mode & 0o777, 0o644);
            assert.equal((await fs.stat(path.join(dir, "live"))).mode & 0o777, 0o750);
            if (isRoot) assert.equal(key.gid, NGINX_WORKER_GID);
            assert.deepEqual(
                (await fs.readdir(path.join(dir, "live"))).sort(),
                ["fullchain.pem", "privkey.pem"],
                "no temporary file left behind",
            );

            // A refused renewal: the published files stay as they are.
            await fs.writeFile(path.join(fake, "fail"), "");
            const renewalsBefore = (p.out().match(/lego renew failed/g) ?? []).length;
            await until("a refused renewal", () => (p.out().match(/lego renew failed/g) ?? []).length > renewalsBefore);
            const chain = await fs.readFile(live("fullchain.pem"), "utf8");
            await until("another refused renewal", () => (p.out().match(/lego renew failed/g) ?? []).length > renewalsBefore + 1);
            assert.equal(await fs.readFile(live("fullchain.pem"), "utf8"), chain);
            assert.match(
                p.out(),
                /lego renew failed \(exit 1\) for a\.example\.com b\.example\.com at \S+; the current certificate keeps serving; next try in 1 s/,
            );

            // SIGTERM ends it at once, mid-sleep, cleanly.
            const stopped = await stop(p.child);
            assert.equal(stopped.code, 0);
            assert.ok(stopped.ms < 1500, `stopped in ${stopped.ms} ms`);
            assert.match(p.out(), /berth-acme: stopping\n$/);

            // New names: a new order (lego run), not a renewal of the old certificate.
            await fs.rm(path.join(fake, "fail"));
            await fs.writeFile(path.join(fake, "calls"), "");
            p = start(["c.example.com"]);
            await until("the new certificate", async () => (await fs.readFile(live("fullchain.pem"), "utf8")).includes("c.example.com"));
            assert.match((await calls())[0] ?? "", /--domains c\.example\.com run$/);
            await stop(p.child);
        });
    }
});
