import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";
import { runScript } from "./support/proc.js";

let maria: MariaDb;
before(async () => {
  maria = await startMariaDb();
});
after(async () => {
  await maria?.destroy();
});

async function databaseExists(name: string): Promise<boolean> {
  const rows = await maria.rootQuery("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [name]);
  return rows.length === 1;
}

async function count(sql: string): Promise<number> {
  const rows = (await maria.rootQuery(sql)) as { n: number }[];
  return Number(rows[0]?.n);
}

function logLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("npm run db:create", () => {
  it("creates a missing database, then is a no-op on the existing one", async () => {
    assert.equal(await databaseExists("create_me"), false);
    const first = await runScript("db:create", maria.env("create_me"));
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.equal(await databaseExists("create_me"), true);
    assert.ok(logLines(first.stdout).some((l) => l.msg === "database created" && l.existed === false));

    await maria.rootQuery("CREATE TABLE create_me.keep (id int)");
    const again = await runScript("db:create", maria.env("create_me"));
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.ok(logLines(again.stdout).some((l) => l.msg === "database already exists"));
    // Nothing was dropped or recreated.
    assert.equal(await count("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA='create_me'"), 1);
  });

  it("quotes the name as an identifier", async () => {
    const r = await runScript("db:create", maria.env("odd-name`x"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await databaseExists("odd-name`x"), true);
  });

  it("fails with exit 1 and the server's reason on a wrong password, without printing it", async () => {
    const r = await runScript("db:create", { ...maria.env("x"), MYSQL_PASSWORD: "wrong-secret-value" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Access denied/);
    assert.doesNotMatch(r.stdout + r.stderr, /wrong-secret-value|berth-test-password/);
  });

  it("gives up on an unreachable server once DB_WAIT_TIMEOUT_MS has passed", async () => {
    const r = await runScript("db:create", { ...maria.env("x"), MYSQL_PORT: "1", DB_WAIT_TIMEOUT_MS: "0" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ECONNREFUSED/);
  });
});

describe("npm run db:migrate", () => {
  it("migrates an empty database, then re-runs as a no-op", async () => {
    assert.equal((await runScript("db:create", maria.env("mig"))).code, 0);
    const first = await runScript("db:migrate", maria.env("mig"));
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.ok(logLines(first.stdout).some((l) => l.migration === "0001_create_users" && l.status === "Success"));
    const cols = (await maria.rootQuery(
      "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='mig' AND TABLE_NAME='users' ORDER BY ORDINAL_POSITION",
    )) as { c: string }[];
    assert.deepEqual(
      cols.map((r) => r.c),
      ["id", "email", "created_at", "updated_at"],
    );
    await maria.rootQuery("INSERT INTO mig.users (email, created_at, updated_at) VALUES ('kept@example.com', NOW(), NOW())");

    const again = await runScript("db:migrate", maria.env("mig"));
    assert.equal(again.code, 0, again.stderr);
    assert.ok(logLines(again.stdout).some((l) => l.msg === "migrations up to date" && l.applied === 0));
    assert.equal(logLines(again.stdout).filter((l) => l.migration).length, 0);
    assert.equal(await count("SELECT COUNT(*) AS n FROM mig.kysely_migration"), 1);
    assert.equal(await count("SELECT COUNT(*) AS n FROM mig.users"), 1);
  });

  it("two concurrent runs both succeed and apply each migration once (GET_LOCK)", async () => {
    assert.equal((await runScript("db:create", maria.env("race"))).code, 0);
    const [a, b] = await Promise.all([runScript("db:migrate", maria.env("race")), runScript("db:migrate", maria.env("race"))]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const applied = [a, b].flatMap((r) => logLines(r.stdout).filter((l) => l.status === "Success"));
    assert.equal(applied.length, 1);
    assert.equal(await count("SELECT COUNT(*) AS n FROM race.kysely_migration"), 1);
  });

  it("fails non-zero when the database does not exist", async () => {
    const r = await runScript("db:migrate", maria.env("never_created"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unknown database/);
  });
});
