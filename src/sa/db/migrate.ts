// Applies prisma/migrations/<sqlite|postgres>/*/migration.sql without the Prisma CLI, each migration in
// its own transaction. Bookkeeping uses Prisma's own _prisma_migrations table and checksum (SHA-256 of
// the file), so `prisma migrate status|deploy` and Anvil agree on what is applied.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dbKind, sqliteFile } from "./client.js";

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

const createTable = (timestamp: string) => `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" ${timestamp},
  "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" ${timestamp},
  "started_at" ${timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP, "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`;
const selectApplied = `SELECT "checksum" FROM "_prisma_migrations"
  WHERE "migration_name" = $1 AND "finished_at" IS NOT NULL AND "rolled_back_at" IS NULL`;
const insertApplied = `INSERT INTO "_prisma_migrations"
  ("id", "checksum", "migration_name", "started_at", "finished_at", "applied_steps_count") VALUES ($1, $2, $3, $4, $5, 1)`;
const PRISMA_MIGRATE_LOCK = 72707369; // the advisory lock id Prisma Migrate uses

/** <package>/prisma/migrations, found by walking up from this file (works from src/ and dist/). */
export function migrationsRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "prisma", "migrations");
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error("prisma/migrations not found above " + import.meta.url);
  }
}

export function loadMigrations(dir: string): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

function alreadyApplied(m: Migration, row: { checksum: string } | undefined): boolean {
  if (row && row.checksum !== m.checksum) throw new Error(`migration ${m.name} was edited after it was applied`);
  return row !== undefined;
}

/** Returns the names of the migrations applied by this call. */
export async function migrate(url: string, dir?: string): Promise<string[]> {
  const kind = dbKind(url);
  const migrations = loadMigrations(dir ?? path.join(migrationsRoot(), kind));
  return kind === "sqlite" ? migrateSqlite(sqliteFile(url), migrations) : migratePostgres(url, migrations);
}

async function migrateSqlite(file: string, migrations: Migration[]): Promise<string[]> {
  const { default: Database } = await import("better-sqlite3");
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  const applied: string[] = [];
  try {
    db.pragma("journal_mode = WAL");
    db.exec(createTable("DATETIME"));
    const select = db.prepare(selectApplied.replace(/\$\d/g, "?"));
    const insert = db.prepare(insertApplied.replace(/\$\d/g, "?"));
    for (const m of migrations) {
      // foreign_keys must be OFF outside the transaction: inside it the pragma is a no-op, and a
      // RedefineTables step's DROP TABLE would fire ON DELETE CASCADE on child rows.
      db.pragma("foreign_keys = OFF");
      try {
        db.transaction(() => {
          if (alreadyApplied(m, select.get(m.name) as { checksum: string } | undefined)) return;
          const started = new Date().toISOString();
          db.exec(m.sql);
          if ((db.pragma("foreign_key_check") as unknown[]).length > 0) {
            throw new Error(`migration ${m.name} leaves foreign key violations`);
          }
          insert.run(randomUUID(), m.checksum, m.name, started, new Date().toISOString());
          applied.push(m.name);
        }).immediate();
      } finally {
        db.pragma("foreign_keys = ON");
      }
    }
  } finally {
    db.close();
  }
  return applied;
}

async function migratePostgres(url: string, migrations: Migration[]): Promise<string[]> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK})`);
    await client.query(createTable("TIMESTAMPTZ"));
    for (const m of migrations) {
      await client.query("BEGIN");
      try {
        if (!alreadyApplied(m, (await client.query(selectApplied, [m.name])).rows[0])) {
          const started = new Date();
          await client.query(m.sql); // no parameters: simple protocol, several statements allowed
          await client.query(insertApplied, [randomUUID(), m.checksum, m.name, started, new Date()]);
          applied.push(m.name);
        }
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.name} rolled back: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.end(); // ends the session, which releases the advisory lock
  }
  return applied;
}
