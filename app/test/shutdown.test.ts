import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createDatabase, migrateToLatest } from "../src/migrate.js";
import { parseDbConfig } from "../src/config.js";
import { createDb } from "../src/db.js";
import { SECRET } from "./support/app.js";
import { freePort, startMariaDb, type MariaDb } from "./support/mariadb.js";
import { spawnServer, type ServerProcess } from "./support/proc.js";

let maria: MariaDb;
before(async () => {
  maria = await startMariaDb();
  const cfg = parseDbConfig(maria.env("drain"));
  await createDatabase(cfg);
  const db = createDb(cfg);
  const { error } = await migrateToLatest(db);
  await db.destroy();
  if (error) throw error;
});
after(async () => {
  await maria?.destroy();
});

async function serve(extra: Record<string, string> = {}): Promise<{ server: ServerProcess; port: number }> {
  const port = await freePort();
  const server = spawnServer({ ...maria.env("drain"), SECRET_KEY_BASE: SECRET, APP_VERSION: "drain-1", PORT: String(port), ...extra });
  await server.waitForLog("ready");
  return { server, port };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

/** Everything the server sends until it closes the connection. */
function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    s.on("data", (d: Buffer) => (data += d.toString()));
    s.on("close", () => resolve(data));
  });
}

/** Tries new connections until one is refused (bounded); returns the last error code. */
async function refusedCode(port: number): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    try {
      (await open(port)).destroy();
    } catch (err) {
      return (err as NodeJS.ErrnoException).code;
    }
    await sleep(50);
  }
  return undefined;
}

describe("SIGTERM drain (the real server as a child process)", () => {
  it("finishes an in-flight request, closes idle keep-alive connections, refuses new ones, exits 0", async () => {
    const { server, port } = await serve();

    // An idle keep-alive connection, as nginx keeps to its upstream.
    const idle = await open(port);
    const idleData = readAll(idle);
    idle.write(`GET /up HTTP/1.1\r\nHost: app\r\nConnection: keep-alive\r\n\r\n`);
    await sleep(200);

    // A request in flight: headers and half the body sent.
    const body = JSON.stringify({ user: { email: "in-flight@example.com" } });
    const half = Math.floor(body.length / 2);
    const busy = await open(port);
    const busyData = readAll(busy);
    busy.write(
      `POST /users.json HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n` +
        body.slice(0, half),
    );
    await sleep(200);

    server.proc.kill("SIGTERM");
    await server.waitForLog("shutdown started");

    // The idle connection is closed by the server (its one response was a 200)...
    assert.match(await idleData, /^HTTP\/1\.1 200 OK/);
    // ...and no new connection gets in.
    assert.equal(await refusedCode(port), "ECONNREFUSED");
    assert.equal(server.proc.exitCode, null, "server must still be draining");

    busy.write(body.slice(half));
    const response = await busyData;
    assert.match(response, /^HTTP\/1\.1 201 Created/);
    assert.match(response, /\r\nconnection: close\r\n/i);
    assert.match(response, /\r\nx-app-version: drain-1\r\n/i);
    assert.match(response, /"email":"in-flight@example.com"/);

    assert.deepEqual(await server.exited, { code: 0, signal: null });
    const out = server.output();
    assert.ok(out.indexOf("shutdown started") < out.indexOf('"msg":"shutdown complete"'), "lifecycle lines in order");
    const rows = await maria.rootQuery("SELECT COUNT(*) AS n FROM drain.users WHERE email = 'in-flight@example.com'");
    assert.equal(Number((rows[0] as { n: unknown }).n), 1);
  });

  it("exits 0 on SIGINT too", async () => {
    const { server } = await serve();
    server.proc.kill("SIGINT");
    assert.deepEqual(await server.exited, { code: 0, signal: null });
  });

  it("gives up at SHUTDOWN_TIMEOUT_MS when a request never finishes, exiting non-zero", async () => {
    const { server, port } = await serve({ SHUTDOWN_TIMEOUT_MS: "500" });
    const stuck = await open(port);
    stuck.on("error", () => undefined);
    stuck.write(`POST /users.json HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"em`);
    await sleep(200);
    server.proc.kill("SIGTERM");
    assert.deepEqual(await server.exited, { code: 1, signal: null });
    assert.match(server.output(), /shutdown deadline passed/);
    stuck.destroy();
  });

  it("logs JSON lines without the password or SECRET_KEY_BASE", async () => {
    const { server, port } = await serve();
    await fetch(`http://127.0.0.1:${port}/users.json`, { headers: { cookie: "_csrf=abc", authorization: "Basic x" } });
    server.proc.kill("SIGTERM");
    await server.exited;
    const lines = server.output().trim().split("\n");
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line);
    assert.ok(lines.some((l) => /"msg":"request"/.test(l) && /"url":"\/users.json"/.test(l)));
    assert.doesNotMatch(server.output(), new RegExp(`${maria.password}|${SECRET}|Basic x|_csrf=abc`));
  });
});
