// Groundwork of the HTTPS drills, on a real engine: lego obtains a certificate from pebble through HTTP-01,
// the challenge served by nginx from a webroot volume lego writes to, then renews it; the chains verify
// against pebble's root. Works the same on the real nginx and lego images.
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { legoImage, pemBlocks, runLego, startPebble, verifyChain, type Pebble } from "./acme";
import { acquireEngineOrSkip } from "./engine";
import { ensureImage, standinImage } from "./images";
import { run } from "./proc";

const DOMAIN = "app.berth.test";
/** Reached through Docker's DNS (a network alias of nginx) rather than pebble's dnsFor. */
const ALIAS_DOMAIN = "www.berth.test";

test("verifyChain refuses a chain that does not end at the given root", async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-acme-unit-"));
    try {
        const selfSigned = async (name: string) => {
            const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];
            await run("openssl", [...args, "-keyout", `${name}.key`, "-out", `${name}.pem`, "-subj", `/CN=${name}`], {
                cwd: tmp,
                check: true,
            });
            return fs.readFile(path.join(tmp, `${name}.pem`), "utf8");
        };
        const a = await selfSigned("a");
        const b = await selfSigned("b");
        assert.throws(() => verifyChain(a, b, DOMAIN), /is not signed by CN=b/);
        assert.throws(() => verifyChain("", b, DOMAIN), /holds no certificate/);
        assert.equal(pemBlocks(`${a}\n${b}`).length, 2);
    } finally {
        await fs.rm(tmp, { recursive: true, force: true });
    }
});

