import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startApp, type RunningApp } from "./support/app.js";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";

let maria: MariaDb;
let app: RunningApp;
before(async () => {
  maria = await startMariaDb();
  app = await startApp(maria, "html_pages");
});
after(async () => {
  await app?.close();
  await maria?.destroy();
});

interface Session {
  cookie: string;
  token: string;
}

/** Loads a page with a form, as a browser would: keeps the CSRF cookie and the form's token. */
async function openForm(path: string, cookie = ""): Promise<Session & { body: string }> {
  const res = await fetch(app.url + path, { headers: cookie ? { cookie } : {} });
  assert.equal(res.status, 200, path);
  const body = await res.text();
  const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
  assert.ok(token, `no CSRF token in ${path}`);
  const set = res.headers.getSetCookie().find((c) => c.startsWith("_csrf="));
  return { body, token, cookie: set ? (set.split(";")[0] as string) : cookie };
}

function post(path: string, form: Record<string, string>, cookie: string) {
  return fetch(app.url + path, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(form).toString(),
  });
}

async function emails(): Promise<string[]> {
  const rows = (await maria.rootQuery("SELECT email FROM html_pages.users ORDER BY id")) as { email: string }[];
  return rows.map((r) => r.email);
}

describe("HTML pages", () => {
  it("lists users at / and /users, with the version on the page and in a header", async () => {
    for (const path of ["/", "/users"]) {
      const res = await fetch(app.url + path);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(res.headers.get("x-app-version"), "test-7");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
      assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
      const body = await res.text();
      assert.match(body, /<h1>Users<\/h1>/);
      assert.match(body, /version test-7/);
    }
  });

  it("rejects a form post without a valid CSRF token with 403 and stores nothing", async () => {
    const s = await openForm("/users/new");
    const other = await openForm("/users/new"); // another browser: its own cookie and token
    const cases: [string, Record<string, string>, string][] = [
      ["no token, no cookie", { email: "a@example.com" }, ""],
      ["no token", { email: "a@example.com" }, s.cookie],
      ["forged token", { email: "a@example.com", _csrf: "forged" }, s.cookie],
      ["token of another cookie", { email: "a@example.com", _csrf: other.token }, s.cookie],
      ["cookie not signed by SECRET_KEY_BASE", { email: "a@example.com", _csrf: s.token }, s.cookie.replace(/\.[^.]*$/, ".bad")],
    ];
    for (const [name, form, cookie] of cases) {
      const res = await post("/users", form, cookie);
      assert.equal(res.status, 403, name);
      assert.match(await res.text(), /Invalid or missing CSRF token/);
    }
    const { id } = (await (
      await fetch(`${app.url}/users.json`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "victim@example.com" }),
      })
    ).json()) as { id: number };
    assert.equal((await post(`/users/${id}`, { email: "x@example.com" }, s.cookie)).status, 403);
    assert.equal((await post(`/users/${id}/delete`, {}, s.cookie)).status, 403);
    assert.deepEqual(await emails(), ["victim@example.com"]);
  });

  it("creates, shows, edits and deletes a user through the forms", async () => {
    const s = await openForm("/users/new");
    const created = await post("/users", { email: "grace@example.com", _csrf: s.token }, s.cookie);
    assert.equal(created.status, 303);
    const location = created.headers.get("location") ?? "";
    const id = /^\/users\/(\d+)\?notice=created$/.exec(location)?.[1];
    assert.ok(id, location);

    const shown = await fetch(app.url + location);
    const showBody = await shown.text();
    assert.match(showBody, /<h1>grace@example\.com<\/h1>/);
    assert.match(showBody, /User was successfully created\./);

    const edit = await openForm(`/users/${id}/edit`, s.cookie);
    assert.match(edit.body, /value="grace@example\.com"/);
    const updated = await post(`/users/${id}`, { email: "grace@hopper.org", _csrf: edit.token }, edit.cookie);
    assert.equal(updated.status, 303);
    assert.equal(updated.headers.get("location"), `/users/${id}?notice=updated`);
    assert.match(await (await fetch(`${app.url}/users`)).text(), /grace@hopper\.org/);

    const list = await openForm("/", edit.cookie);
    const deleted = await post(`/users/${id}/delete`, { _csrf: list.token }, list.cookie);
    assert.equal(deleted.status, 303);
    assert.equal(deleted.headers.get("location"), "/users?notice=deleted");
    assert.equal((await fetch(`${app.url}/users/${id}`)).status, 404);
    assert.ok(!(await emails()).includes("grace@hopper.org"));
  });

  it("re-renders the form with the error on an invalid email (422), escaping what was typed", async () => {
    const before = await emails();
    const s = await openForm("/users/new");
    const res = await post("/users", { email: '<script>alert("x")</script>', _csrf: s.token }, s.cookie);
    assert.equal(res.status, 422);
    const body = await res.text();
    assert.match(body, /<p class="error" role="alert">Email is invalid<\/p>/);
    assert.match(body, /value="&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;"/);
    assert.doesNotMatch(body, /<script>alert/);
    assert.deepEqual(await emails(), before);
  });

  it("re-renders the edit form on a refused email, and strips what was typed before storing it", async () => {
    const s = await openForm("/users/new");
    const created = await post("/users", { email: "  spaced@example.com  ", _csrf: s.token }, s.cookie);
    assert.equal(created.status, 303);
    const id = /^\/users\/(\d+)\?/.exec(created.headers.get("location") ?? "")?.[1];
    assert.ok(id);
    assert.ok((await emails()).includes("spaced@example.com"));

    const edit = await openForm(`/users/${id}/edit`, s.cookie);
    for (const [email, message] of [
      ["", "Email can&#39;t be blank"],
      ["nope", "Email is invalid"],
    ] as const) {
      const res = await post(`/users/${id}`, { email, _csrf: edit.token }, edit.cookie);
      assert.equal(res.status, 422, email);
      const body = await res.text();
      assert.match(body, /<h1>Edit user<\/h1>/);
      assert.match(body, new RegExp(`<p class="error" role="alert">${message}</p>`));
      assert.match(body, new RegExp(`action="/users/${id}"`));
    }
    for (const path of [`/users/0${id}`, `/users/${id}x`]) {
      assert.equal((await post(path, { email: "ok@example.com", _csrf: edit.token }, edit.cookie)).status, 404, path);
    }
    assert.ok((await emails()).includes("spaced@example.com"));
  });

  it("answers a page number that is not a positive integer with an HTML 400", async () => {
    const res = await fetch(`${app.url}/users?page=0`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<h1>Request rejected<\/h1><p>querystring\/page must be &gt;= 1<\/p>/);
  });

  it("shows the page without a message for an unknown or old notice key, and the message for a known one", async () => {
    const unknown = await fetch(`${app.url}/users?notice=no-such-notice`);
    assert.equal(unknown.status, 200);
    assert.doesNotMatch(await unknown.text(), /successfully/);
    const known = await fetch(`${app.url}/users?notice=deleted`);
    assert.match(await known.text(), /User was successfully destroyed\./);
  });

  it("re-renders the form on a duplicate email (409)", async () => {
    const s = await openForm("/users/new");
    assert.equal((await post("/users", { email: "twice@example.com", _csrf: s.token }, s.cookie)).status, 303);
    const again = await post("/users", { email: "twice@example.com", _csrf: s.token }, s.cookie);
    assert.equal(again.status, 409);
    assert.match(await again.text(), /Email has already been taken/);
  });

  it("escapes stored values when showing them", async () => {
    const s = await openForm("/users/new");
    const res = await post("/users", { email: "o'neil&co@example.com", _csrf: s.token }, s.cookie);
    assert.equal(res.status, 303);
    const body = await (await fetch(app.url + (res.headers.get("location") ?? ""))).text();
    assert.match(body, /<h1>o&#39;neil&amp;co@example\.com<\/h1>/);
  });

  it("answers unknown users and pages with an HTML 404", async () => {
    for (const path of ["/users/999999", "/users/abc", "/users/999999/edit", "/nowhere"]) {
      const res = await fetch(app.url + path);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.equal(res.headers.get("x-app-version"), "test-7");
    }
    const s = await openForm("/users/new");
    assert.equal((await post("/users/999999/delete", { _csrf: s.token }, s.cookie)).status, 404);
  });

  it("answers a form over MAX_BODY_SIZE with a 413 page", async () => {
    const s = await openForm("/users/new");
    const res = await post("/users", { email: "big@example.com", _csrf: s.token, pad: "x".repeat(app.config.maxBodySize) }, s.cookie);
    assert.equal(res.status, 413);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.ok(!(await emails()).includes("big@example.com"));
  });
});
