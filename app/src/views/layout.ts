import { html, trusted, type Html } from "./html.js";

// Small and inline: one request per page, nothing to cache-bust between versions.
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f5f7fa}
header,main,footer{max-width:48rem;margin:0 auto;padding:1rem 1.25rem}
header{display:flex;justify-content:space-between;align-items:baseline}
header a{color:inherit;text-decoration:none;font-weight:700;font-size:1.25rem}
main{background:#fff;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.5rem;margin:.25rem 0 1rem}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid #e4e7eb}
td.actions{text-align:right;white-space:nowrap}
a{color:#0b69a3}
.version{font:12px ui-monospace,monospace;color:#616e7c;background:#e4e7eb;border-radius:1rem;padding:.1rem .6rem}
.notice{background:#e3f9e5;color:#05400a;padding:.5rem .75rem;border-radius:.25rem}
.error{background:#ffe3e3;color:#610404;padding:.5rem .75rem;border-radius:.25rem}
label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=email]{width:100%;padding:.5rem;border:1px solid #cbd2d9;border-radius:.25rem;font:inherit}
button,.button{display:inline-block;padding:.4rem .9rem;border:0;border-radius:.25rem;background:#0b69a3;color:#fff;font:inherit;cursor:pointer;text-decoration:none}
button.danger{background:#ba2525}
form.inline{display:inline}
.links{margin-top:1rem;display:flex;gap:1rem;align-items:center}
footer{color:#616e7c;font-size:.85rem}
`;

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
