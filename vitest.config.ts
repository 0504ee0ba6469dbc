import pg from "pg";
import { defineConfig } from "vitest/config";

const PG_URL = process.env.ANVIL_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const withPostgres = await postgresReachable();
if (!withPostgres) {
  if (process.env.CI) throw new Error(`CI: PostgreSQL is not reachable at ${PG_URL}; the postgres test project must run`);
  console.warn(`\n*** PostgreSQL is not reachable at ${PG_URL} (set ANVIL_TEST_PG_URL): the "postgres" test project is SKIPPED ***\n`);
}

// Two projects: everything on the embedded default (SQLite), and every test that stores anything again on
// PostgreSQL (ANVIL_TEST_DB=postgres: each test file gets its own database, created and dropped; see
// test/helpers/db.ts). Unit tests and the validation authority's tests touch no database and run once.
export default defineConfig({
  test: {
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: a few files at a time; e2e files spawn real servers and clients
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    projects: [
      // several instances need a shared database: multi-instance runs in the postgres project only (and so do the
      // PostgreSQL-only pg-changes and pg-statements)
      { extends: true, test: { name: "sqlite", include: ["test/**/*.test.ts"], exclude: ["test/integration/multi-instance.test.ts", "test/integration/pg-changes.test.ts", "test/integration/pg-statements.test.ts"] } },
      ...(withPostgres ? [{
        extends: true as const,
        test: {
          name: "postgres",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          exclude: ["test/integration/va-*.test.ts", "test/integration/testdns-*.test.ts", "test/integration/cli.test.ts", "test/e2e/harness.test.ts", "test/e2e/docker.test.ts", "test/integration/db-outage.test.ts", "test/integration/migrations.test.ts", "test/integration/sqlite-group-commit.test.ts", "test/integration/sqlite-checkpoint.test.ts"],
          env: { ANVIL_TEST_DB: "postgres" },
        },
      }] : []),
    ],
  },
});
