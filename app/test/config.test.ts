import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseConfig, parseDbConfig } from "../src/config.js";
import { runScript, spawnServer } from "./support/proc.js";

const FULL = {
  MYSQL_HOST: "db",
  MYSQL_USER: "app",
  MYSQL_PASSWORD: "pw",
  MYSQL_DATABASE: "devops_production",
  SECRET_KEY_BASE: "s".repeat(64),
};

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("parseConfig", () => {
  it("applies the documented defaults", () => {
    const c = parseConfig(FULL);
    assert.equal(c.port, 3000);
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.db.port, 3306);
    assert.equal(c.version, "dev");
    assert.equal(c.shutdownTimeoutMs, 25_000);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.db));
  });

  it("reads every variable it is given", () => {
    const c = parseConfig({ ...FULL, PORT: "9999", MYSQL_PORT: "3307", APP_VERSION: "42", SHUTDOWN_TIMEOUT_MS: "5000" });
    assert.deepEqual([c.port, c.db.port, c.version, c.shutdownTimeoutMs], [9999, 3307, "42", 5000]);
    assert.deepEqual(c.db, { host: "db", port: 3307, user: "app", password: "pw", database: "devops_production" });
  });

  it("names every missing variable at once", () => {
    const problems = problemsOf(() => parseConfig({ MYSQL_USER: "app", MYSQL_PASSWORD: "pw" }));
    assert.deepEqual(problems, ["missing required environment variables: MYSQL_HOST, MYSQL_DATABASE, SECRET_KEY_BASE"]);
  });

  it("treats a blank value as missing, except an empty MYSQL_PASSWORD", () => {
    assert.deepEqual(
      problemsOf(() => parseConfig({ ...FULL, MYSQL_HOST: " " })),
      ["missing required environment variable: MYSQL_HOST"],
    );
    assert.equal(parseConfig({ ...FULL, MYSQL_PASSWORD: "" }).db.password, "");
    const { MYSQL_PASSWORD: _omit, ...noPassword } = FULL;
    assert.deepEqual(
      problemsOf(() => parseConfig(noPassword)),
      ["missing required environment variable: MYSQL_PASSWORD"],
    );
  });

  it("rejects malformed numbers, naming the variable and the accepted range", () => {
    assert.deepEqual(
      problemsOf(() => parseConfig({ ...FULL, PORT: "80a", MYSQL_PORT: "70000" })),
      ['PORT must be an integer from 1 to 65535, got "80a"', 'MYSQL_PORT must be an integer from 1 to 65535, got "70000"'],
    );
    assert.match(problemsOf(() => parseConfig({ ...FULL, LOG_LEVEL: "loud" }))[0] ?? "", /^LOG_LEVEL must be one of/);
  });

  it("takes the body limit from MAX_BODY_SIZE, in bytes as nginx's client_max_body_size, 1 MiB by default", () => {
    assert.equal(parseConfig(FULL).maxBodySize, 1_048_576);
    assert.equal(parseConfig({ ...FULL, MAX_BODY_SIZE: "10485760" }).maxBodySize, 10_485_760);
    for (const bad of ["1m", "10M", "-1", "0", "1.5", " 100", "1073741825"]) {
      assert.deepEqual(
        problemsOf(() => parseConfig({ ...FULL, MAX_BODY_SIZE: bad })),
        [
          `MAX_BODY_SIZE must be a whole number of bytes from 1 to 1073741824 (digits only, no unit such as "1m"), got ${JSON.stringify(bad)}`,
        ],
        bad,
      );
    }
  });

  it("bounds the database and the connections by default, and checks the timeouts fit together", () => {
    const c = parseConfig(FULL);
    assert.deepEqual([c.dbTimeoutMs, c.requestTimeoutMs, c.keepAliveTimeoutMs, c.connectionTimeoutMs], [10_000, 30_000, 65_000, 70_000]);
    const set = parseConfig({
      ...FULL,
      DB_TIMEOUT_MS: "2000",
      REQUEST_TIMEOUT_MS: "5000",
      KEEP_ALIVE_TIMEOUT_MS: "7000",
      CONNECTION_TIMEOUT_MS: "9000",
    });
    assert.deepEqual(
      [set.dbTimeoutMs, set.requestTimeoutMs, set.keepAliveTimeoutMs, set.connectionTimeoutMs],
      [2_000, 5_000, 7_000, 9_000],
    );
    // Not up to nginx's 60 s proxy_read_timeout: the app must give up on a write first.
    assert.deepEqual(
      problemsOf(() => parseConfig({ ...FULL, DB_TIMEOUT_MS: "60000" })),
      ['DB_TIMEOUT_MS must be an integer from 100 to 55000, got "60000"'],
    );
    assert.match(
      problemsOf(() => parseConfig({ ...FULL, CONNECTION_TIMEOUT_MS: "60000" }))[0] ?? "",
      /^CONNECTION_TIMEOUT_MS must be greater than KEEP_ALIVE_TIMEOUT_MS \(65000\), got 60000/,
    );
    assert.match(
      problemsOf(() => parseConfig({ ...FULL, REQUEST_TIMEOUT_MS: "0" }))[0] ?? "",
      /^REQUEST_TIMEOUT_MS must be an integer from 100/,
    );
  });

  it("db commands do not need SECRET_KEY_BASE", () => {
    const { SECRET_KEY_BASE: _omit, ...dbOnly } = FULL;
    assert.equal(parseDbConfig(dbOnly).database, "devops_production");
    assert.deepEqual(
      problemsOf(() => parseDbConfig({})),
      ["missing required environment variables: MYSQL_HOST, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE"],
    );
  });
});

describe("fail fast on missing configuration (real processes)", () => {
  it("the server exits non-zero naming the missing variables, and never listens", async () => {
    const { SECRET_KEY_BASE: _s, MYSQL_HOST: _h, ...partial } = FULL;
    const server = spawnServer({ ...partial, PORT: "1" });
    const { code } = await server.exited;
    assert.notEqual(code, 0);
    assert.match(server.output(), /missing required environment variables: MYSQL_HOST, SECRET_KEY_BASE/);
    assert.doesNotMatch(server.output(), /"pw"|ready/);
  });

  it("the server exits non-zero on a malformed MAX_BODY_SIZE, naming it and the accepted form", async () => {
    const server = spawnServer({ ...FULL, MAX_BODY_SIZE: "10m", PORT: "1" });
    const { code } = await server.exited;
    assert.equal(code, 1);
    assert.match(
      server.output(),
      /MAX_BODY_SIZE must be a whole number of bytes from 1 to 1073741824 \(digits only, no unit such as "1m"\), got "10m"/,
    );
    assert.doesNotMatch(server.output(), /ready/);
  });

  it("db:migrate exits non-zero naming the missing variable", async () => {
    const { MYSQL_DATABASE: _d, ...partial } = FULL;
    const r = await runScript("db:migrate", partial);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /db:migrate: missing required environment variable: MYSQL_DATABASE/);
  });
});
