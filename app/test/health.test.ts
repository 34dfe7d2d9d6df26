import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startApp, type RunningApp } from "./support/app.js";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";

let maria: MariaDb;
let app: RunningApp;
before(async () => {
  maria = await startMariaDb();
  app = await startApp(maria, "health", { HEALTH_TIMEOUT_MS: "1000" });
});
after(async () => {
  await app?.close();
  await maria?.destroy();
});

/** Polls until `path` answers `status`, for at most `tries` attempts; returns the last status seen. */
async function until(path: string, status: number, tries = 120): Promise<number> {
  let last = 0;
  for (let i = 0; i < tries; i++) {
    last = (await fetch(app.url + path)).status;
    if (last === status) return last;
    await sleep(250);
  }
  return last;
}

describe("/up and a database restart", () => {
  it("is 200 with the version while the database answers", async () => {
    const res = await fetch(`${app.url}/up`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-app-version"), "test-7");
    assert.deepEqual(await res.json(), { status: "ok", version: "test-7" });
    assert.equal((await fetch(`${app.url}/up`, { method: "HEAD" })).status, 200);
  });

  it("is 503 while the database is down, and pages fail with a generic 500", async () => {
    // Warm the pool so there are open connections for the restart to break.
    await Promise.all(Array.from({ length: 5 }, () => fetch(`${app.url}/users.json`)));
    await maria.stop();
    assert.equal(await until("/up", 503), 503);
    assert.equal((await fetch(`${app.url}/up`)).status, 503);

    for (const path of ["/users.json", "/"]) {
      const res = await fetch(app.url + path);
      assert.equal(res.status, 500, path);
      assert.equal(res.headers.get("x-app-version"), "test-7");
      const body = await res.text();
      assert.match(body, /Internal Server Error/);
      // No stack trace, driver error or address leaks to the client.
      assert.doesNotMatch(body, /ECONNREFUSED|at \w+ \(|node_modules|127\.0\.0\.1|mysql/i);
    }
  });

  it("is 200 again once the database is back, and the pool serves queries without a restart", async () => {
    await maria.start();
    assert.equal(await until("/up", 200), 200);
    const created = await fetch(`${app.url}/users.json`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "after-restart@example.com" }),
    });
    assert.equal(created.status, 201);
    // Every pooled connection works again: a burst wider than one connection all succeeds.
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await fetch(`${app.url}/users.json`)).status));
    assert.deepEqual(new Set(statuses), new Set([200]));
  });
});