test(
    "lego gets and renews a certificate from pebble through HTTP-01 served by nginx from a shared webroot",
    { timeout: 30 * 60_000 },
    async (t) => {
        const engine = await acquireEngineOrSkip(t);
        if (!engine) return;
        const prefix = `berth-acme-${process.pid}`;
        const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-acme-"));
        const pebbles: Pebble[] = [];
        t.after(async () => {
            for (const p of pebbles) await p.stop();
            // Everything this test made is named `${prefix}-*`: containers (and their anonymous volumes) first,
            // since a network with members or a volume in use cannot be removed.
            const ls = async (args: string[]) =>
                (await engine.docker(args, { timeoutMs: 60_000 })).stdout.split("\n").filter((n) => n.startsWith(`${prefix}-`));
            const containers = await ls(["ps", "-a", "--filter", `name=${prefix}-`, "--format", "{{.Names}}"]);
            if (containers.length) await engine.docker(["rm", "-fv", ...containers], { timeoutMs: 60_000 });
            const volumes = await ls(["volume", "ls", "--filter", `name=${prefix}-`, "--format", "{{.Name}}"]);
            if (volumes.length) await engine.docker(["volume", "rm", ...volumes], { timeoutMs: 60_000 });
            for (const n of await ls(["network", "ls", "--filter", `name=${prefix}-`, "--format", "{{.Name}}"])) {
                await engine.docker(["network", "rm", n], { timeoutMs: 60_000 });
            }
            await fs.rm(tmp, { recursive: true, force: true });
            await engine.stop();
        });
        const docker = async (args: string[], timeoutMs = 120_000) => (await engine.docker(args, { check: true, timeoutMs })).stdout.trim();

        const started = Date.now();
        const nginx = await ensureImage(engine, "nginx:1.30-alpine", "nginx");
        const lego = await legoImage(engine);
        await standinImage(engine, "pebble");
        t.diagnostic(
            `engine ${engine.kind} ${engine.host}; images ${nginx} ${lego} ready in ${Math.round((Date.now() - started) / 1000)} s`,
        );

        const net = `${prefix}-net`;
        const webroot = `${prefix}-webroot`;
        const data = `${prefix}-data`;
        await docker(["network", "create", net]);
        await docker(["volume", "create", webroot]);
        await docker(["volume", "create", data]);

        // nginx serves the challenge files lego writes under WEBROOT/.well-known/acme-challenge/ (RFC 8555 §8.3).
        const web = `${prefix}-nginx`;
        await docker(["create", "--name", web, "--network", net, "--network-alias", ALIAS_DOMAIN, "-v", `${webroot}:/acme:ro`, nginx]);
        const conf = path.join(tmp, "default.conf");
        await fs.writeFile(
            conf,
            [
                "server {",
                "    listen 80;",
                `    server_name ${DOMAIN} ${ALIAS_DOMAIN};`,
                "    location ^~ /.well-known/acme-challenge/ { root /acme; default_type text/plain; }",
                "    location / { return 404; }",
                "}",
                "",
            ].join("\n"),
        );
        await docker(["cp", conf, `${web}:/etc/nginx/conf.d/default.conf`]);
        await docker(["start", web]);
        const nginxIp = await docker(["inspect", "--format", `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, web]);
        assert.match(nginxIp, /^\d+\.\d+\.\d+\.\d+$/);

        const p = await startPebble(engine, net, { name: `${prefix}-pebble`, dnsFor: { [DOMAIN]: nginxIp } });
        pebbles.push(p);
        const legoRun = async (name: string, command: string[], domain = DOMAIN) => {
            const args = ["--accept-tos", "--email", "ops@berth.test", "--server", p.directoryUrl, "--domains", domain];
            const r = await runLego(engine, lego, {
                name: `${prefix}-${name}`,
                network: net,
                volumes: [`${webroot}:/acme`, `${data}:/data`],
                caPem: p.tlsCaPem,
                args: [...args, "--http", "--http.webroot", "/acme", "--path", "/data", ...command],
            });
            assert.equal(r.code, 0, `lego ${command.join(" ")} exited ${r.code}:\n${r.stdout}${r.stderr}\npebble:\n${await p.logs()}`);
            return r.stdout + r.stderr;
        };
        // lego keeps the bundle (leaf, then issuer) as certificates/DOMAIN.crt under --path.
        const readChain = (domain = DOMAIN) =>
            docker(["run", "--rm", "-v", `${data}:/data:ro`, "--entrypoint", "cat", lego, `/data/certificates/${domain}.crt`]);
        const opensslVerify = async (chainPem: string) => {
            const [leaf, ...issuers] = pemBlocks(chainPem);
            await fs.writeFile(path.join(tmp, "root.pem"), p.rootPem);
            await fs.writeFile(path.join(tmp, "leaf.pem"), `${leaf}\n`);
            await fs.writeFile(path.join(tmp, "issuers.pem"), `${issuers.join("\n")}\n`);
            const r = await run(
                "openssl",
                ["verify", "-CAfile", "root.pem", "-untrusted", "issuers.pem", "-verify_hostname", DOMAIN, "leaf.pem"],
                {
                    cwd: tmp,
                },
            );
            assert.equal(r.code, 0, `openssl verify: ${r.stdout}${r.stderr}`);
        };
        const challengeGets = async () => {
            const r = await engine.docker(["logs", web], { timeoutMs: 30_000 });
            return (r.stdout.match(/"GET \/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+ HTTP\/1\.1" 200 /g) ?? []).length;
        };

        await legoRun("lego-run", ["run"]);
        const first = await readChain();
        const issued = verifyChain(first, p.rootPem, DOMAIN);
        await opensslVerify(first);
        assert.ok(pemBlocks(first).length >= 2, "the bundle holds the leaf and its issuer");
        assert.ok((await challengeGets()) >= 1, "pebble fetched the challenge through nginx");

        // --days 3650 is past the 90-day lifetime, so lego renews; --no-random-sleep skips lego's random pause
        // before a renewal (lego renew --help).
        const gets = await challengeGets();
        await legoRun("lego-renew", ["renew", "--days", "3650", "--no-random-sleep"]);
        const second = await readChain();
        const renewed = verifyChain(second, p.rootPem, DOMAIN);
        await opensslVerify(second);
        t.diagnostic(`serials ${issued.serial} then ${renewed.serial}`);
        assert.notEqual(renewed.serial, issued.serial, "the renewal is a new certificate");
        assert.ok((await challengeGets()) > gets, "the renewal was validated through nginx again (PEBBLE_AUTHZREUSE=0)");

        // Without a dnsFor entry pebble asks Docker's DNS (127.0.0.11), which answers nginx's network alias.
        await legoRun("lego-alias", ["run"], ALIAS_DOMAIN);
        verifyChain(await readChain(ALIAS_DOMAIN), p.rootPem, ALIAS_DOMAIN);
    },
);
