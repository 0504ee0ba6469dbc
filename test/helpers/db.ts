// The database a test runs against. By default each test gets a fresh SQLite file in its data folder.
// With ANVIL_TEST_DB=postgres (the "postgres" vitest project, run by `npm test`), each test gets a fresh
// database on the PostgreSQL server at ANVIL_TEST_PG_URL (default the local server), dropped afterwards.
import { randomBytes } from "node:crypto";
import pg from "pg";

export const PG_ADMIN_URL = process.env.ANVIL_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export const usePostgres = () => process.env.ANVIL_TEST_DB === "postgres";

export interface TestDatabase {
  /** DATABASE_URL for Anvil; undefined means "the default SQLite file in the data folder" */
  url?: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createTestDatabase(kind: "sqlite" | "postgres" = usePostgres() ? "postgres" : "sqlite"): Promise<TestDatabase> {
  if (kind === "sqlite") return { url: undefined, drop: async () => undefined };
  const name = `anvil_test_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
