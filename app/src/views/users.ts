import type { User } from "../users/repo.js";
import { html, type Html } from "./html.js";
import { timeTag } from "./time.js";

function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

function editLink(user: User): Html {
  return html`<a class="button secondary" href="/users/${user.id}/edit" aria-label="Edit ${user.email}">Edit</a>`;
}

// The address goes into a data attribute, never into a script: an email may hold a quote,
// and HTML escaping does not protect a string inside inline JavaScript. The page's one script
// (./layout.ts) asks for confirmation with it.
function deleteButton(user: User, token: string): Html {
  return html`<form class="inline" method="post" action="/users/${user.id}/delete" data-confirm="Delete ${user.email}?">${csrfField(token)}<button class="button danger" type="submit" aria-label="Delete ${user.email}">Delete</button></form>`;
}

export function indexPage(users: readonly User[], page: number, hasNext: boolean, token: string): Html {
  const items = users.map(
    (u) => html`<li><a class="email" href="/users/${u.id}">${u.email}</a>
<div class="actions">${editLink(u)}${deleteButton(u, token)}</div></li>`,
  );
  return html`<h1>Users</h1>
${users.length === 0 ? html`<p>No users yet.</p>` : html`<ul class="users">${items}</ul>`}
<div class="links">
<a class="button" href="/users/new">New user</a>
${page > 1 ? html`<a href="/users?page=${page - 1}">← Newer</a>` : ""}
${hasNext ? html`<a href="/users?page=${page + 1}">Older →</a>` : ""}
</div>`;
}

export function showPage(user: User, token: string): Html {
  return html`<h1>${user.email}</h1>
<table class="details">
<tr><th>Email</th><td class="email">${user.email}</td></tr>
<tr><th>Created</th><td>${timeTag(user.created_at)}</td></tr>
<tr><th>Updated</th><td>${timeTag(user.updated_at)}</td></tr>
</table>
<div class="links"><div class="actions">${editLink(user)}${deleteButton(user, token)}</div><a href="/users">Back</a></div>`;
}

export interface FormState {
  /** undefined for a new user */
  id?: number | undefined;
  email: string;
  error?: string | undefined;
}

export function formPage(state: FormState, token: string): Html {
  const action = state.id === undefined ? "/users" : `/users/${state.id}`;
  return html`<h1>${state.id === undefined ? "New user" : "Edit user"}</h1>
${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ""}
<form method="post" action="${action}">
${csrfField(token)}
<p><label for="user_email">Email</label>
<input type="email" id="user_email" name="email" value="${state.email}" required maxlength="255" autofocus></p>
<button class="button" type="submit">${state.id === undefined ? "Create user" : "Update user"}</button>
</form>
<div class="links">${state.id === undefined ? "" : html`<a href="/users/${state.id}">Show</a>`}<a href="/users">Back</a></div>`;
}

/** One heading, then the explanation: the title is never repeated as the text. */
export function messagePage(title: string, message: string): Html {
  return html`<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the list</a></p>`;
}
