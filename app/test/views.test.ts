import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateEmail, parseId, parsePage } from "../src/users/params.js";
import { escapeHtml, html, trusted } from "../src/views/html.js";
import { layout } from "../src/views/layout.js";

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

  it("puts the version on every page, escaped", () => {
    const page = layout({ title: "T", version: "<v2>", body: trusted("<p>x</p>") });
    assert.match(page, /version &lt;v2&gt;/);
    assert.match(page, /<p>x<\/p>/);
  });
});

describe("params", () => {
  it("accepts what <input type=email> accepts, trimmed", () => {
    assert.deepEqual(validateEmail("  ada@example.com "), { ok: true, email: "ada@example.com" });
    assert.equal(validateEmail("o'neil+tag@sub.example.co").ok, true);
    for (const bad of ["ada", "ada@", "@example.com", "a b@example.com", "ada@-example.com", "ada@exa_mple.com", "<x>@y.z"]) {
      assert.deepEqual(validateEmail(bad), { ok: false, message: "Email is invalid" }, bad);
    }
    assert.deepEqual(validateEmail(undefined), { ok: false, message: "Email can't be blank" });
  });

  it("parses ids and pages strictly", () => {
    assert.equal(parseId("42"), 42);
    for (const bad of ["0", "-1", "1.json", "1e3", "", "01", "9".repeat(16)]) assert.equal(parseId(bad), undefined, bad);
    assert.equal(parsePage("3"), 3);
    assert.equal(parsePage("0"), 1);
    assert.equal(parsePage(["2", "3"]), 1);
  });
});
