// Self-test of the e2e foundation: an engine, the three images (real or stand-in), and the behaviour
// the program relies on: MySQL env vars and persistence across restarts, nginx reaching an app by
// network alias through Docker's DNS, a published loopback port. Works the same on real images.
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { MIN_NGINX_VERSION, compareVersions } from "../../support/nginx/binary";
import { mirrorFromSources } from "./debian-root";
import { acquireEngine, acquireEngineOrSkip, defaultEngineDir, Engine } from "./engine";
import { ensureImage } from "./images";
import { run, waitFor } from "./proc";
import { dockerdTlsArgs, freePort, makeTestTls } from "./tls";

test("mirrorFromSources picks the bookworm mirror of deb822 and one-line sources", () => {
    const deb822 = [
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main",
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main",
    ].join("\n\n");
    assert.equal(mirrorFromSources(deb822, ""), "http://mirror.example/debian");
    assert.equal(mirrorFromSources("", "deb [arch=amd64] http://old.example/debian bookworm main\n"), "http://old.example/debian");
    assert.equal(mirrorFromSources("Types: deb-src\nURIs: http://src.example\nSuites: bookworm", ""), undefined);
});

test("engine, images, mysql, nginx and node behave as the e2e suite needs", { timeout: 30 * 60_000 }, async (t) => {
    const engine = await acquireEngineOrSkip(t);
    if (!engine) return;
    const prefix = `berth-harness-${process.pid}`;
    const containers: string[] = [];
    const networks: string[] = [];
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-harness-"));
    t.after(async () => {
        // Containers (and their anonymous volumes) first: a network with members cannot be removed.
        if (containers.length) await engine.docker(["rm", "-fv", ...containers], { timeoutMs: 60_000 });
        for (const n of networks) await engine.docker(["network", "rm", n], { timeoutMs: 60_000 });
        await fs.rm(tmp, { recursive: true, force: true });
        await engine.stop();
    });
    const docker = async (args: string[], timeoutMs = 120_000) => (await engine.docker(args, { check: true, timeoutMs })).stdout.trim();
    const container = (name: string) => (containers.push(`${prefix}-${name}`), `${prefix}-${name}`);
    let published: string | undefined;
    const getThroughNginx = () =>
        waitFor("a 200 through nginx", 60_000, async () => {
            const res = await fetch(`http://${published}/through-nginx`, { headers: { connection: "close" } });
            const text = await res.text();
            return res.status === 200 ? text : undefined;
        });

    const mysql = await ensureImage(engine, "mysql:8.4", "mysql");
    const nginx = await ensureImage(engine, "nginx:1.27", "nginx");
    const node = await ensureImage(engine, "node:20-bookworm-slim", "node");
    t.diagnostic(`engine ${engine.kind} ${engine.host}; images ${mysql} ${nginx} ${node}`);

    const net = `${prefix}-net`;
    await docker(["network", "create", net]);
    networks.push(net);

    await t.test("node image: node with fetch, npm, and the user tools an app Dockerfile uses", async () => {
        const check =
            "node -e 'process.exit(typeof fetch === \"function\" ? 0 : 1)' && npm --version && command -v groupadd && command -v useradd";
        const out = await docker(["run", "--rm", "--network", net, "--entrypoint", "sh", node, "-c", check]);
        assert.match(out, /^\d+\.\d+\.\d+\n.*groupadd\n.*useradd$/s);
    });

    await t.test("mysql: env vars, app user from another container, data kept across a restart", async () => {
        const db = container("db");
        const rootPw = "root pw;1";
        const appPw = `app'pw"\\2`;
        await docker([
            "run",
            "-d",
            "--name",
            db,
            "--network",
            net,
            "--network-alias",
            "db",
            "-e",
            `MYSQL_ROOT_PASSWORD=${rootPw}`,
            "-e",
            "MYSQL_DATABASE=app",
            "-e",
            "MYSQL_USER=app",
            "-e",
            `MYSQL_PASSWORD=${appPw}`,
            "--health-cmd",
            "mysqladmin ping -h 127.0.0.1 --silent",
            "--health-interval",
            "1s",
            "--health-retries",
            "300",
            mysql,
        ]);
        await waitHealthy(engine, db, 240_000);

        const sql = (user: string, pw: string, query: string) =>
            docker(["run", "--rm", "--network", net, mysql, "mysql", "-h", "db", "-u", user, `-p${pw}`, "-N", "-B", "app", "-e", query]);
        assert.equal(await sql("app", appPw, "select 1"), "1");
        assert.equal(await sql("root", rootPw, "select current_user()"), "root@%");
        await sql("app", appPw, "create table kept (n int); insert into kept values (1), (2), (3)");

        const startedBefore = await docker(["inspect", "--format", "{{.State.StartedAt}}", db]);
        await docker(["restart", db], 90_000);
        assert.notEqual(await docker(["inspect", "--format", "{{.State.StartedAt}}", db]), startedBefore);
        const count = await waitFor(
            "mysql to answer after the restart",
            120_000,
            async () => {
                const r = await engine.docker(["exec", db, "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"], { timeoutMs: 20_000 });
                return r.code === 0 ? sql("app", appPw, "select count(*) from kept") : undefined;
            },
            1_000,
        );
        assert.equal(count, "3");
    });

    await t.test("nginx reaches a node app by network alias through 127.0.0.11, on a published loopback port", async () => {
        const app = container("app");
        await docker([
            "run",
            "-d",
            "--name",
            app,
            "--network",
            net,
            "--network-alias",
            "backend",
            node,
            "node",
            "-e",
            "require('http').createServer((q, s) => s.end('hello from ' + q.url)).listen(8080)",
        ]);
        const web = container("web");
        await docker(["create", "--name", web, "--network", net, "-p", "127.0.0.1:0:80", nginx]);
        // The variable makes nginx resolve the alias through Docker's DNS per request, as the program's config does.
        const conf = path.join(tmp, "default.conf");
        await fs.writeFile(
            conf,
            [
                "server {",
                "    listen 80;",
                "    resolver 127.0.0.11 valid=5s;",
                "    set $backend http://backend:8080;",
                "    location / { proxy_pass $backend; }",
                "}",
                "",
            ].join("\n"),
        );
        await docker(["cp", conf, `${web}:/etc/nginx/conf.d/default.conf`]);
        await docker(["start", web]);

        published = (await docker(["port", web, "80/tcp"])).split("\n").find((l) => l.startsWith("127.0.0.1:"));
        assert.ok(published, "nginx's port 80 is published on 127.0.0.1");
        assert.equal(await getThroughNginx(), "hello from /through-nginx");
    });

    await t.test(`nginx image: nginx >= ${MIN_NGINX_VERSION}, whose upstream \`server NAME resolve\` follows Docker's DNS`, async () => {
        const version = /nginx\/(\d+(?:\.\d+)+)/.exec(
            (await engine.docker(["run", "--rm", nginx, "nginx", "-v"], { check: true })).stderr,
        )?.[1];
        assert.ok(version && compareVersions(version, MIN_NGINX_VERSION) >= 0, `${nginx} is nginx ${version}`);
        const web = container("web-resolve");
        await docker(["create", "--name", web, "--network", net, "-p", "127.0.0.1:0:80", nginx]);
        const conf = path.join(tmp, "resolve.conf");
        await fs.writeFile(
            conf,
            [
                "resolver 127.0.0.11 valid=5s ipv6=off;",
                "upstream backend { zone backend 64k; server backend:8080 resolve; keepalive 8; }",
                "server {",
                "    listen 80;",
                '    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }',
                "}",
                "",
            ].join("\n"),
        );
        await docker(["cp", conf, `${web}:/etc/nginx/conf.d/default.conf`]);
        await docker(["start", web]);
        const port = (await docker(["port", web, "80/tcp"])).split("\n").find((l) => l.startsWith("127.0.0.1:"));
        const body = await waitFor("a 200 through the resolve upstream", 60_000, async () => {
            const res = await fetch(`http://${port}/via-resolve`, { headers: { connection: "close" } });
            const text = await res.text();
            return res.status === 200 ? text : undefined;
        });
        assert.equal(body, "hello from /via-resolve");
    });

    await t.test("a second private daemon with extraArgs serves mutual TLS; the first keeps working", async (st) => {
        if (process.getuid?.() !== 0) return st.skip("starting a private dockerd needs root");
        const tls = await makeTestTls(path.join(tmp, "tls"));
        const port = await freePort();
        const second = await acquireEngine({ dir: `${defaultEngineDir()}-tls-selftest`, extraArgs: dockerdTlsArgs(tls, port) });
        try {
            assert.equal(second.kind, "private");
            await second.docker(["version"], { check: true });
            const tcp = { ...second.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tls.clientDir };
            await run("docker", ["version"], { env: tcp, check: true, timeoutMs: 30_000 });
            const ping = ["-sS", "--max-time", "10", "--cacert", tls.caCert, `https://127.0.0.1:${port}/_ping`];
            const client = ["--cert", path.join(tls.clientDir, "cert.pem"), "--key", path.join(tls.clientDir, "key.pem")];
            assert.equal((await run("curl", [...ping, ...client], { check: true })).stdout, "OK");
            assert.notEqual((await run("curl", ping)).code, 0, "the daemon refuses a client without a certificate");
        } finally {
            await second.stop();
        }
        // Another daemon starting and stopping must leave the first one's bridge and forwarding rules alone.
        assert.equal(await getThroughNginx(), "hello from /through-nginx");
    });
});

async function waitHealthy(engine: Engine, name: string, timeoutMs: number): Promise<void> {
    await waitFor(
        `${name} to be healthy`,
        timeoutMs,
        async () => {
            const r = await engine.docker(["inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", name], { check: true });
            const [state, health] = r.stdout.trim().split(" ");
            if (state === "exited" || state === "dead") {
                const logs = await engine.docker(["logs", "--tail", "30", name]);
                throw new Error(`${name} ${state}:\n${logs.stdout}${logs.stderr}`);
            }
            return health === "healthy" ? true : undefined;
        },
        1_000,
    );
}
