import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startApp, type RunningApp } from "./support/app.js";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";

// A database that stops answering (a frozen host, a lock, a full disk) while a write is under
// way: the client must either get an error and find no change, or get a success for a change
// that is there. Before DB_TIMEOUT_MS the request hung until the proxy gave up (504 at 60 s),
// and the row appeared when the database came back.

let maria: MariaDb;
let app: RunningApp;
const logs: Record<string, unknown>[] = [];
before(async () => {
  maria = await startMariaDb();
  app = await startApp(maria, "db_timeout", { DB_TIMEOUT_MS: "1000" }, { logs });
});
after(async () => {
  await app?.close();
  await maria?.destroy();
});

function postUser(email: string, signal: AbortSignal, requestId = "") {
  return fetch(`${app.url}/users.json`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(requestId ? { "x-request-id": requestId } : {}) },
    body: JSON.stringify({ email }),
    signal,
  });
}

async function rowsFor(email: string): Promise<number> {
  const rows = (await maria.rootQuery("SELECT COUNT(*) AS n FROM db_timeout.users WHERE email = ?", [email])) as { n: number }[];
  return Number(rows[0]?.n);
}

/** Whatever the server had buffered from the abandoned connection has been read by then. */
async function afterThaw(): Promise<void> {
  await sleep(1_500);
}

describe("writes against a stalled database", () => {
  it("answers 503 within DB_TIMEOUT_MS and commits nothing once the database is back", async () => {
    // A pooled connection exists, so the write goes to a server that accepted it and then froze.
    assert.equal((await postUser("warm@example.com", AbortSignal.timeout(10_000))).status, 201);
    const email = "stalled@example.com";
    const started = Date.now();
    const [res, read] = await maria.frozen(() =>
      Promise.all([
        postUser(email, AbortSignal.timeout(10_000), "req-stalled-1"),
        fetch(`${app.url}/users.json`, { signal: AbortSignal.timeout(10_000) }),
      ]),
    );
    const ms = Date.now() - started;
    // Reads have the same deadline.
    assert.equal(read.status, 503);
    assert.deepEqual(await read.json(), { error: "The database did not answer in time. Try again." });
    assert.equal(res.status, 503);
    assert.ok(ms < 5_000, `answered after ${ms} ms`);
    const body = (await res.json()) as { error: string };
    assert.match(body.error, /nothing was saved/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    // The outcome is in the log, under the request's id.
    const outcome = logs.find((l) => l.reqId === "req-stalled-1" && l.outcome !== undefined);
    assert.deepEqual(
      [outcome?.reason, outcome?.outcome, outcome?.msg],
      ["timeout", "rolled back", "write abandoned before commit: rolled back"],
    );
    await afterThaw();
    assert.equal(await rowsFor(email), 0, "a write answered 503 must not be committed later");
    // The pool recovered: the next write works and is there.
    const again = await postUser(email, AbortSignal.timeout(10_000));
    assert.equal(again.status, 201);
    assert.equal(await rowsFor(email), 1);
  });

  it("rolls back a write whose client went away (as nginx does at proxy_read_timeout)", async () => {
    const slowLogs: Record<string, unknown>[] = [];
    const slow = await startApp(maria, "db_timeout", { DB_TIMEOUT_MS: "30000" }, { logs: slowLogs });
    try {
      assert.equal((await fetch(`${slow.url}/users.json`)).status, 200);
      const email = "abandoned@example.com";
      await maria.frozen(async () => {
        const client = new AbortController();
        const pending = fetch(`${slow.url}/users.json`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": "req-gone-1" },
          body: JSON.stringify({ email }),
          signal: client.signal,
        });
        await sleep(500);
        client.abort();
        await assert.rejects(pending);
        // The app notices the closed connection and destroys its database connection while frozen.
        await sleep(500);
      });
      const outcome = slowLogs.find((l) => l.reqId === "req-gone-1" && l.outcome !== undefined);
      assert.deepEqual([outcome?.reason, outcome?.outcome], ["client gone", "rolled back"]);
      await afterThaw();
      assert.equal(await rowsFor(email), 0, "a write whose client left must not be committed later");
    } finally {
      await slow.close();
    }
  });
});
