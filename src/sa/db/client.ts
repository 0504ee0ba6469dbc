// One typed entry to both databases. The app is typed against the SQLite client; the PostgreSQL
// client is generated from the same model (scripts/derive-schema.mjs) and cast to it.
import type { PrismaClient as SqliteClient } from "../generated/sqlite/client.js";

export type Db = SqliteClient;
export type DbKind = "sqlite" | "postgres";

export const dbKind = (url: string): DbKind => (/^postgres(ql)?:\/\//i.test(url) ? "postgres" : "sqlite");

/** "file:./x.db", "./x.db" or "/abs/x.db" → the SQLite file path */
export function sqliteFile(url: string): string {
  return url.replace(/^file:/, "");
}

// Dynamic imports: only the selected client, its WASM query compiler and its driver are loaded.
export async function createDb(url: string): Promise<Db> {
  if (dbKind(url) === "postgres") {
    const { PrismaClient } = await import("../generated/postgres/client.js");
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const adapter = new PrismaPg({ connectionString: url, max: 10, connectionTimeoutMillis: 5000 });
    return new PrismaClient({ adapter }) as unknown as Db;
  }
  const { PrismaClient } = await import("../generated/sqlite/client.js");
  const { PrismaBetterSQLite3 } = await import("@prisma/adapter-better-sqlite3");
  const { isolateTransactions } = await import("./sqlite-isolation.js");
  const db = new PrismaClient({
    adapter: isolateTransactions(new PrismaBetterSQLite3({ url: `file:${sqliteFile(url)}` })),
  });
  // The adapter has exactly one connection, so per-connection pragmas hold for the process.
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$executeRawUnsafe("PRAGMA busy_timeout = 5000");
  await db.$executeRawUnsafe("PRAGMA foreign_keys = ON");
  return db;
}
