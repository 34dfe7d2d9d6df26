import { sql, type Kysely } from "kysely";

// Same shape as the original Rails app's users table, plus the unique index the
// scaffold lacked (duplicate emails become a 409 instead of silent duplicates).
// Kysely<any>: a migration must not depend on the schema types of later versions.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("users")
    .ifNotExists()
    .addColumn("id", "bigint", (c) => c.unsigned().autoIncrement().primaryKey())
    .addColumn("email", "varchar(255)", (c) => c.notNull())
    .addColumn("created_at", sql`datetime(3)`, (c) => c.notNull())
    .addColumn("updated_at", sql`datetime(3)`, (c) => c.notNull())
    .addUniqueConstraint("index_users_on_email", ["email"])
    .modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("users").ifExists().execute();
}
