// The WHATWG definition of a valid email address (what <input type=email> checks,
// and what Rails' URI::MailTo::EMAIL_REGEXP uses), so browser and server agree.
const EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export type EmailResult = { ok: true; email: string } | { ok: false; message: string };

export function validateEmail(input: unknown): EmailResult {
  if (typeof input !== "string" || input.trim() === "") return { ok: false, message: "Email can't be blank" };
  const email = input.trim();
  if (email.length > 255) return { ok: false, message: "Email is too long (maximum is 255 characters)" };
  if (!EMAIL.test(email)) return { ok: false, message: "Email is invalid" };
  return { ok: true, email };
}

/** Accepts Rails' `{ "user": { "email" } }` and the flat `{ "email" }` that Rails' wrap_parameters also took. */
export function emailFromBody(body: unknown): unknown {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.user === "object" && b.user !== null) return (b.user as Record<string, unknown>).email;
  return b.email;
}

/** A positive integer id from a URL segment, or undefined (which the routes answer with 404). */
export function parseId(raw: string): number | undefined {
  return /^[1-9][0-9]{0,14}$/.test(raw) ? Number(raw) : undefined;
}

/** Page number from `?page=`; anything odd means page 1. */
export function parsePage(raw: unknown): number {
  return typeof raw === "string" && /^[1-9][0-9]{0,5}$/.test(raw) ? Number(raw) : 1;
}
