import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { User } from "../src/users/repo.js";
import { escapeHtml, html, trusted } from "../src/views/html.js";
import { layout, SCRIPT_HASH_SOURCE } from "../src/views/layout.js";
import { readableTime, timeTag } from "../src/views/time.js";
import { indexPage, messagePage, showPage } from "../src/views/users.js";

describe("html template", () => {
  it("escapes interpolated values, including inside arrays, but not nested templates", () => {
    const evil = `<img src=x onerror="alert('1')">&`;
    const out = html`<p title="${evil}">${[evil, html`<b>${evil}</b>`]}</p>`.value;
    const e = "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;";
    assert.equal(out, `<p title="${e}">${e}<b>${e}</b></p>`);
    assert.equal(escapeHtml(`"'<>&`), "&quot;&#39;&lt;&gt;&amp;");
  });

  it("drops null, undefined and false, so conditionals read naturally", () => {
    assert.equal(html`a${null}${undefined}${false}${0}b`.value, "a0b");
  });

  it("carries one inline script, the one whose hash the CSP allows", () => {
    const page = layout({ title: "T", version: "v", body: trusted("<p>x</p>") });
    const scripts = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? "");
    assert.equal(scripts.length, 1);
    assert.equal(
      SCRIPT_HASH_SOURCE,
      `'sha256-${createHash("sha256")
        .update(scripts[0] ?? "")
        .digest("base64")}'`,
    );
    assert.match(scripts[0] ?? "", /confirm\(f\.dataset\.confirm\)/);
  });

  it("puts the version on every page, escaped", () => {
    const page = layout({ title: "T", version: "<v2>", body: trusted("<p>x</p>") });
    assert.match(page, /version &lt;v2&gt;/);
    assert.match(page, /<p>x<\/p>/);
  });
});

const quoted: User = {
  id: 7,
  email: "o'neil&co@example.com",
  created_at: new Date("2026-11-25T09:05:59.123Z"),
  updated_at: new Date("2026-01-02T23:10:00.000Z"),
};

describe("user views", () => {
  it("shows timestamps readably, keeping the exact instant in <time datetime>", () => {
    assert.equal(readableTime(quoted.created_at), "25 Nov 2026, 09:05 UTC");
    assert.equal(readableTime(quoted.updated_at), "2 Jan 2026, 23:10 UTC");
    assert.equal(timeTag(quoted.created_at).value, '<time datetime="2026-11-25T09:05:59.123Z">25 Nov 2026, 09:05 UTC</time>');
    const page = showPage(quoted, "t").value;
    assert.match(page, /<time datetime="2026-11-25T09:05:59\.123Z">25 Nov 2026, 09:05 UTC<\/time>/);
    assert.match(page, /<time datetime="2026-01-02T23:10:00\.000Z">2 Jan 2026, 23:10 UTC<\/time>/);
  });

  it("names the user in the delete confirmation, as data and never inside the script", () => {
    for (const page of [showPage(quoted, "t").value, indexPage([quoted], 1, false, "t").value]) {
      assert.match(page, /data-confirm="Delete o&#39;neil&amp;co@example\.com\?"/);
      // No inline event handler: the CSP's script-src allows only the layout's script, by hash.
      assert.doesNotMatch(page, /\son[a-z]+=/i);
    }
  });

  it("gives Edit and Delete the same button class", () => {
    const page = indexPage([quoted], 1, false, "t").value;
    assert.match(page, /<a class="button secondary" href="\/users\/7\/edit"[^>]*>Edit<\/a>/);
    assert.match(page, /<button class="button danger" type="submit"[^>]*>Delete<\/button>/);
  });

  it("puts one heading on a message page, and does not repeat it as the text", () => {
    const page = messagePage("Not found", "There is no such user.").value;
    assert.equal(page.match(/<h[1-6]/g)?.length, 1);
    assert.equal(page.match(/Not found/g)?.length, 1);
  });
});
