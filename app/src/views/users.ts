import type { User } from "../users/repo.js";
import { html, type Html } from "./html.js";

function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

function deleteButton(user: User, token: string): Html {
  return html`<form class="inline" method="post" action="/users/${user.id}/delete"
 onsubmit="return confirm('Are you sure?')">${csrfField(token)}<button class="danger" type="submit">Delete</button></form>`;
}

export function indexPage(users: readonly User[], page: number, hasNext: boolean, token: string): Html {
  const rows = users.map(
    (u) => html`<tr><td><a href="/users/${u.id}">${u.email}</a></td>
<td class="actions"><a href="/users/${u.id}/edit">Edit</a> ${deleteButton(u, token)}</td></tr>`,
  );
  return html`<h1>Users</h1>
${users.length === 0 ? html`<p>No users yet.</p>` : html`<table><thead><tr><th>Email</th><th></th></tr></thead><tbody>${rows}</tbody></table>`}
<div class="links">
<a class="button" href="/users/new">New user</a>
${page > 1 ? html`<a href="/users?page=${page - 1}">← Newer</a>` : ""}
${hasNext ? html`<a href="/users?page=${page + 1}">Older →</a>` : ""}
</div>`;
}

export function showPage(user: User, token: string): Html {
  return html`<h1>${user.email}</h1>
<table>
<tr><th>Email</th><td>${user.email}</td></tr>
<tr><th>Created</th><td>${user.created_at.toISOString()}</td></tr>
<tr><th>Updated</th><td>${user.updated_at.toISOString()}</td></tr>
</table>
<div class="links"><a class="button" href="/users/${user.id}/edit">Edit</a> ${deleteButton(user, token)} <a href="/users">Back</a></div>`;
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
<button type="submit">${state.id === undefined ? "Create user" : "Update user"}</button>
</form>
<div class="links">${state.id === undefined ? "" : html`<a href="/users/${state.id}">Show</a>`}<a href="/users">Back</a></div>`;
}

export function messagePage(title: string, message: string): Html {
  return html`<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the list</a></p>`;
}
