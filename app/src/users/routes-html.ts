import fastifyCookie from "@fastify/cookie";
import fastifyCsrf from "@fastify/csrf-protection";
import fastifyFormbody from "@fastify/formbody";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppConfig } from "../config.js";
import type { Db } from "../db.js";
import type { Html } from "../views/html.js";
import { layout } from "../views/layout.js";
import { formPage, indexPage, messagePage, showPage } from "../views/users.js";
import { parseId, parsePage, validateEmail } from "./params.js";
import { createUser, deleteUser, DuplicateEmailError, findUser, listUsers, updateUser } from "./repo.js";
import { PER_PAGE } from "./routes-json.js";

interface Opts {
  db: Db;
  config: AppConfig;
}

type IdReq = FastifyRequest<{ Params: { id: string } }>;
type FormReq = FastifyRequest<{ Params: { id: string }; Body: Record<string, unknown> | undefined }>;

// Flash messages travel as a key in the redirect's query string; only these keys are shown.
const NOTICES: Record<string, string> = {
  created: "User was successfully created.",
  updated: "User was successfully updated.",
  deleted: "User was successfully destroyed.",
};

/** The HTML scaffold. Every form carries a CSRF token tied to a cookie signed with SECRET_KEY_BASE. */
export async function htmlRoutes(app: FastifyInstance, { db, config }: Opts): Promise<void> {
  await app.register(fastifyFormbody);
  await app.register(fastifyCookie, { secret: config.secretKeyBase });
  await app.register(fastifyCsrf, {
    // The CSRF secret lives in this cookie; signing it means it cannot be planted.
    cookieOpts: { path: "/", sameSite: "lax", httpOnly: true, signed: true },
  });

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

  async function index(req: FastifyRequest<{ Querystring: { page?: string; notice?: string } }>, reply: FastifyReply) {
    const p = parsePage(req.query.page);
    const { users, hasNext } = await listUsers(db, p, PER_PAGE);
    return page(reply, 200, "Users", indexPage(users, p, hasNext, reply.generateCsrf()), NOTICES[req.query.notice ?? ""]);
  }
  app.get("/", index);
  app.get("/users", index);

  app.get("/users/new", async (_req, reply) => page(reply, 200, "New user", formPage({ email: "" }, reply.generateCsrf())));

  app.get("/users/:id", async (req: FastifyRequest<{ Params: { id: string }; Querystring: { notice?: string } }>, reply) => {
    const id = parseId(req.params.id);
    const user = id === undefined ? undefined : await findUser(db, id);
    if (!user) return notFound(reply);
    return page(reply, 200, user.email, showPage(user, reply.generateCsrf()), NOTICES[req.query.notice ?? ""]);
  });

  app.get("/users/:id/edit", async (req: IdReq, reply) => {
    const id = parseId(req.params.id);
    const user = id === undefined ? undefined : await findUser(db, id);
    if (!user) return notFound(reply);
    return page(reply, 200, "Edit user", formPage({ id, email: user.email }, reply.generateCsrf()));
  });

  /** Validates and writes; on bad input re-renders the form with the error (422, or 409 for a duplicate). */
  async function submit(req: FormReq, reply: FastifyReply, id: number | undefined, write: (email: string) => Promise<number | undefined>) {
    const raw = req.body?.email;
    const typed = typeof raw === "string" ? raw : "";
    const rerender = (status: number, error: string) =>
      page(reply, status, id === undefined ? "New user" : "Edit user", formPage({ id, email: typed, error }, reply.generateCsrf()));
    const v = validateEmail(raw);
    if (!v.ok) return rerender(422, v.message);
    try {
      const savedId = await write(v.email);
      if (savedId === undefined) return notFound(reply);
      // 303: the browser follows with a GET, so a reload does not post again.
      return reply.redirect(`/users/${savedId}?notice=${id === undefined ? "created" : "updated"}`, 303);
    } catch (err) {
      if (err instanceof DuplicateEmailError) return rerender(409, err.message);
      throw err;
    }
  }

  const csrf = { preHandler: app.csrfProtection };

  app.post("/users", csrf, async (req: FormReq, reply) => submit(req, reply, undefined, async (email) => (await createUser(db, email)).id));

  app.post("/users/:id", csrf, async (req: FormReq, reply) => {
    const id = parseId(req.params.id);
    if (id === undefined) return notFound(reply);
    return submit(req, reply, id, async (email) => (await updateUser(db, id, email))?.id);
  });

  app.post("/users/:id/delete", csrf, async (req: IdReq, reply) => {
    const id = parseId(req.params.id);
    if (id === undefined || !(await deleteUser(db, id))) return notFound(reply);
    return reply.redirect("/users?notice=deleted", 303);
  });
}
