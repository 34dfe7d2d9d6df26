import type { FastifyBaseLogger } from "fastify";
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { SCRIPT_HASH_SOURCE } from "./views/layout.js";

/**
 * Pages with delete buttons must not be framed by another site (clickjacking), forms may only
 * post back here, and the only script that runs is the page's own inline one, allowed by its
 * hash (no inline event handlers, no other source). Inline <style> stays allowed.
 */
export const CONTENT_SECURITY_POLICY = [
  `script-src ${SCRIPT_HASH_SOURCE}`,
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** On every response the app sends, errors from Fastify and Node's HTTP parser included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
});

// What a client-supplied X-Request-Id may be to become the id in the log: short, and nothing
// that could forge or break a log line.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Fastify's genReqId: the client's (or nginx's) X-Request-Id when it is safe, else a new UUID. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Fastify's clientErrorHandler (https://fastify.dev/docs/latest/Reference/Server/#clienterrorhandler):
 * answers what Node's HTTP parser rejects before any route sees it (malformed request, headers too
 * large, REQUEST_TIMEOUT_MS passed) with the app's headers and error shape, then closes the socket.
 * As Node's own handler (lib/_http_server.js, socketOnError), nothing is written once a response
 * to the request has begun.
 */
export function clientErrorHandler(version: string) {
  return function (this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const [status, message] =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "The request did not arrive in time"]
        : err.code === "HPE_HEADER_OVERFLOW"
          ? [431, "Request headers are too large"]
          : [400, "Malformed HTTP request"];
    this.log.info({ code: err.code, statusCode: status }, `client error: ${message}`);
    const started = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage?.headersSent === true;
    if (socket.writable && !started) {
      const body = JSON.stringify({ error: message });
      const headers = {
        ...SECURITY_HEADERS,
        "x-app-version": version,
        "content-type": "application/json; charset=utf-8",
        "content-length": String(Buffer.byteLength(body)),
        connection: "close",
      };
      const head = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head}\r\n${body}`);
    }
    socket.destroy(err);
  };
}
