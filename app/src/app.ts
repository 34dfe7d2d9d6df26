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
import { toClientError, type ClientError } from "./errors.js";
import { clientErrorHandler, requestId, SECURITY_HEADERS } from "./security.js";
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

/** The response headers every answer carries, whichever path produced it. */
function commonHeaders(reply: FastifyReply, config: AppConfig): void {
  reply.headers(SECURITY_HEADERS);
  reply.header("x-app-version", config.version);
}

export async function buildApp({ config, db, logger }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger,
    // One line per request from the onResponse hook below instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // MAX_BODY_SIZE, the value nginx's client_max_body_size has: both refuse the same bodies.
    bodyLimit: config.maxBodySize,
    // nginx on the same Docker network (a private address) sets X-Forwarded-For.
    trustProxy: ["loopback", "uniquelocal"],
    // X-Request-Id becomes the log's reqId only when short and plain (./security.ts).
    requestIdHeader: false,
    genReqId: requestId,
    // A client must send its whole request within REQUEST_TIMEOUT_MS (Node answers 408 through
    // clientErrorHandler). Node checks that deadline every connectionsCheckingInterval (30 s by
    // default, https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener), so check
    // often enough that the bound holds; headersTimeout may not exceed requestTimeout.
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(config.requestTimeoutMs / 4)),
    },
    // Socket inactivity bound (Node's server.setTimeout): longer than the keep-alive timeout.
    connectionTimeout: config.connectionTimeoutMs,
    clientErrorHandler: clientErrorHandler(config.version),
    // Errors Fastify raises before routing (a malformed percent-encoding, an over-long
    // parameter) skip the hooks and the error handler unless given here
    // (https://fastify.dev/docs/latest/Reference/Server/#frameworkerrors).
    frameworkErrors: (err, req, reply) => {
      commonHeaders(reply, config);
      req.log.info({ code: err.code, url: req.url, remoteAddress: req.ip }, `request rejected: ${err.message}`);
      void sendError(req, reply, toClientError(err, { bodyLimit: config.maxBodySize }), config);
    },
    // During a drain, a request that still arrives on an open keep-alive connection is
    // served (with Connection: close) rather than answered 503: the proxy in front may
    // have sent it just before it saw this instance go.
    return503OnClosing: false,
    // KEEP_ALIVE_TIMEOUT_MS, longer than nginx's 60 s upstream keep-alive, so the proxy closes
    // idle connections first and never sends a request into one this side is closing.
    keepAliveTimeout: config.keepAliveTimeoutMs,
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
    commonHeaders(reply, config);
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
    const e = toClientError(err, { bodyLimit: config.maxBodySize });
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
