import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startApp, type RunningApp } from "./support/app.js";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";

let maria: MariaDb;
let app: RunningApp;
before(async () => {
  maria = await startMariaDb();
  app = await startApp(maria, "json_api");
});
after(async () => {
  await app?.close();
  await maria?.destroy();
});

function send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  return fetch(app.url + path, init);
}

async function userCount(): Promise<number> {
  const rows = (await maria.rootQuery("SELECT COUNT(*) AS n FROM json_api.users")) as { n: number }[];
  return Number(rows[0]?.n);
}

interface UserJson {
  id: number;
  email: string;
  created_at: string;
  updated_at: string;
  url: string;
}

describe("JSON API", () => {
  it("creates, lists, shows, updates (PATCH and PUT) and deletes a user", async () => {
    const created = await send("POST", "/users.json", { user: { email: "ada@example.com" } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get("x-app-version"), "test-7");
    const user = (await created.json()) as UserJson;
    assert.equal(user.email, "ada@example.com");
    assert.equal(created.headers.get("location"), `/users/${user.id}.json`);
    assert.equal(user.url, `/users/${user.id}.json`);
    assert.ok(!Number.isNaN(Date.parse(user.created_at)));

    const list = (await (await send("GET", "/users.json")).json()) as UserJson[];
    assert.ok(list.some((u) => u.id === user.id && u.email === "ada@example.com"));

    const shown = await send("GET", `/users/${user.id}.json`);
    assert.equal(shown.status, 200);
    assert.equal(((await shown.json()) as UserJson).email, "ada@example.com");

    const patched = await send("PATCH", `/users/${user.id}.json`, { user: { email: "ada@lovelace.org" } });
    assert.equal(patched.status, 200);
    assert.equal(((await patched.json()) as UserJson).email, "ada@lovelace.org");
    // The flat form Rails' wrap_parameters accepted works too; same email again is not a conflict.
    const put = await send("PUT", `/users/${user.id}.json`, { email: "ada@lovelace.org" });
    assert.equal(put.status, 200);
    const stored = (await maria.rootQuery("SELECT email FROM json_api.users WHERE id = ?", [user.id])) as { email: string }[];
    assert.equal(stored[0]?.email, "ada@lovelace.org");

    const deleted = await send("DELETE", `/users/${user.id}.json`);
    assert.equal(deleted.status, 204);
    assert.equal((await send("GET", `/users/${user.id}.json`)).status, 404);
  });

  it("rejects an invalid or blank email with 422 and stores nothing", async () => {
    const before = await userCount();
    for (const body of [{ user: { email: "not-an-email" } }, { user: { email: "" } }, { user: {} }, { email: 42 }, ["x"]]) {
      const res = await send("POST", "/users.json", body);
      assert.equal(res.status, 422, JSON.stringify(body));
      const json = (await res.json()) as { error: string; errors: { email: string[] } };
      assert.match(json.error, /^Email (is invalid|can't be blank)$/);
      assert.deepEqual(json.errors.email, [json.error]);
    }
    const long = await send("POST", "/users.json", { email: `${"a".repeat(250)}@example.com` });
    assert.equal(long.status, 422);
    assert.equal(await userCount(), before);

    const { id } = (await (await send("POST", "/users.json", { email: "keep@example.com" })).json()) as UserJson;
    assert.equal((await send("PATCH", `/users/${id}.json`, { email: "nope" })).status, 422);
    const shown = (await (await send("GET", `/users/${id}.json`)).json()) as UserJson;
    assert.equal(shown.email, "keep@example.com");
  });

  it("accepts what <input type=email> accepts, trimmed, in both body shapes", async () => {
    for (const [body, stored] of [
      [{ email: "  trimmed@example.com " }, "trimmed@example.com"],
      [{ user: { email: "o'neil+tag@sub.example.co" } }, "o'neil+tag@sub.example.co"],
      // Rails' envelope wins over a flat field beside it.
      [{ user: { email: "wrapped@example.com" }, email: "flat@example.com" }, "wrapped@example.com"],
    ] as const) {
      const res = await send("POST", "/users.json", body);
      assert.equal(res.status, 201, JSON.stringify(body));
      assert.equal(((await res.json()) as UserJson).email, stored);
    }
  });

  it("names the field and the rule in every 422, as the Rails app did", async () => {
    const before = await userCount();
    const cases: [unknown, string][] = [
      ...["ada", "ada@", "@example.com", "a b@example.com", "ada@-example.com", "ada@exa_mple.com", "<x>@y.z"].map(
        (email): [unknown, string] => [{ email }, "Email is invalid"],
      ),
      [{ email: "   " }, "Email can't be blank"],
      [{}, "Email can't be blank"],
      [null, "Email can't be blank"],
      [{ email: `${"a".repeat(250)}@example.com` }, "Email is too long (maximum is 255 characters)"],
    ];
    for (const [body, message] of cases) {
      const res = await send("POST", "/users.json", body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(await res.json(), { error: message, errors: { email: [message] } }, JSON.stringify(body));
    }
    assert.equal(await userCount(), before);
  });

  it("answers an id that is not canonical with 404, before looking at the body", async () => {
    const { id } = (await (await send("POST", "/users.json", { email: "canonical@example.com" })).json()) as UserJson;
    assert.equal((await send("GET", `/users/${id}.json`)).status, 200);
    for (const bad of ["0", "-1", `0${id}`, `${id}e0`, "1e3", "9".repeat(16)]) {
      for (const method of ["GET", "PATCH", "DELETE"]) {
        const res = await send(method, `/users/${bad}.json`, method === "PATCH" ? { email: "not-an-email" } : undefined);
        assert.equal(res.status, 404, `${method} ${bad}`);
        assert.deepEqual(await res.json(), { error: "Not found" });
      }
    }
  });

  it("answers a page number that is not a positive integer with 400", async () => {
    for (const query of ["page=0", "page=-1", "page=abc", "page=1.5", "page=2&page=3", "page=1000000"]) {
      const res = await send("GET", `/users.json?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(((await res.json()) as { error: string }).error, /^querystring\/page must be/, query);
    }
    assert.equal((await send("GET", "/users.json?page=1")).status, 200);
  });

  it("answers a duplicate email with 409, whatever its case, on create and update", async () => {
    assert.equal((await send("POST", "/users.json", { email: "dup@example.com" })).status, 201);
    const before = await userCount();
    const dup = await send("POST", "/users.json", { email: "DUP@example.com" });
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as { error: string }).error, "Email has already been taken");
    assert.equal(await userCount(), before);
    const other = (await (await send("POST", "/users.json", { email: "other@example.com" })).json()) as UserJson;
    assert.equal((await send("PATCH", `/users/${other.id}.json`, { email: "dup@example.com" })).status, 409);
  });

  it("answers an unknown or malformed id with 404 on every verb", async () => {
    for (const [method, path] of [
      ["GET", "/users/999999.json"],
      ["PATCH", "/users/999999.json"],
      ["PUT", "/users/999999.json"],
      ["DELETE", "/users/999999.json"],
      ["GET", "/users/abc.json"],
      ["GET", "/users/0.json"],
      ["GET", "/nope.json"],
    ] as const) {
      const res = await send(method, path, method === "PATCH" || method === "PUT" ? { email: "a@b.co" } : undefined);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.deepEqual(await res.json(), { error: "Not found" });
      assert.equal(res.headers.get("x-app-version"), "test-7");
    }
  });

  it("takes a body of exactly MAX_BODY_SIZE (1 MiB by default, as nginx) and answers one byte more with 413", async () => {
    assert.equal(app.config.maxBodySize, 1_048_576);
    /** A valid create request whose JSON body is exactly `size` bytes. */
    function bodyOf(size: number, email: string): string {
      const empty = JSON.stringify({ email, pad: "" });
      return JSON.stringify({ email, pad: "x".repeat(size - empty.length) });
    }
    const atLimit = bodyOf(1_048_576, "at-limit@example.com");
    assert.equal(Buffer.byteLength(atLimit), 1_048_576);
    const ok = await send("POST", "/users.json", atLimit);
    assert.equal(ok.status, 201);

    const before = await userCount();
    const over = bodyOf(1_048_577, "over-limit@example.com");
    assert.equal(Buffer.byteLength(over), 1_048_577);
    const res = await send("POST", "/users.json", over);
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), { error: "Request body is too large (the limit is 1048576 bytes)" });
    assert.equal(res.headers.get("x-app-version"), "test-7");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'sha256-/);
    assert.equal(await userCount(), before);
  });

  it("answers a malformed or empty JSON body with 400", async () => {
    for (const body of ['{"email": "a@b.co"', "{'email':1}", ""]) {
      const res = await fetch(`${app.url}/users.json`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(await res.json(), { error: "Malformed JSON body" });
    }
  });

  it("takes only application/json bodies: a cross-site form post cannot reach the API", async () => {
    const before = await userCount();
    for (const type of ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"]) {
      const res = await send("POST", "/users.json", "email=csrf@example.com", { "content-type": type });
      assert.equal(res.status, 415, type);
    }
    assert.equal(await userCount(), before);
  });

  it("pages the list: 50 per page, newest first, with a Link to the next page", async () => {
    await maria.rootQuery(
      "INSERT INTO json_api.users (email, created_at, updated_at) SELECT CONCAT('bulk', seq, '@example.com'), NOW(), NOW() FROM json_api.seq_1_to_60",
    );
    const first = await send("GET", "/users.json");
    const page1 = (await first.json()) as UserJson[];
    assert.equal(page1.length, 50);
    assert.ok(page1.every((u, i) => i === 0 || (page1[i - 1] as UserJson).id > u.id));
    assert.equal(first.headers.get("link"), '</users.json?page=2>; rel="next"');
    const page2 = (await (await send("GET", "/users.json?page=2")).json()) as UserJson[];
    assert.ok(page2.length > 0 && (page2[0] as UserJson).id < (page1[49] as UserJson).id);
  });
});
