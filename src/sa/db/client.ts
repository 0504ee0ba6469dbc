// One typed entry to both databases. The app is typed against the SQLite client; the PostgreSQL
// client is generated from the same model (scripts/derive-schema.mjs) and cast to it. Next to Prisma,
// `sql` runs hand-written statements on the same connection (SQLite) or pool (PostgreSQL): sql.ts.
import type BetterSqlite3 from "better-sqlite3";
import type { PrismaClient as SqliteClient } from "../generated/sqlite/client.js";
import { startCheckpointer } from "./checkpointer.js";
import { listenForChanges, type ChangeFeed } from "./notify.js";
import { pgSql, sqliteSql, type Sql } from "./sql.js";

export type Db = SqliteClient;
export type DbKind = "sqlite" | "postgres";

export interface Database {
  prisma: Db;
  sql: Sql;
  kind: DbKind;
  /** PostgreSQL: account changes announced by any instance (notify.ts) */
  changes?: ChangeFeed;
  close(): Promise<void>;
}

export const dbKind = (url: string): DbKind => (/^postgres(ql)?:\/\//i.test(url) ? "postgres" : "sqlite");

/** "file:./x.db", "./x.db" or "/abs/x.db" → the SQLite file path */
export function sqliteFile(url: string): string {
  return url.replace(/^file:/, "");
}

/**
 * pg's `options` startup parameter with more settings. A URL's own `?options=` would replace a separate
 * `options` field (node-postgres lets the URL win), so it is taken out of the URL and all are sent together,
 * in order: `defaults` (the URL's own may change them), the URL's own, then `option` (it holds whatever the URL
 * says). PostgreSQL applies them in turn, so a later setting of a name wins.
 */
export function withStartupOption(url: string, option: string, defaults?: string): { connectionString: string; options: string } {
  const q = url.indexOf("?");
  const params = q < 0 ? [] : url.slice(q + 1).split("&");
  const own = params.filter((p) => p.startsWith("options=")).map((p) => decodeURIComponent(p.slice("options=".length).replace(/\+/g, " ")));
  const rest = params.filter((p) => !p.startsWith("options="));
  const base = q < 0 ? url : url.slice(0, q);
  const options = [defaults, ...own, option].filter((o) => o !== undefined && o !== "").join(" ");
  return { connectionString: base + (rest.length ? `?${rest.join("&")}` : ""), options };
}

/**
 * Every statement of `sql.ts` is a named prepared statement, and PostgreSQL's default (`plan_cache_mode = auto`)
 * plans the joined reads afresh at every run whenever their generic plan looks no cheaper than the custom ones:
 * ~17% of PostgreSQL's CPU went to planning at concurrency 32 (docs/performance.md, session 9). Their generic
 * plans are the right ones (look-ups by key through indexes; the job scans' partial indexes are named by a literal
 * status, test/integration/job-indexes.test.ts), and they are made again whenever ANALYZE changes a table's
 * statistics. Prisma's unnamed statements are planned once each as before. A DATABASE_URL's own
 * `options=-c plan_cache_mode=…` wins.
 */
const GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan";

/** SQLite: the WAL size (pages) at which a commit of the request thread checkpoints, if the checkpointer has not. */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

// Dynamic imports: only the selected client, its WASM query compiler and its driver are loaded.
export async function createDb(url: string, opts: { warn?: (obj: object, msg: string) => void } = {}): Promise<Database> {
  if (dbKind(url) === "postgres") {
    const { PrismaClient } = await import("../generated/postgres/client.js");
    const { PrismaPg } = await import("@prisma/adapter-pg");
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ ...withStartupOption(url, "", GENERIC_PLANS), max: 10, connectionTimeoutMillis: 5000 });
    // the redeemed-nonce set's writes need not wait for the disk (sql.ts, `relaxed`): a few connections of their own,
    // set up at connection start (a startup parameter, so no query runs before the first one of the pool's user)
    const relaxed = new pg.Pool({ ...withStartupOption(url, "-c synchronous_commit=off", GENERIC_PLANS), max: 4, connectionTimeoutMillis: 5000 });
    // an idle connection that breaks (server restart, network cut) is dropped from the pool; the next
    // query reports the outage to its caller (503). Without a listener the error would end the process.
    for (const p of [pool, relaxed]) p.on("error", () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) }) as unknown as Db;
    const changes = listenForChanges(() => new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 }));
    return {
      prisma,
      sql: pgSql(pool, pg.types, relaxed),
      kind: "postgres",
      changes,
      close: async () => {
        await changes.close();
        await prisma.$disconnect();
        await pool.end().catch(() => {});
        await relaxed.end().catch(() => {});
      },
    };
  }
  const { PrismaClient } = await import("../generated/sqlite/client.js");
  const { PrismaBetterSQLite3 } = await import("@prisma/adapter-better-sqlite3");
  const { isolateTransactions, createMutex } = await import("./sqlite-isolation.js");
  const acquire = createMutex();
  let connection: BetterSqlite3.Database | undefined;
  const prisma = new PrismaClient({
    adapter: isolateTransactions(new PrismaBetterSQLite3({ url: `file:${sqliteFile(url)}` }), acquire, (c) => {
      connection = c as BetterSqlite3.Database;
    }),
  });
  // The adapter has exactly one connection, so per-connection pragmas hold for the process.
  await prisma.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await prisma.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  await prisma.$executeRawUnsafe("PRAGMA busy_timeout = 5000");
  await prisma.$executeRawUnsafe("PRAGMA foreign_keys = ON");
  await prisma.$executeRawUnsafe("PRAGMA cache_size = -8192"); // 8 MiB of pages (default 2 MiB; 32 MiB cost RSS for ~3% of CPU)
  // Checkpoints run off the request thread (checkpointer.ts). The request thread's own automatic checkpoint is
  // the backstop that bounds the WAL: at 10,000 pages (~40 MB) instead of SQLite's 1,000 it comes round every few
  // seconds under load, not three times a second, and finds little left to copy. (Without the checkpointer, 10,000
  // pages copied at once stalled the request thread for 75–134 ms: docs/performance.md, sessions 1 and 5.)
  await prisma.$executeRawUnsafe(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  if (!connection) throw new Error("the SQLite adapter did not expose its connection");
  let failing = false;
  const checkpointer = startCheckpointer(sqliteFile(url), {
    onResult: (err) => {
      // said once per run of failures; the backstop keeps the WAL bounded meanwhile
      if (err && !failing) opts.warn?.({ err }, "SQLite background checkpoint failed; the request thread's own checkpoints go on");
      failing = err !== undefined;
    },
  });
  return {
    prisma,
    sql: sqliteSql(connection, acquire, () => checkpointer.committed()),
    kind: "sqlite",
    close: async () => {
      await checkpointer.close();
      await prisma.$disconnect();
    },
  };
}
