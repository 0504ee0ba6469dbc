// Hand-written SQL on the hot path, straight to the driver Prisma itself uses (the same better-sqlite3
// connection, the same pg pool). Prisma's engine-less client costs ~0.35 ms of CPU per statement
// (query compiler + client runtime, docs/performance.md); a cached prepared statement costs a few µs.
// Prisma keeps the schema, the migrations and the cold paths.
//
// One SQL text for both databases: `?` placeholders (numbered for PostgreSQL here), double-quoted
// identifiers, and values in the forms Prisma stores, so rows written either way read the same:
// - DateTime: SQLite TEXT "2026-11-28T10:00:00.000+00:00" (the adapter's iso8601 format, compared as
//   text, so the format must match exactly); PostgreSQL TIMESTAMP(3) without time zone, in UTC.
// - Boolean: SQLite 0/1; PostgreSQL boolean. Json: TEXT / JSONB, passed and read as JSON text.
// - Bytes: BLOB / BYTEA, passed as Buffer.
import type BetterSqlite3 from "better-sqlite3";
import type pg from "pg";
import { createMutex, withLock } from "./sqlite-isolation.js";

export type Param = string | number | boolean | Date | Uint8Array | null | undefined;
export type Row = Record<string, unknown>;

export interface SqlRunner {
  /** The rows of a SELECT or of a statement with RETURNING. */
  all<T = Row>(text: string, params?: Param[]): Promise<T[]>;
  /** Runs a statement; returns the number of rows it changed. */
  run(text: string, params?: Param[]): Promise<number>;
}

export interface Sql extends SqlRunner {
  readonly kind: "sqlite" | "postgres";
  /**
   * For writes whose commit need not wait for the disk. On PostgreSQL these run on connections with
   * `synchronous_commit = off` (the row is visible to every instance at once; only a crash of PostgreSQL
   * itself can lose the last fraction of a second of them). Two kinds use it:
   * - the redeemed-nonce set: every request that changes anything commits a durable write after its nonce,
   *   and that commit flushes the log up to it, nonce included; a nonce lost in a crash can only replay a read;
   * - a write of a request that answers only after a durable commit of its own that follows it (a challenge
   *   start whose answer waits for the validation's outcome, a finalize's ready → processing before the
   *   certificate is stored), or after `confirmDurable` (src/sa) when it answers before that. A crash can
   *   lose such a write only while no client has been told of it.
   * SQLite: `sql` itself.
   */
  readonly relaxed: SqlRunner;
  /** Runs `fn` in one transaction (BEGIN IMMEDIATE on SQLite): all of it or none of it. */
  tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  /** SQLite: how many group COMMITs have run (see sqliteSql). */
  readonly commits?: () => number;
}

/** Exactly the text @prisma/adapter-better-sqlite3 stores for a DateTime (timestampFormat iso8601). */
export const sqliteDate = (d: Date): string => d.toISOString().replace("Z", "+00:00");

/** Bytes as both drivers take them, without a copy. */
const toBuffer = (v: Uint8Array): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

function sqliteParam(v: Param): string | number | Buffer | null {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return sqliteDate(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof Uint8Array) return toBuffer(v);
  return v;
}


/**
 * SQLite: statements are prepared once per text and run on Prisma's own connection, under the lock
 * that also serializes Prisma's queries and transactions (sqlite-isolation.ts), so a hand-written
 * statement never lands inside someone else's open transaction.
 *
 * Group commit: the writes of every request served in one turn of the event loop share one transaction.
 * The first write opens it (BEGIN IMMEDIATE, holding the lock), each `tx` runs inside it under a SAVEPOINT
 * of its own (its failure rolls back its own writes only), and a `setImmediate` commits it once. No caller
 * is answered before that COMMIT: every statement of the group, reads included (they may have seen the
 * group's uncommitted rows), resolves after it, and if it fails every one of them fails. A commit is the
 * dearest part of a write (WAL frames, locks, index header): one per turn instead of one per request.
 * A read with no group open runs at once, as before.
 */
