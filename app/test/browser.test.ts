import assert from "node:assert/strict";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "puppeteer-core";
import { startApp, type RunningApp } from "./support/app.js";
import { findAll, launchChromium, measureOverflow, missingChromium } from "./support/browser.js";
import { startMariaDb, type MariaDb } from "./support/mariadb.js";

// A desktop and a phone (390 x 844 CSS px, as the iPhone 12 to 14).
const DESKTOP = 1280;
const PHONE = 390;
const HEIGHT = 844;

// Ordinary long addresses, one near the 255-character limit, and one that needs escaping.
const LONG = "maximilian.alexander.featherstonehaugh-cholmondeley@research-and-development.international-example-company.co.uk";
const LONGEST = `${"firstname".repeat(6)}.${"lastname".repeat(6)}@${"department".repeat(6)}.${"subdivision".repeat(4)}.example.org`;
const QUOTED = "o'neil&co@example.com";
const DOOMED = "delete-me@example.com";
// A release label as long as a commit id, in the header and footer of every page.
const VERSION = "2026.11.25-4f9c2e1d0b8a7c6e5f4d3c2b1a0f9e8d7c6b5a49";

// In CI a missing browser fails the suite instead of skipping it (.ci/run installs Debian's chromium).
const missing = missingChromium();
const skip = missing !== undefined && process.env.CI !== "true" ? missing : false;

interface UserJson {
  id: number;
  email: string;
  created_at: string;
  updated_at: string;
}

