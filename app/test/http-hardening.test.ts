import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance, InjectOptions } from "fastify";
import { pino } from "pino";
import { buildApp } from "../src/app.js";
import { parseConfig } from "../src/config.js";
import { createDb } from "../src/db.js";
import { SECURITY_HEADERS } from "../src/security.js";
import { logCollector, SECRET } from "./support/app.js";

// Requests that never reach the database: the app is built against an address nothing listens on.
const ENV = {
  MYSQL_HOST: "127.0.0.1",
  MYSQL_PORT: "9",
  MYSQL_USER: "app",
  MYSQL_PASSWORD: "",
  MYSQL_DATABASE: "none",
  SECRET_KEY_BASE: SECRET,
  APP_VERSION: "test-7",
};

const open: FastifyInstance[] = [];
after(async () => {
  for (const app of open) await app.close();
});

async function build(env: Record<string, string> = {}, logs?: Record<string, unknown>[]): Promise<FastifyInstance> {
  const config = parseConfig({ ...ENV, ...env });
  const db = createDb(config.db, { timeoutMs: config.dbTimeoutMs });
  const logger = logs ? pino({ level: "info" }, logCollector(logs)) : pino({ level: "silent" });
  const app = await buildApp({ config, db, logger });
  app.addHook("onClose", async () => db.destroy());
  open.push(app);
  return app;
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  return (app.server.address() as AddressInfo).port;
}

function assertSecurityHeaders(headers: Record<string, unknown>, what: string) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(headers[name], value, `${what}: ${name}`);
  assert.equal(headers["x-app-version"], "test-7", what);
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** ms from the first byte sent until the server closed the connection */
  closedAfterMs: number;
}

/** Sends `chunks` over a raw socket, `gapMs` apart, until the server answers or closes; gives up after `limitMs`. */
function raw(port: number, chunks: string[], gapMs: number, limitMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const started = Date.now();
    let data = "";
    let closed = false;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer and no close within ${limitMs} ms; got ${JSON.stringify(data.slice(0, 200))}`));
    }, limitMs);
    socket.on("data", (d: Buffer) => (data += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      clearTimeout(giveUp);
      const [head = "", body = ""] = data.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body, closedAfterMs: Date.now() - started });
    });
    socket.once("connect", () => {
      void (async () => {
        for (const chunk of chunks) {
          if (closed || socket.destroyed) return;
          socket.write(chunk);
          await sleep(gapMs);
        }
      })();
    });
  });
}

describe("responses Fastify and Node produce themselves", () => {
  it("carry the security headers and the app's error shape", async () => {
    const app = await build({ MAX_BODY_SIZE: "100" });
    const json = { "content-type": "application/json" };
    const cases: { name: string; status: number; json: boolean; req: InjectOptions }[] = [
      { name: "bad percent-encoding (page)", status: 400, json: false, req: { method: "GET", url: "/users/%" } },
      { name: "bad percent-encoding (.json)", status: 400, json: true, req: { method: "GET", url: "/users/%.json" } },
      {
        name: "bad percent-encoding, Accept JSON",
        status: 400,
        json: true,
        req: { method: "GET", url: "/%zz", headers: { accept: "application/json" } },
      },
      { name: "over-long path parameter", status: 414, json: true, req: { method: "GET", url: `/users/${"1".repeat(200)}.json` } },
      { name: "malformed JSON", status: 400, json: true, req: { method: "POST", url: "/users.json", headers: json, payload: '{"email":' } },
      { name: "empty JSON", status: 400, json: true, req: { method: "POST", url: "/users.json", headers: json, payload: "" } },
      {
        name: "wrong content type",
        status: 415,
        json: true,
        req: { method: "POST", url: "/users.json", headers: { "content-type": "text/xml" }, payload: "<a/>" },
      },
      {
        name: "body over MAX_BODY_SIZE",
        status: 413,
        json: true,
        req: { method: "POST", url: "/users.json", headers: json, payload: JSON.stringify({ email: "x".repeat(200) }) },
      },
      {
        name: "form without CSRF token",
        status: 403,
        json: false,
        req: { method: "POST", url: "/users", headers: { "content-type": "application/x-www-form-urlencoded" }, payload: "email=a%40b.co" },
      },
      { name: "unknown route", status: 404, json: true, req: { method: "GET", url: "/nope.json" } },
    ];
    for (const c of cases) {
      const res = await app.inject(c.req);
      assert.equal(res.statusCode, c.status, c.name);
      assertSecurityHeaders(res.headers, c.name);
      if (c.json) {
        assert.match(String(res.headers["content-type"]), /^application\/json/, c.name);
        const body = res.json<Record<string, unknown>>();
        assert.deepEqual(Object.keys(body), ["error"], `${c.name}: ${res.body}`);
        assert.equal(typeof body.error, "string", c.name);
        // Nothing of the request is echoed back.
        assert.doesNotMatch(String(body.error), /%|1111|FST_/, c.name);
      } else {
        assert.match(String(res.headers["content-type"]), /^text\/html/, c.name);
        assert.match(res.body, /<h1>/, c.name);
      }
    }
  });

  it("answers what Node's HTTP parser rejects with the same headers and shape", async () => {
    const port = await listen(await build());
    for (const [name, request, status] of [
      ["garbage request line", "NOT HTTP AT ALL\r\n\r\n", 400],
      ["header block over Node's limit", `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      const res = await raw(port, [request], 0, 5_000);
      assert.equal(res.status, status, name);
      assertSecurityHeaders(res.headers, name);
      assert.deepEqual(Object.keys(JSON.parse(res.body) as object), ["error"], name);
    }
  });
});

