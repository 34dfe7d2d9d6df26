import type { FastifyError, FastifySchemaValidationError } from "fastify";

/** What a client is told about a request that failed. */
export interface ClientError {
  status: number;
  message: string;
  /** Messages per field, as the Rails scaffold's `errors`: `{ "email": ["Email is invalid"] }`. */
  fields?: Record<string, string[]>;
}

/** The database did not answer within its deadline; the message says what became of a write. */
export class DbUnavailableError extends Error {
  readonly statusCode = 503;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DbUnavailableError";
  }
}

/** A well-formed request that one field makes impossible, e.g. a duplicate email (409). */
export class FieldError extends Error {
  constructor(
    readonly statusCode: number,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "FieldError";
  }
}

// ActiveModel's English messages (activemodel/lib/active_model/locale/en.yml), which the
// Rails app showed: "can't be blank", "is too long (maximum is %{count} characters)", "is invalid".
function fieldMessage(label: string, e: FastifySchemaValidationError): string {
  switch (e.keyword) {
    case "required":
      return `${label} can't be blank`;
    case "minLength":
      return e.params.limit === 1 ? `${label} can't be blank` : `${label} is too short (minimum is ${String(e.params.limit)} characters)`;
    case "maxLength":
      return `${label} is too long (maximum is ${String(e.params.limit)} characters)`;
    default:
      return `${label} is invalid`;
  }
}

/** 422 with a message per field; Ajv stops at the first error (allErrors is off), so usually one. */
function bodyErrors(errors: readonly FastifySchemaValidationError[]): ClientError {
  const fields: Record<string, string[]> = {};
  let first: string | undefined;
  for (const e of errors) {
    const missing = e.params.missingProperty;
    const field = typeof missing === "string" ? missing : (e.instancePath.split("/").pop() ?? "");
    if (field === "") {
      first ??= `Request body ${e.message ?? "is invalid"}`;
      continue;
    }
    const message = fieldMessage(field.charAt(0).toUpperCase() + field.slice(1).replaceAll("_", " "), e);
    (fields[field] ??= []).push(message);
    first ??= message;
  }
  return { status: 422, message: first ?? "Request body is invalid", fields };
}

// What a client may be told about any other 4xx; a 5xx is always the same generic sentence.
function clientMessage(err: FastifyError, status: number, bodyLimit: number | undefined): string {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return bodyLimit === undefined ? "Request body is too large" : `Request body is too large (the limit is ${bodyLimit} bytes)`;
    case "FST_ERR_BAD_URL":
      return "Malformed URL: bad percent-encoding";
    case "FST_ERR_MAX_PARAM_LENGTH":
      return "URL is too long";
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return "Malformed JSON body";
    case "FST_CSRF_INVALID_TOKEN":
    case "FST_CSRF_MISSING_SECRET":
      return "Invalid or missing CSRF token: reload the form and try again";
    default:
      return status === 415 ? "Unsupported content type" : err.message;
  }
}

/** Maps any error a route raised, or Fastify raised for it, to the status and message a client gets. */
export function toClientError(err: FastifyError, opts: { bodyLimit?: number } = {}): ClientError {
  if (err instanceof DbUnavailableError) return { status: 503, message: err.message };
  // A read past DB_TIMEOUT_MS (src/db.ts).
  if (err.code === "QUERY_ABORTED") return { status: 503, message: "The database did not answer in time. Try again." };
  if (err instanceof FieldError) return { status: err.statusCode, message: err.message, fields: { [err.field]: [err.message] } };
  if (err.validation) {
    switch (err.validationContext) {
      // A path whose id is not an id names no resource.
      case "params":
        return { status: 404, message: "Not found" };
      case "body":
        return bodyErrors(err.validation);
      // Fastify's own message, e.g. "querystring/page must be >= 1".
      case "querystring":
      case "headers":
      case undefined:
        return { status: 400, message: err.message };
    }
  }
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status >= 500) return { status, message: "Internal Server Error" };
  return { status, message: clientMessage(err, status, opts.bodyLimit) };
}
