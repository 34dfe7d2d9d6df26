import type { FastifyRequest } from "fastify";
import { Type } from "typebox";

// The request schemas of the users routes. Fastify validates them with Ajv before a handler
// runs (https://fastify.dev/docs/latest/Reference/Validation-and-Serialization/), and the
// TypeBox type provider derives each handler's request types from them.

// The WHATWG definition of a valid email address (what <input type=email> checks,
// and what Rails' URI::MailTo::EMAIL_REGEXP uses), so browser and server agree.
const EMAIL_PATTERN =
  "^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$";

/** minLength answers "can't be blank", maxLength "is too long", pattern "is invalid" (see ../errors.ts). */
const Email = Type.String({ minLength: 1, maxLength: 255, pattern: EMAIL_PATTERN });

/** The email a JSON body or an HTML form carries, once `unwrapUserBody` has reshaped it. */
export const UserBody = Type.Object({ email: Email });

/** The HTML forms also carry the CSRF token; @fastify/csrf-protection checks it before this schema. */
export const UserForm = Type.Object({ email: Email, _csrf: Type.Optional(Type.String()) });
export const CsrfForm = Type.Object({ _csrf: Type.Optional(Type.String()) });

/** A positive id in canonical form (no sign, zeros, exponent), below 2^53. Anything else is a 404. */
export const UserParams = Type.Object({ id: Type.String({ pattern: "^[1-9][0-9]{0,14}$" }) });

export function userId(params: { id: string }): number {
  return Number(params.id);
}

// Flash messages travel as a key in the redirect's query string; only these keys exist.
export const NOTICES = {
  created: "User was successfully created.",
  updated: "User was successfully updated.",
  deleted: "User was successfully destroyed.",
} as const;
// Any short text is accepted: an old or mistyped link shows the page without a message, not an error.
const Notice = Type.String({ maxLength: 32 });

/** The message for a notice key from the query string, if it is one. */
export function noticeText(key: string | undefined): string | undefined {
  return key !== undefined && Object.hasOwn(NOTICES, key) ? NOTICES[key as keyof typeof NOTICES] : undefined;
}

/** `?page=N`: the list pages from 1, 50 users a page. */
export const ListQuery = Type.Object({
  page: Type.Integer({ minimum: 1, maximum: 999_999, default: 1 }),
  notice: Type.Optional(Notice),
});
export const ShowQuery = Type.Object({ notice: Type.Optional(Notice) });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * preValidation: reshapes, never rejects (the schema decides). Takes Rails' `{"user": {"email"}}`
 * as well as the flat `{"email"}` that Rails' wrap_parameters also accepted, and strips the
 * email as Rails 7.1's `normalizes :email, with: ->(e) { e.strip }` would. A body that is not
 * an object (`["x"]`, none at all) carries no fields, so the schema answers "can't be blank".
 */
export async function unwrapUserBody(req: FastifyRequest): Promise<void> {
  if (!isRecord(req.body)) {
    req.body = {};
    return;
  }
  const fields = isRecord(req.body.user) ? req.body.user : req.body;
  req.body = typeof fields.email === "string" ? { ...fields, email: fields.email.trim() } : fields;
}