export function sqliteSql(db: BetterSqlite3.Database, acquire: ReturnType<typeof createMutex>, onCommit?: () => void): Sql {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (text: string) => {
    let stmt = cache.get(text);
    if (!stmt) {
      stmt = db.prepare(text);
      if (stmt.reader) stmt.safeIntegers(false); // the connection defaults to BigInt (Prisma's setting)
      cache.set(text, stmt);
    }
    return stmt;
  };
  const direct: SqlRunner = {
    all: async <T>(text: string, params: Param[] = []) => {
      const stmt = prepare(text);
      if (!stmt.reader) throw new Error("all() needs a statement that returns rows");
      return stmt.all(...params.map(sqliteParam)) as T[];
    },
    run: async (text: string, params: Param[] = []) => prepare(text).run(...params.map(sqliteParam)).changes,
  };

  interface Group {
    done: Promise<void>;
    settle: (err?: unknown) => void;
    /** set when a member's writes could not be rolled back to its savepoint: the whole group must not commit */
    poisoned?: unknown;
  }
  let group: Group | undefined;
  let commits = 0;
  let opening: Promise<Group> | undefined;
  const member = createMutex(); // one member of the group at a time (a tx body may await between statements)
  const brokenGroup = () => new Error("SQLite rolled back the group's transaction");

  const open = async (): Promise<Group> => {
    const release = await acquire();
    try {
      prepare("BEGIN IMMEDIATE").run();
    } catch (err) {
      release();
      throw err;
    }
    let settle!: Group["settle"];
    const done = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
    done.catch(() => {}); // observed by the members
    const g: Group = { done, settle };
    group = g;
    setImmediate(() => void commit(g, release));
    return g;
  };
  const join = (): Promise<Group> => {
    if (group) return Promise.resolve(group);
    opening ??= open().finally(() => (opening = undefined));
    return opening;
  };
  const commit = async (g: Group, release: () => void): Promise<void> => {
    group = undefined; // later arrivals open the next group, which waits for `release`
    const unlock = await member(); // members that joined before now finish first (the mutex is FIFO)
    try {
      if (!db.inTransaction) throw brokenGroup();
      if (g.poisoned !== undefined) throw g.poisoned;
      prepare("COMMIT").run();
      commits++;
      onCommit?.();
      g.settle();
    } catch (err) {
      try {
        if (db.inTransaction) prepare("ROLLBACK").run();
      } catch {
        // the connection is broken: the members fail with the first error
      }
      g.settle(err ?? brokenGroup());
    } finally {
      unlock();
      release();
    }
  };
  /** Runs `fn` as a member of the current group; answers after the group's COMMIT. */
  const inGroup = async <T>(fn: () => Promise<T>, savepoint: boolean): Promise<T> => {
    const g = await join();
    const unlock = await member();
    let outcome: { ok: true; value: T } | { ok: false; err: unknown };
    try {
      if (!db.inTransaction) throw brokenGroup();
      if (savepoint) prepare("SAVEPOINT anvil_member").run();
      try {
        outcome = { ok: true, value: await fn() };
        if (savepoint) prepare("RELEASE anvil_member").run();
      } catch (err) {
        outcome = { ok: false, err };
        if (savepoint && db.inTransaction) {
          try {
            prepare("ROLLBACK TO anvil_member").run();
            prepare("RELEASE anvil_member").run();
          } catch (rollbackErr) {
            g.poisoned = rollbackErr; // its writes cannot be taken out: nothing of the group may commit
          }
        }
      }
    } finally {
      unlock();
    }
    if (!outcome.ok) {
      await g.done.catch(() => {}); // what it read may have been the group's
      throw outcome.err;
    }
    await g.done;
    return outcome.value;
  };
  const statement = async <T>(text: string, fn: () => Promise<T>): Promise<T> => {
    // a read with no group open runs at once; a write, or anything while a group is open, joins it
    if (!group && !opening && prepare(text).readonly) return withLock(acquire, fn);
    return inGroup(fn, false);
  };
  const outside: SqlRunner = {
    all: (text, params) => statement(text, () => direct.all(text, params)),
    run: (text, params) => statement(text, () => direct.run(text, params)),
  };
  return {
    kind: "sqlite",
    ...outside,
    relaxed: outside,
    tx: (fn) => inGroup(() => fn(direct), true),
    commits: () => commits,
  };
}

const PG_TIMESTAMP = 1114; // timestamp without time zone: Prisma's DateTime, holding UTC
const PG_TIMESTAMPTZ = 1184;
const PG_JSON = 114;
const PG_JSONB = 3802;
const PG_INT8 = 20;

function pgParam(v: Param): string | number | boolean | Buffer | null {
  if (v === undefined || v === null) return null;
  // PostgreSQL ignores a zone written into a `timestamp` literal: the UTC wall-clock time is stored
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return toBuffer(v);
  return v;
}

/**
 * PostgreSQL: the pool Prisma's adapter also uses. Each SQL text becomes a named prepared statement
 * (parsed and planned once per connection). Type parsers are set per query, not globally, so neither
 * Prisma's nor anybody else's parsing changes: timestamps read as UTC, JSON stays text, bigint → number.
 */
export function pgSql(pool: pg.Pool, builtin: typeof pg.types, relaxedPool: pg.Pool = pool): Sql {
  const names = new Map<string, { name: string; text: string }>();
  const statement = (text: string) => {
    let s = names.get(text);
    if (!s) {
      let n = 0;
      s = { name: `anvil_${names.size + 1}`, text: text.replace(/\?/g, () => `$${++n}`) };
      names.set(text, s);
    }
    return s;
  };
  const types = {
    getTypeParser: (oid: number, format?: string): ((v: string) => unknown) => {
      if (oid === PG_TIMESTAMP) return (v) => new Date(`${v.replace(" ", "T")}Z`);
      if (oid === PG_TIMESTAMPTZ) return (v) => new Date(v);
      if (oid === PG_JSON || oid === PG_JSONB) return (v) => v;
      if (oid === PG_INT8) return (v) => Number(v);
      return builtin.getTypeParser(oid, format as "text");
    },
  };
  const runner = (client: pg.Pool | pg.PoolClient): SqlRunner => ({
    all: async <T>(text: string, params: Param[] = []) => {
      const s = statement(text);
      const r = await client.query({ name: s.name, text: s.text, values: params.map(pgParam), types } as pg.QueryConfig);
      return r.rows as T[];
    },
    run: async (text: string, params: Param[] = []) => {
      const s = statement(text);
      const r = await client.query({ name: s.name, text: s.text, values: params.map(pgParam), types } as pg.QueryConfig);
      return r.rowCount ?? 0;
    },
  });
  const onPool = runner(pool);
  return {
    kind: "postgres",
    all: onPool.all,
    run: onPool.run,
    relaxed: runner(relaxedPool),
    async tx(fn) {
      const client = await pool.connect();
      let broken: unknown;
      try {
        await client.query("BEGIN");
        const result = await fn(runner(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        broken = await client.query("ROLLBACK").then(() => undefined, (e: unknown) => e);
        throw err;
      } finally {
        client.release(broken instanceof Error ? broken : undefined); // a connection that failed ROLLBACK is discarded
      }
    },
  };
}
