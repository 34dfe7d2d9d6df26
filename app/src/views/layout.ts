import { createHash } from "node:crypto";
import { html, trusted, type Html } from "./html.js";

// Small and inline: one request per page, nothing to cache-bust between versions.
// Nothing may widen a 390 px phone screen: email addresses and version labels have no spaces
// to wrap at, so they break anywhere. A user's actions sit beside the address when both fit
// on the line, and wrap below it when not (a flex row, where a table column would squeeze the address).
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f5f7fa}
header,main,footer{max-width:48rem;margin:0 auto;padding:1rem 1.25rem}
header{display:flex;flex-wrap:wrap;gap:.25rem 1rem;justify-content:space-between;align-items:baseline}
header a{color:inherit;text-decoration:none;font-weight:700;font-size:1.25rem}
main{background:#fff;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1,.email,.version,.notice,.error,footer{overflow-wrap:anywhere}
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 1rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;vertical-align:top;padding:.5rem;border-bottom:1px solid #e4e7eb}
table.details th{width:6rem}
a{color:#0b69a3}
.version{font:12px ui-monospace,monospace;color:#616e7c;background:#e4e7eb;border-radius:1rem;padding:.1rem .6rem}
.notice{background:#e3f9e5;color:#05400a;padding:.5rem .75rem;border-radius:.25rem}
.error{background:#ffe3e3;color:#610404;padding:.5rem .75rem;border-radius:.25rem}
label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=email]{width:100%;padding:.5rem;border:1px solid #cbd2d9;border-radius:.25rem;font:inherit}
.button{display:inline-block;padding:.3rem .85rem;border:1px solid #0b69a3;border-radius:.25rem;background:#0b69a3;color:#fff;font:inherit;line-height:1.5;cursor:pointer;text-decoration:none;white-space:nowrap}
.button.secondary{background:#fff;color:#0b69a3}
.button.danger{background:#fff;color:#ba2525;border-color:#ba2525}
.button:hover{text-decoration:underline}
.button:focus-visible{outline:2px solid #0b69a3;outline-offset:2px}
ul.users{list-style:none;margin:0;padding:0;border-top:1px solid #e4e7eb}
ul.users li{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.5rem;border-bottom:1px solid #e4e7eb}
ul.users .actions{margin-left:auto}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
form.inline{display:inline}
.links{margin-top:1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
footer{color:#616e7c;font-size:.85rem}
@media (max-width:30rem){header,main,footer{padding:.75rem}main{border-radius:0}}
`;

// The one script: a delete form asks first, naming the user from its data-confirm attribute.
// A listener rather than an onsubmit attribute, because the CSP allows this script by its hash
// and no inline event handler (those would need 'unsafe-inline' or 'unsafe-hashes').
const SCRIPT = `document.addEventListener("submit",function(e){var f=e.target;if(f instanceof HTMLFormElement&&f.dataset.confirm!==undefined&&!confirm(f.dataset.confirm))e.preventDefault()})`;

/** The CSP source that allows exactly the page's inline script (https://www.w3.org/TR/CSP3/#grammardef-hash-source). */
export const SCRIPT_HASH_SOURCE = `'sha256-${createHash("sha256").update(SCRIPT).digest("base64")}'`;

export interface Page {
  title: string;
  version: string;
  body: Html;
  notice?: string | undefined;
}

export function layout(p: Page): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · Berth</title>
<style>${trusted(CSS)}</style>
<script>${trusted(SCRIPT)}</script>
</head>
<body>
<header><a href="/">Berth users</a><span class="version" title="APP_VERSION">version ${p.version}</span></header>
<main>
${p.notice ? html`<p class="notice">${p.notice}</p>` : ""}
${p.body}
</main>
<footer>Served by version ${p.version}.</footer>
</body>
</html>
`.value;
}
