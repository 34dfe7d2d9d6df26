import { inTransaction, type Db, type WriteContext } from "../db.js";
import { FieldError } from "../errors.js";

export interface User {
  id: number;
  email: string;
  created_at: Date;
  updated_at: Date;
}

/** 409, answered like a validation error of the email field (as Rails' uniqueness validation). */
export class DuplicateEmailError extends FieldError {
  constructor() {
    super(409, "email", "Email has already been taken");
    this.name = "DuplicateEmailError";
  }
}

// The unique index is the source of truth for duplicates: a check-then-insert would race.
function rethrowDuplicate(err: unknown): never {
  if (typeof err === "object" && err !== null && "code" in err && err.code === "ER_DUP_ENTRY") {
    throw new DuplicateEmailError();
  }
  throw err;
}

const COLUMNS = ["id", "email", "created_at", "updated_at"] as const;

/** Newest first, one page at a time, so the list costs the same with 10 users or 10 million. */
export async function listUsers(db: Db, page: number, perPage: number): Promise<{ users: User[]; hasNext: boolean }> {
  const rows = await db
    .selectFrom("users")
    .select(COLUMNS)
    .orderBy("id", "desc")
    .limit(perPage + 1)
    .offset((page - 1) * perPage)
    .execute();
  return { users: rows.slice(0, perPage), hasNext: rows.length > perPage };
}

export async function findUser(db: Db, id: number): Promise<User | undefined> {
  return db.selectFrom("users").select(COLUMNS).where("id", "=", id).executeTakeFirst();
}

// Writes run in a transaction bounded by DB_TIMEOUT_MS and the client's presence (../db.ts),
// so a write the client was told failed is not committed later.

export async function createUser(db: Db, email: string, ctx: WriteContext): Promise<User> {
  const now = new Date();
  const result = await inTransaction(db, ctx, (trx) =>
    trx.insertInto("users").values({ email, created_at: now, updated_at: now }).executeTakeFirstOrThrow(),
  ).catch(rethrowDuplicate);
  return { id: Number(result.insertId), email, created_at: now, updated_at: now };
}

export async function updateUser(db: Db, id: number, email: string, ctx: WriteContext): Promise<User | undefined> {
  const now = new Date();
  return inTransaction(db, ctx, async (trx) => {
    const result = await trx.updateTable("users").set({ email, updated_at: now }).where("id", "=", id).executeTakeFirst();
    // MySQL reports matched rows as numUpdatedRows only with CLIENT_FOUND_ROWS; mysql2 sets it,
    // so an update to the same email still counts as found.
    if (result.numUpdatedRows === 0n) return undefined;
    return findUser(trx, id);
  }).catch(rethrowDuplicate);
}

export async function deleteUser(db: Db, id: number, ctx: WriteContext): Promise<boolean> {
  const result = await inTransaction(db, ctx, (trx) => trx.deleteFrom("users").where("id", "=", id).executeTakeFirst());
  return result.numDeletedRows > 0n;
}
