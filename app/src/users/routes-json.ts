import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import type { AppConfig } from "../config.js";
import { writeContext } from "../abort.js";
import type { Db } from "../db.js";
import { createUser, deleteUser, findUser, listUsers, updateUser, type User } from "./repo.js";
import { ListQuery, unwrapUserBody, UserBody, userId, UserParams } from "./schemas.js";

export const PER_PAGE = 50;

interface Opts {
  db: Db;
  config: AppConfig;
}

// The shape of the Rails scaffold's jbuilder views.
function toJson(u: User) {
  return { id: u.id, email: u.email, created_at: u.created_at, updated_at: u.updated_at, url: `/users/${u.id}.json` };
}

const NOT_FOUND = { error: "Not found" };

/**
 * The JSON API. Bad params answer 404, bad bodies 422 and duplicates 409, all from the error
 * handler (../errors.ts). No CSRF token: browsers cannot send an application/json body
 * cross-site without a CORS preflight, which this app never grants, and no form parser is
 * registered in this scope (an urlencoded post gets 415).
 */
export async function jsonRoutes(fastify: FastifyInstance, { db, config }: Opts): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get("/users.json", { schema: { querystring: ListQuery } }, async (req, reply) => {
    const { page } = req.query;
    const { users, hasNext } = await listUsers(db, page, PER_PAGE);
    if (hasNext) reply.header("link", `</users.json?page=${page + 1}>; rel="next"`);
    return users.map(toJson);
  });

  app.post("/users.json", { schema: { body: UserBody }, preValidation: unwrapUserBody }, async (req, reply) => {
    const user = await createUser(db, req.body.email, writeContext(req, reply, config.dbTimeoutMs));
    return reply.code(201).header("location", `/users/${user.id}.json`).send(toJson(user));
  });

  app.get("/users/:id.json", { schema: { params: UserParams } }, async (req, reply) => {
    const user = await findUser(db, userId(req.params));
    return user ? toJson(user) : reply.code(404).send(NOT_FOUND);
  });

  app.route({
    method: ["PATCH", "PUT"],
    url: "/users/:id.json",
    schema: { params: UserParams, body: UserBody },
    preValidation: unwrapUserBody,
    handler: async (req, reply) => {
      const user = await updateUser(db, userId(req.params), req.body.email, writeContext(req, reply, config.dbTimeoutMs));
      return user ? toJson(user) : reply.code(404).send(NOT_FOUND);
    },
  });

  app.delete("/users/:id.json", { schema: { params: UserParams } }, async (req, reply) => {
    if (!(await deleteUser(db, userId(req.params), writeContext(req, reply, config.dbTimeoutMs)))) return reply.code(404).send(NOT_FOUND);
    return reply.code(204).send();
  });
}
