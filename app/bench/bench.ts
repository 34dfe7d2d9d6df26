/**
 * `npm run bench`: requests per second and p50/p99 latency of GET / and POST /users.json,
 * at a fixed concurrency, against the compiled server and a real MariaDB (the tests'
 * harness). BENCH_SECONDS (default 10) and BENCH_CONNECTIONS (default 10) tune it.
 * Loopback only; each run is bounded in time and stops by itself.
 */
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon, { type Result } from "autocannon";
import { SECRET } from "../test/support/app.js";
import { freePort, startMariaDb } from "../test/support/mariadb.js";
import { APP_DIR, childEnv, runScript } from "../test/support/proc.js";

const seconds = Number(process.env.BENCH_SECONDS) || 10;
const connections = Number(process.env.BENCH_CONNECTIONS) || 10;

const maria = await startMariaDb();
const env = { ...maria.env("bench"), SECRET_KEY_BASE: SECRET, APP_VERSION: "bench" };
for (const script of ["db:create", "db:migrate"]) {
  const r = await runScript(script, env);
  if (r.code !== 0) throw new Error(`${script} failed: ${r.stderr}`);
}
// A realistic first page: the list shows 50 rows.
await maria.rootQuery(
  "INSERT INTO bench.users (email, created_at, updated_at) SELECT CONCAT('seed', seq, '@example.com'), NOW(), NOW() FROM bench.seq_1_to_60",
);

const port = await freePort();
// Logs go to /dev/null, but the server still formats and writes them, as in production.
const server = spawn(process.execPath, ["dist/server.js"], {
  cwd: APP_DIR,
  env: childEnv({ ...env, PORT: String(port) }),
  stdio: "ignore",
});
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  if (
    (await fetch(`${url}/up`).then(
      (r) => r.status,
      () => 0,
    )) === 200
  )
    break;
  if (i > 100) throw new Error("server did not become ready");
  await sleep(100);
}

function run(title: string, opts: Partial<autocannon.Options>): Promise<Result> {
  return autocannon({ url, connections, duration: seconds, title, ...opts });
}

let n = 0;
const results = [
  await run("GET /", { url: `${url}/`, method: "GET" }),
  await run("POST /users.json", {
    requests: [
      {
        method: "POST",
        path: "/users.json",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ user: { email: `bench-${process.pid}-${n++}@example.com` } }) }),
      },
    ],
  }),
];

console.log(`\n${connections} connections, ${seconds} s per route, node ${process.version}, MariaDB on loopback\n`);
console.log(
  ["route".padEnd(18), "req/s".padStart(8), "p50 ms".padStart(8), "p99 ms".padStart(8), "non-2xx".padStart(8), "errors".padStart(7)].join(
    " ",
  ),
);
for (const r of results) {
  console.log(
    [
      String(r.title).padEnd(18),
      r.requests.average.toFixed(0).padStart(8),
      String(r.latency.p50).padStart(8),
      String(r.latency.p99).padStart(8),
      String(r.non2xx).padStart(8),
      String(r.errors).padStart(7),
    ].join(" "),
  );
}

server.kill("SIGTERM");
await new Promise((r) => server.once("exit", r));
await maria.destroy();
if (results.some((r) => r.non2xx > 0 || r.errors > 0)) process.exitCode = 1;
