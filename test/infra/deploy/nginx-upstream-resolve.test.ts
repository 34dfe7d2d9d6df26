// Proof that the test nginx (test/support/nginx/binary.ts: Debian sid's) has what the nginx design
// builds on: an upstream `server NAME:PORT resolve` in a shared-memory zone, re-resolved through
// `resolver` while nginx runs, with upstream keep-alive (https://nginx.org/en/docs/http/ngx_http_upstream_module.html#resolve,
// nginx >= 1.27.3). The host's bookworm nginx (1.22) refuses the first config with `invalid parameter "resolve"`.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it, type TestContext } from "node:test";
import { MIN_NGINX_VERSION, compareVersions, nginxBinary, runNginx } from "../../support/nginx/binary";
import { startDns } from "../../support/nginx/dns";
import { get, mainConf, startNginx, stop } from "../../support/nginx/harness";

async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
}

function tempDir(t: TestContext): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-nginx-resolve-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
}

/** The file inside http {}: one upstream of `host:port resolve`, kept-alive, proxied from 127.0.0.1:listenPort. */
function conf(host: string, port: number, dnsPort: number, listenPort: number): string {
    return [
        `resolver 127.0.0.1:${dnsPort} valid=1s ipv6=off;`,
        "upstream u {",
        "    zone u 64k;",
        `    server ${host}:${port} resolve;`,
        "    keepalive 8;",
        "}",
        "server {",
        `    listen 127.0.0.1:${listenPort};`,
        "    location / {",
        "        proxy_pass http://u;",
        "        proxy_http_version 1.1;",
        '        proxy_set_header Connection "";',
        "    }",
        "}",
        "",
    ].join("\n");
}

function writeConf(dir: string, text: string): void {
    fs.writeFileSync(path.join(dir, "default.conf"), text);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConf(dir, path.join(dir, "default.conf")));
}

/** An HTTP server on `host` that answers with its name and the client port of the connection (nginx's side). */
async function backend(t: TestContext, name: string, host: string, port: number): Promise<void> {
    const server = http.createServer((req, res) => res.end(JSON.stringify({ name, peerPort: req.socket.remotePort })));
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, resolve);
    });
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    t.after(() => server.closeAllConnections());
}

describe(`nginx >= ${MIN_NGINX_VERSION}: upstream server … resolve`, () => {
    it("nginx -t accepts a zone, `server localhost:PORT resolve`, keepalive and a resolver", async (t) => {
        const nginx = await nginxBinary();
        t.diagnostic(`nginx ${nginx.version} from ${nginx.origin}`);
        assert.ok(compareVersions(nginx.version, MIN_NGINX_VERSION) >= 0, nginx.version);
        assert.deepEqual(
            ["1.22.1", "1.27.2", "1.27.3", "1.30.6"].map((v) => compareVersions(v, MIN_NGINX_VERSION)),
            [-1, -1, 0, 1],
        );

        const dir = tempDir(t);
        const dns = await startDns({ localhost: ["127.0.0.1"] });
        t.after(() => dns.close());
        writeConf(dir, conf("localhost", await freePort(), dns.port, await freePort()));
        const r = await runNginx(["-t", "-p", dir, "-e", path.join(dir, "error.log"), "-c", path.join(dir, "nginx.conf")]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /test is successful/);
    });

    it("re-resolves the name while running (no reload) and reuses upstream connections", async (t) => {
        const dir = tempDir(t);
        const records: Record<string, string[]> = { "app.test": ["127.0.0.2"] }; // startDns reads it per query
        const dns = await startDns(records);
        t.after(() => dns.close());
        const port = await freePort();
        await backend(t, "a", "127.0.0.2", port);
        await backend(t, "b", "127.0.0.3", port);
        const listenPort = await freePort();
        writeConf(dir, conf("app.test", port, dns.port, listenPort));
        const nginx = await startNginx(dir);
        t.after(() => stop(nginx, "SIGTERM"));

        const url = `http://127.0.0.1:${listenPort}/`;
        const ask = async () => {
            const r = await get(url);
            return r.status === 200
                ? (JSON.parse(r.body) as { name: string; peerPort: number })
                : { name: `status ${r.status}`, peerPort: 0 };
        };
        const until = async (name: string) => {
            for (let i = 0; i < 100; i++) {
                if (nginx.exitCode !== null)
                    assert.fail(`nginx exited ${nginx.exitCode}: ${fs.readFileSync(path.join(dir, "error.log"), "utf8")}`);
                const seen = await ask().catch(() => undefined);
                if (seen?.name === name) return seen;
                await new Promise((r) => setTimeout(r, 100));
            }
            assert.fail(`no answer from ${name} within 10 s; DNS queries: ${dns.queries.join(", ")}`);
        };

        const first = await until("a");
        const second = await ask();
        assert.equal(second.name, "a");
        assert.equal(second.peerPort, first.peerPort, "the second request went over the kept-alive connection");

        records["app.test"] = ["127.0.0.3"];
        await until("b"); // valid=1s: the next lookup after a second gives the new address
        assert.ok(dns.queries.filter((q) => q === "app.test 1").length >= 2, "nginx asked again");
    });
});
