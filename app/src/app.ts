import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { AppConfig } from "./config.js";
import { ping, type Db } from "./db.js";
import { BODY_LIMIT, toClientError, type ClientError } from "./errors.js";
import { htmlRoutes } from "./users/routes-html.js";
import { jsonRoutes } from "./users/routes-json.js";
import { layout } from "./views/layout.js";
import { messagePage } from "./views/users.js";

export interface AppDeps {
  config: AppConfig;
  db: Db;
  logger: FastifyBaseLogger;
}

/** JSON for `.json` paths (as Rails' format suffix) or clients that ask for JSON and not HTML. */
export function wantsJson(req: FastifyRequest): boolean {
  const path = req.url.split("?", 1)[0] ?? "";
  if (path.endsWith(".json")) return true;
  const accept = req.headers.accept ?? "";
  return accept.includes("application/json") && !accept.includes("text/html");
}

// The HTML 404 page explains; its heading already says "Not found".
const NOT_FOUND_TEXT = "There is nothing at this address. It may be mistyped, or what was here has been deleted.";

export function sendError(req: FastifyRequest, reply: FastifyReply, e: ClientError, config: AppConfig) {
  if (wantsJson(req)) return reply.code(e.status).send(e.fields ? { error: e.message, errors: e.fields } : { error: e.message });
  const title = e.status === 404 ? "Not found" : e.status >= 500 ? "Something went wrong" : "Request rejected";
  return reply
    .code(e.status)
    .type("text/html; charset=utf-8")
    .send(layout({ title, version: config.version, body: messagePage(title, e.status === 404 ? NOT_FOUND_TEXT : e.message) }));
}

export async function buildApp({ config, db, logger }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    // One line per request from the onResponse hook below instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // nginx on the same Docker network (a private address) sets X-Forwarded-For.
    trustProxy: ["loopback", "uniquelocal"],
    requestIdHeader: "x-request-id",
    // During a drain, a request that still arrives on an open keep-alive connection is
    // served (with Connection: close) rather than answered 503: the proxy in front may
    // have sent it just before it saw this instance go.
    return503OnClosing: false,
    // Longer than nginx's 60 s upstream keep-alive, so the proxy closes idle connections
    // first and never sends a request into one this side is closing.
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: true },
  });

  // A browser form can post text/plain cross-site; only JSON and (HTML scope) forms are bodies here.
  app.removeContentTypeParser("text/plain");

  // Set when close() begins. Requests already past routing then still get a response,
  // and `Connection: close` on it makes Node end the socket right after, instead of
  // keeping it for keepAliveTimeout and holding the drain open until the deadline.
  let draining = false;
  app.addHook("preClose", async () => {
    draining = true;
  });

  app.addHook("onSend", async (_req, reply, payload) => {
    reply.header("x-app-version", config.version);
    // Pages with delete buttons must not be framed by another site (clickjacking), and
    // forms may only post back here. Inline <style> and the confirm() handler stay allowed.
    reply.header("content-security-policy", "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'");
    reply.header("x-frame-options", "DENY");
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "same-origin");
    if (draining) reply.header("connection", "close");
    return payload;
  });

  app.addHook("onResponse", async (req, reply) => {
    // req.log already carries reqId.
    const entry = {
      method: req.method,
      url: req.url,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      remoteAddress: req.ip,
    };
    // Health checks every few seconds would drown the log; failures still show.
    if (req.url === "/up" && reply.statusCode === 200) req.log.debug(entry, "request");
    else req.log.info(entry, "request");
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toClientError(err);
    if (e.status >= 500) req.log.error({ err }, "request failed");
    else req.log.info({ code: err.code, status: e.status }, `request rejected: ${e.message}`);
    return sendError(req, reply, e, config);
  });

  app.setNotFoundHandler((req, reply) => sendError(req, reply, { status: 404, message: "Not found" }, config));

  app.route({
    method: ["GET", "HEAD"],
    url: "/up",
    handler: async (_req, reply) => {
      const ok = await ping(db, config.healthTimeoutMs);
      return reply.code(ok ? 200 : 503).send({ status: ok ? "ok" : "database unavailable", version: config.version });
    },
  });

  await app.register(jsonRoutes, { db, config });
  await app.register(htmlRoutes, { db, config });
  return app;
}
