import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppConfig } from "../config.js";
import type { Db } from "../db.js";
import { emailFromBody, parseId, parsePage, validateEmail } from "./params.js";
import { createUser, deleteUser, DuplicateEmailError, findUser, listUsers, updateUser, type User } from "./repo.js";

export const PER_PAGE = 50;

interface Opts {
  db: Db;
  config: AppConfig;
}

type IdReq = FastifyRequest<{ Params: { id: string } }>;

// The shape of the Rails scaffold's jbuilder views.
function toJson(u: User) {
  return { id: u.id, email: u.email, created_at: u.created_at, updated_at: u.updated_at, url: `/users/${u.id}.json` };
}

function notFound(reply: FastifyReply) {
  return reply.code(404).send({ error: "Not found" });
}

/** Validates the body's email, then runs `write`; maps bad input to 422 and duplicates to 409. */
async function withEmail(req: FastifyRequest, reply: FastifyReply, write: (email: string) => Promise<unknown>) {
  const v = validateEmail(emailFromBody(req.body));
  if (!v.ok) return reply.code(422).send({ error: v.message, errors: { email: [v.message] } });
  try {
    return await write(v.email);
  } catch (err) {
    if (err instanceof DuplicateEmailError) return reply.code(409).send({ error: err.message, errors: { email: [err.message] } });
    throw err;
  }
}

/**
 * The JSON API. No CSRF token: browsers cannot send an application/json body
 * cross-site without a CORS preflight, which this app never grants, and no form
 * parser is registered in this scope (an urlencoded post gets 415).
 */
export async function jsonRoutes(app: FastifyInstance, { db }: Opts): Promise<void> {
  app.get("/users.json", async (req: FastifyRequest<{ Querystring: { page?: string } }>, reply) => {
    const page = parsePage(req.query.page);
    const { users, hasNext } = await listUsers(db, page, PER_PAGE);
    if (hasNext) reply.header("link", `</users.json?page=${page + 1}>; rel="next"`);
    return users.map(toJson);
  });

  app.post("/users.json", async (req, reply) =>
    withEmail(req, reply, async (email) => {
      const user = await createUser(db, email);
      return reply.code(201).header("location", `/users/${user.id}.json`).send(toJson(user));
    }),
  );

  app.get("/users/:id.json", async (req: IdReq, reply) => {
    const id = parseId(req.params.id);
    const user = id === undefined ? undefined : await findUser(db, id);
    return user ? toJson(user) : notFound(reply);
  });

  app.route({
    method: ["PATCH", "PUT"],
    url: "/users/:id.json",
    handler: async (req: IdReq, reply) => {
      const id = parseId(req.params.id);
      if (id === undefined || !(await findUser(db, id))) return notFound(reply);
      return withEmail(req, reply, async (email) => {
        const user = await updateUser(db, id, email);
        return user ? toJson(user) : notFound(reply);
      });
    },
  });

  app.delete("/users/:id.json", async (req: IdReq, reply) => {
    const id = parseId(req.params.id);
    if (id === undefined || !(await deleteUser(db, id))) return notFound(reply);
    return reply.code(204).send();
  });
}