describe("slow clients", () => {
  it("uses bounded timeouts by default and takes them from the environment", async () => {
    const byDefault = (await build()).server;
    assert.deepEqual([byDefault.requestTimeout, byDefault.keepAliveTimeout, byDefault.timeout], [30_000, 65_000, 70_000]);
    assert.ok(byDefault.headersTimeout <= byDefault.requestTimeout);
    const set = (await build({ REQUEST_TIMEOUT_MS: "5000", KEEP_ALIVE_TIMEOUT_MS: "7000", CONNECTION_TIMEOUT_MS: "9000" })).server;
    assert.deepEqual([set.requestTimeout, set.keepAliveTimeout, set.timeout, set.headersTimeout], [5_000, 7_000, 9_000, 5_000]);
  });

  it("answers 408 and closes when a body trickles in past REQUEST_TIMEOUT_MS", async () => {
    const port = await listen(await build({ REQUEST_TIMEOUT_MS: "1000" }));
    const head = "POST /users.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    // One byte every 200 ms: the socket is never idle, the request never complete.
    const res = await raw(port, [head, ...Array.from({ length: 100 }, () => " ")], 200, 6_000);
    assert.ok(res.closedAfterMs < 3_000, `closed after ${res.closedAfterMs} ms`);
    assert.equal(res.status, 408);
    assertSecurityHeaders(res.headers, "408");
    assert.deepEqual(JSON.parse(res.body), { error: "The request did not arrive in time" });
  });

  it("answers 408 and closes when the headers trickle in past REQUEST_TIMEOUT_MS", async () => {
    const port = await listen(await build({ REQUEST_TIMEOUT_MS: "1000" }));
    const res = await raw(port, ["GET / HTTP/1.1\r\n", ...Array.from({ length: 100 }, (_, i) => `X-${i}: y\r\n`)], 200, 6_000);
    assert.ok(res.closedAfterMs < 3_000, `closed after ${res.closedAfterMs} ms`);
    assert.equal(res.status, 408);
  });
});

describe("X-Request-Id", () => {
  it("becomes the log's request id only when short and plain", async () => {
    const logs: Record<string, unknown>[] = [];
    const app = await build({}, logs);
    const ok = ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c-D9", "x".repeat(128)];
    const refused = ["x".repeat(129), "x".repeat(100_000), "a b", "<script>", "id\u00e9", "a/b", "a;b"];
    for (const id of [...ok, ...refused]) {
      logs.length = 0;
      await app.inject({ method: "GET", url: "/nope.json", headers: { "x-request-id": id } });
      const line = logs.find((l) => l.msg === "request");
      assert.ok(line, id.slice(0, 20));
      if (ok.includes(id)) assert.equal(line.reqId, id);
      else assert.match(String(line.reqId), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, id.slice(0, 20));
    }
    logs.length = 0;
    await app.inject({ method: "GET", url: "/nope.json" });
    assert.match(String(logs.find((l) => l.msg === "request")?.reqId), /^[0-9a-f-]{36}$/);
  });
});