describe("pages in headless Chromium, at 1280 and 390 px", { skip }, () => {
  let maria: MariaDb;
  let app: RunningApp;
  let browser: Browser;
  let shots: string;
  const users = new Map<string, UserJson>();

  before(async () => {
    browser = await launchChromium();
    maria = await startMariaDb();
    app = await startApp(maria, "browser_pages", { APP_VERSION: VERSION });
    for (const email of ["alice@example.com", LONG, QUOTED, "bo@x.io", LONGEST, DOOMED]) {
      const res = await fetch(`${app.url}/users.json`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email }),
      });
      assert.equal(res.status, 201, email);
      users.set(email, (await res.json()) as UserJson);
    }
    shots = process.env.SCREENSHOT_DIR ?? (await mkdtemp(join(tmpdir(), "berth-app-screens-")));
    await mkdir(shots, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await maria?.destroy();
  });

  function id(email: string): number {
    const user = users.get(email);
    assert.ok(user, email);
    return user.id;
  }

  // What Chromium reports as blocked by the Content-Security-Policy, on any page opened.
  const cspViolations: string[] = [];

  async function open(width: number): Promise<Page> {
    const page = await browser.newPage();
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
    });
    const phone = width < 600;
    await page.setViewport({ width, height: HEIGHT, isMobile: phone, hasTouch: phone });
    return page;
  }

  async function visit(page: Page, path: string, status = 200): Promise<void> {
    const res = await page.goto(app.url + path);
    assert.equal(res?.status(), status, path);
  }

  async function assertFits(page: Page, width: number, what: string): Promise<void> {
    const o = await measureOverflow(page, width);
    assert.deepEqual(o.outside, [], `${what} at ${width} px: elements outside the viewport`);
    assert.ok(o.scrollWidth <= width, `${what} at ${width} px: scrollWidth ${o.scrollWidth}`);
    assert.ok(o.clientWidth <= width, `${what} at ${width} px: clientWidth ${o.clientWidth}`);
  }

  for (const width of [DESKTOP, PHONE]) {
    it(`fits every page in ${width} px without horizontal scroll`, async (t) => {
      const page = await open(width);
      const pages: [string, number][] = [
        ["/", 200],
        ["/users?notice=deleted", 200],
        [`/users/${id(LONG)}?notice=created`, 200],
        [`/users/${id(LONGEST)}`, 200],
        [`/users/${id(LONGEST)}/edit`, 200],
        ["/users/new", 200],
        ["/users/999999", 404],
        ["/nowhere", 404],
        ["/users?page=0", 400],
      ];
      for (const [path, status] of pages) {
        await visit(page, path, status);
        await assertFits(page, width, path);
      }

      // The form again after a refusal, with the long address typed back in and the error.
      await visit(page, "/users/new");
      await page.type("#user_email", LONGEST);
      const [res] = await Promise.all([page.waitForNavigation(), page.click('form[action="/users"] button[type=submit]')]);
      assert.equal(res?.status(), 409);
      assert.equal((await findAll(page, ".error"))[0]?.text, "Email has already been taken");
      await assertFits(page, width, "the refused form");

      // Every row's actions are on screen, the long addresses included.
      await visit(page, "/users");
      for (const email of users.keys()) {
        const [edit] = await findAll(page, `a[href="/users/${id(email)}/edit"]`);
        const [del] = await findAll(page, `form[action="/users/${id(email)}/delete"] button`);
        assert.ok(edit && edit.width > 0 && del && del.width > 0, `actions of ${email}`);
      }

      const file = join(shots, `users-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot: ${file}`);
      await page.close();
    });
  }

  it("gives Edit and Delete the same shape and size on the list and the user's page", async () => {
    const page = await open(PHONE);
    for (const path of ["/users", `/users/${id(LONG)}`]) {
      await visit(page, path);
      const edits = await findAll(page, "a[href$='/edit']");
      const deletes = await findAll(page, "form[action$='/delete'] button");
      assert.ok(edits.length > 0 && edits.length === deletes.length, path);
      for (const [i, del] of deletes.entries()) {
        const edit = edits[i];
        assert.ok(edit);
        assert.deepEqual(del.shape, edit.shape, `${path}: row ${i}`);
        assert.ok(Math.abs(del.height - edit.height) < 0.5, `${path}: heights ${edit.height} and ${del.height}`);
      }
    }
    await page.close();
  });

  it("asks before deleting, naming the user, and deletes only once confirmed", async () => {
    const page = await open(PHONE);
    const asked: string[] = [];
    let confirm = false;
    page.on("dialog", (d) => {
      asked.push(d.message());
      void (confirm ? d.accept() : d.dismiss());
    });

    await visit(page, "/users");
    await page.click(`form[action="/users/${id(QUOTED)}/delete"] button`);
    assert.deepEqual(asked, [`Delete ${QUOTED}?`]);
    assert.equal((await fetch(`${app.url}/users/${id(QUOTED)}.json`)).status, 200, "dismissed: still there");

    confirm = true;
    const [res] = await Promise.all([page.waitForNavigation(), page.click(`form[action="/users/${id(DOOMED)}/delete"] button`)]);
    assert.deepEqual(asked, [`Delete ${QUOTED}?`, `Delete ${DOOMED}?`]);
    assert.equal(res?.url(), `${app.url}/users?notice=deleted`);
    assert.equal((await fetch(`${app.url}/users/${id(DOOMED)}.json`)).status, 404, "confirmed: gone");
    users.delete(DOOMED);
    await page.close();
    // The confirmation runs as the page's hashed script, not an inline handler the CSP blocks.
    assert.match((await fetch(`${app.url}/users`)).headers.get("content-security-policy") ?? "", /script-src 'sha256-/);
    assert.deepEqual(cspViolations, []);
  });

  it("shows timestamps readably, with the exact instant in <time datetime>", async () => {
    const page = await open(PHONE);
    const user = users.get(LONG);
    assert.ok(user);
    await visit(page, `/users/${user.id}`);
    const times = await findAll(page, "time", ["datetime"]);
    assert.deepEqual(
      times.map((t) => t.attrs.datetime),
      [user.created_at, user.updated_at],
    );
    for (const t of times) assert.match(t.text, /^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
    await page.close();
  });

  it("has one heading on a not-found page, and says 'Not found' once", async () => {
    const page = await open(PHONE);
    for (const path of ["/nowhere", "/users/999999", "/users/abc/edit"]) {
      await visit(page, path, 404);
      const headings = await findAll(page, "h1, h2, h3, h4, h5, h6");
      assert.deepEqual(
        headings.map((h) => h.text),
        ["Not found"],
        path,
      );
      const [main] = await findAll(page, "main");
      assert.equal(main?.text.split("Not found").length, 2, path);
    }
    await page.close();
  });
});
