// One data model, two databases: both migration sets, applied by Anvil's migrator, produce the same tables,
// columns (type family and nullability) and indexes (a partial index's condition included); both match
// prisma/schema.prisma (no unmigrated change);
// and applying twice, or concurrently, applies each migration once.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/sa/index.js";
import { REPO_ROOT } from "../helpers/anvil-process.js";
import { createTestDatabase, PG_ADMIN_URL, type TestDatabase } from "../helpers/db.js";
import { makeTempDir, removeTempDir } from "../helpers/tools.js";

const execFileAsync = promisify(execFile);

type Shape = Record<string, { columns: Record<string, string>; indexes: string[] }>;

const SQLITE_TYPES: Record<string, string> = { TEXT: "text", DATETIME: "datetime", INTEGER: "int", BOOLEAN: "bool", BLOB: "bytes", JSONB: "json", REAL: "float" };
const PG_TYPES: Record<string, string> = { text: "text", "timestamp without time zone": "datetime", integer: "int", boolean: "bool", bytea: "bytes", jsonb: "json", "double precision": "float" };

/** A partial index's condition in one spelling: SQLite keeps `"status" = 'x'`, PostgreSQL `((status)::text = 'x'::text)`. */
const normalizePredicate = (p: string) => p.replace(/::\w+/g, "").replace(/["()\s]/g, "");

function sqliteShape(file: string): Shape {
  const db = new Database(file, { readonly: true });
  try {
    const shape: Shape = {};
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations'`).all() as { name: string }[];
    for (const { name } of tables) {
      const columns: Record<string, string> = {};
      for (const c of db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string; type: string; notnull: number; pk: number }[]) {
        columns[c.name] = `${SQLITE_TYPES[c.type] ?? c.type}${c.notnull || c.pk ? "" : "?"}`;
      }
      const predicate = (index: string) =>
        ` where ${normalizePredicate(((db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(index) as { sql: string }).sql.split(/ WHERE /i)[1] ?? ""))}`;
      const indexes = (db.prepare(`PRAGMA index_list("${name}")`).all() as { name: string; unique: number; origin: string; partial: number }[])
        .map((i) => `${i.origin === "pk" ? "pk" : i.unique ? "unique" : "index"}(${(db.prepare(`PRAGMA index_info("${i.name}")`).all() as { name: string }[]).map((c) => c.name).join(",")})${i.partial ? predicate(i.name) : ""}`);
      shape[name] = { columns, indexes: indexes.sort() };
    }
    return shape;
  } finally {
    db.close();
  }
}

async function postgresShape(url: string): Promise<Shape> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const shape: Shape = {};
    const cols = await c.query(`SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`);
    for (const r of cols.rows) {
      shape[r.table_name] ??= { columns: {}, indexes: [] };
      shape[r.table_name]!.columns[r.column_name] = `${PG_TYPES[r.data_type] ?? r.data_type}${r.is_nullable === "YES" ? "?" : ""}`;
    }
    const idx = await c.query(`
      SELECT t.relname AS table, ix.indisunique AS unique, ix.indisprimary AS pk, pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
             array_to_string(array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ',') AS columns
      FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace
      WHERE s.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
    for (const r of idx.rows) {
      shape[r.table]!.indexes.push(`${r.pk ? "pk" : r.unique ? "unique" : "index"}(${r.columns})${r.predicate ? ` where ${normalizePredicate(r.predicate)}` : ""}`);
    }
    for (const t of Object.values(shape)) t.indexes.sort();
    return shape;
  } finally {
    await c.end();
  }
}

describe("SQLite and PostgreSQL migrations", () => {
  let dir: string;
  let db: TestDatabase;
  beforeAll(async () => {
    dir = await makeTempDir("migrations");
    db = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await db?.drop();
    await removeTempDir(dir);
  });

  it("produce the same model", async () => {
    const file = join(dir, "anvil.db");
    const appliedSqlite = await migrate(`file:${file}`);
    const appliedPg = await migrate(db.url!);
    expect(appliedSqlite.length).toBeGreaterThan(0);
    expect(appliedPg).toEqual(appliedSqlite);
    const a = sqliteShape(file);
    const b = await postgresShape(db.url!);
    expect(Object.keys(a).sort()).toEqual(["Account", "Authorization", "Certificate", "Challenge", "Order", "OrderAuthz", "RedeemedNonce", "Setting"]);
    expect(b).toEqual(a);
    // the partial indexes of the job scans and the reuse look-up (test/integration/job-indexes.test.ts)
    expect(a.Challenge!.indexes).toContain("index(runAfter) where status='processing'");
    expect(a.Order!.indexes).toContain("index(lockedUntil) where status='processing'");
    expect(a.Authorization!.indexes).toContain("index(accountId,identifierType,identifierValue,expires) where status='valid'");
  });

  it("apply each migration once, also when several instances start together", async () => {
    expect(await migrate(db.url!)).toEqual([]);
    const fresh = await createTestDatabase("postgres");
    try {
      const results = await Promise.all([migrate(fresh.url!), migrate(fresh.url!), migrate(fresh.url!)]);
      const applied = results.flat();
      expect(applied.length).toBe(new Set(applied).size);
      expect(new Set(applied)).toEqual(new Set(results.find((r) => r.length > 0)));
    } finally {
      await fresh.drop();
    }
  });

  it.each([
    ["sqlite", "prisma.config.ts", "prisma/schema.prisma"],
    ["postgres", "prisma.postgres.config.ts", "prisma/postgres/schema.prisma"],
  ])("%s: the last migration's snapshot equals the schema (no change without a migration)", async (provider, config, schema) => {
    await execFileAsync("node", ["scripts/derive-schema.mjs"], { cwd: REPO_ROOT });
    const env = { ...process.env, DATABASE_URL: provider === "postgres" ? PG_ADMIN_URL : `file:${join(dir, "diff.db")}` };
    // --exit-code: 0 = no difference, 2 = the schema has changes that no migration carries
    await execFileAsync("npx", ["prisma", "migrate", "diff", "--config", config, "--from-schema-datamodel", `prisma/migrations/${provider}/schema.snapshot.prisma`, "--to-schema-datamodel", schema, "--exit-code"], { cwd: REPO_ROOT, env });
  }, 60_000);
});
