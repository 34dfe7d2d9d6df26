import fastifyCookie from "@fastify/cookie";
import fastifyCsrf from "@fastify/csrf-protection";
import fastifyFormbody from "@fastify/formbody";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppConfig } from "../config.js";
import { writeContext } from "../abort.js";
import type { Db } from "../db.js";
import { toClientError } from "../errors.js";
import type { Html } from "../views/html.js";
import { layout } from "../views/layout.js";
import { formPage, indexPage, messagePage, showPage } from "../views/users.js";
import { createUser, deleteUser, findUser, listUsers, updateUser } from "./repo.js";
import { PER_PAGE } from "./routes-json.js";
import { CsrfForm, ListQuery, noticeText, ShowQuery, unwrapUserBody, UserForm, userId, UserParams } from "./schemas.js";

interface Opts {
  db: Db;
  config: AppConfig;
}

function stringField(v: unknown, key: string): string | undefined {
  const field = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[key] : undefined;
  return typeof field === "string" ? field : undefined;
}

/** The HTML scaffold. Every form carries a CSRF token tied to a cookie signed with SECRET_KEY_BASE. */
export async function htmlRoutes(fastify: FastifyInstance, { db, config }: Opts): Promise<void> {
  await fastify.register(fastifyFormbody);
  await fastify.register(fastifyCookie, { secret: config.secretKeyBase });
  await fastify.register(fastifyCsrf, {
    // The CSRF secret lives in this cookie; signing it means it cannot be planted.
    cookieOpts: { path: "/", sameSite: "lax", httpOnly: true, signed: true },
  });
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  function page(reply: FastifyReply, status: number, title: string, body: Html, notice?: string) {
    return reply
      .code(status)
      .type("text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .send(layout({ title, version: config.version, body, notice }));
  }

  function notFound(reply: FastifyReply) {
    return page(reply, 404, "Not found", messagePage("Not found", "There is no such user."));
  }

  for (const url of ["/", "/users"]) {
    app.get(url, { schema: { querystring: ListQuery } }, async (req, reply) => {
      const { page: p, notice } = req.query;
      const { users, hasNext } = await listUsers(db, p, PER_PAGE);
      return page(reply, 200, "Users", indexPage(users, p, hasNext, reply.generateCsrf()), noticeText(notice));
    });
  }

  app.get("/users/new", async (_req, reply) => page(reply, 200, "New user", formPage({ email: "" }, reply.generateCsrf())));

  app.get("/users/:id", { schema: { params: UserParams, querystring: ShowQuery } }, async (req, reply) => {
    const user = await findUser(db, userId(req.params));
    if (!user) return notFound(reply);
    const { notice } = req.query;
    return page(reply, 200, user.email, showPage(user, reply.generateCsrf()), noticeText(notice));
  });

  app.get("/users/:id/edit", { schema: { params: UserParams } }, async (req, reply) => {
    const user = await findUser(db, userId(req.params));
    if (!user) return notFound(reply);
    return page(reply, 200, "Edit user", formPage({ id: user.id, email: user.email }, reply.generateCsrf()));
  });

  /**
   * A refused email (422 invalid, 409 duplicate) shows the form again with what was typed and
   * why; every other error goes on to the app's error handler.
   */
  async function formAgain(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
    const refused = toClientError(err);
    if (refused.fields === undefined) throw err;
    const id = stringField(req.params, "id");
    const state = { id: id === undefined ? undefined : Number(id), email: stringField(req.body, "email") ?? "", error: refused.message };
    return page(reply, refused.status, id === undefined ? "New user" : "Edit user", formPage(state, reply.generateCsrf()));
  }

  // A plain function decorated on the instance: it does not use `this`.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const checkCsrf = app.csrfProtection;
  // The CSRF check runs before validation, so a forged post learns nothing about its input.
  const form = { preValidation: [checkCsrf, unwrapUserBody], errorHandler: formAgain };

  app.post("/users", { ...form, schema: { body: UserForm } }, async (req, reply) => {
    const user = await createUser(db, req.body.email, writeContext(req, reply, config.dbTimeoutMs));
    // 303: the browser follows with a GET, so a reload does not post again.
    return reply.redirect(`/users/${user.id}?notice=created`, 303);
  });

  app.post("/users/:id", { ...form, schema: { params: UserParams, body: UserForm } }, async (req, reply) => {
    const user = await updateUser(db, userId(req.params), req.body.email, writeContext(req, reply, config.dbTimeoutMs));
    if (!user) return notFound(reply);
    return reply.redirect(`/users/${user.id}?notice=updated`, 303);
  });

  app.post("/users/:id/delete", { preValidation: checkCsrf, schema: { params: UserParams, body: CsrfForm } }, async (req, reply) => {
    if (!(await deleteUser(db, userId(req.params), writeContext(req, reply, config.dbTimeoutMs)))) return notFound(reply);
    return reply.redirect("/users?notice=deleted", 303);
  });
}
