import type { FastifyReply, FastifyRequest } from "fastify";
import type { WriteContext } from "./db.js";

/**
 * Aborts when the connection closes before the response was sent: the client (or nginx, which
 * closes its upstream connection when proxy_read_timeout passes or its own client leaves,
 * https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ignore_client_abort) no
 * longer waits for the answer. Node emits `close` on the response in both cases
 * (https://nodejs.org/api/http.html#event-close_2); `writableFinished` tells them apart.
 */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  const gone = () => controller.abort(new Error("the client closed the connection before the response"));
  if (res.destroyed && !res.writableFinished) gone();
  else res.once("close", () => (res.writableFinished ? undefined : gone()));
  return controller.signal;
}

/** What a write needs to give up in time: the client's presence, DB_TIMEOUT_MS, the request's logger. */
export function writeContext(req: FastifyRequest, reply: FastifyReply, timeoutMs: number): WriteContext {
  return { signal: clientGoneSignal(reply), timeoutMs, log: req.log };
}
