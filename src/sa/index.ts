// The storage authority: the only code that touches the database. State changes are guarded in
// storage (`update … where status = …`, then the row count), so two requests or instances cannot move
// an object twice. The statements of the issuance path are hand-written SQL (db/sql.ts, raw.ts), run
// as cached prepared statements; Prisma serves the rest (accounts' writes, listings, settings).
import type {
  Account,
  Authorization,
  Certificate,
  Challenge,
  ChallengeType,
  Identifier,
  Order,
  ProblemData,
  ValidationRecord,
} from "../core/types.js";
import type { NonceClaim } from "../core/nonce-claim.js";
import { badNonce } from "../errors/index.js";
import type { Database } from "./db/client.js";
import { ACCOUNT_CHANNEL } from "./db/notify.js";
import type { Param, SqlRunner } from "./db/sql.js";
import {
  accountById,
  authzsWithChallenges,
  authzWithChallenges,
  certificateBy,
  challengeWithAuthz,
  date,
  orderWithAuthzs,
  validAuthzs,
  validAuthzsWhere,
} from "./raw.js";
import { json, toAccount } from "./mappers.js";

export { createDb, dbKind, type Database, type Db } from "./db/client.js";
export { migrate } from "./db/migrate.js";

export interface NewAuthz {
  id: string;
  identifier: Identifier;
  wildcard: boolean;
  expires: Date;
  challenges: { id: string; type: ChallengeType; token: string }[];
}

export interface NewOrder {
  id: string;
  accountId: string;
  expires: Date;
  identifiers: Identifier[];
  notBefore?: Date;
  notAfter?: Date;
  /** authorizations in identifier order: existing ones (reused) by id, new ones in full */
  authzs: ({ reuse: string } | NewAuthz)[];
}

/**
 * The INSERTs that write an order (new authorizations, their challenges, the order, its links), in an order
 * that satisfies the foreign keys. `typed`: PostgreSQL casts on the values that are not text, for when the
 * rows are SELECTed from a VALUES list (whose parameters would otherwise be text) instead of inserted directly.
 */
function orderInserts(o: NewOrder, now: Date, typed = false): [string, Param[]][] {
  const cast = (type: string) => (typed ? `?::${type}` : "?");
  const [ts, bool, jsonb, int] = [cast("timestamp(3)"), cast("boolean"), cast("jsonb"), cast("integer")];
  const fresh = o.authzs.filter((a): a is NewAuthz => !("reuse" in a));
  const challenges = fresh.flatMap((a) => a.challenges.map((c) => [c.id, a.id, c.type, c.token]));
  const parts: [string, Param[]][] = [];
  if (fresh.length) {
    parts.push([
      `INSERT INTO "Authorization" ("id", "accountId", "identifierType", "identifierValue", "wildcard", "status", "expires", "createdAt")
        VALUES ${fresh.map(() => `(?, ?, ?, ?, ${bool}, 'pending', ${ts}, ${ts})`).join(", ")}`,
      fresh.flatMap((a) => [a.id, o.accountId, a.identifier.type, a.identifier.value, a.wildcard, a.expires, now]),
    ]);
  }
  if (challenges.length) {
    parts.push([
      `INSERT INTO "Challenge" ("id", "authzId", "type", "token", "status", "attempts") VALUES ${challenges.map(() => "(?, ?, ?, ?, 'pending', 0)").join(", ")}`,
      challenges.flat(),
    ]);
  }
  parts.push([
    `INSERT INTO "Order" ("id", "accountId", "status", "expires", "identifiers", "notBefore", "notAfter", "createdAt") VALUES (?, ?, 'pending', ${ts}, ${jsonb}, ${ts}, ${ts}, ${ts})`,
    [o.id, o.accountId, o.expires, JSON.stringify(o.identifiers), o.notBefore, o.notAfter, now],
  ]);
  parts.push([
    `INSERT INTO "OrderAuthz" ("orderId", "authzId", "position") VALUES ${o.authzs.map(() => `(?, ?, ${int})`).join(", ")}`,
    o.authzs.flatMap((a, position) => [o.id, "reuse" in a ? a.reuse : a.id, position]),
  ]);
  return parts;
}

export class ConflictError extends Error {
  constructor(readonly existingId?: string) {
    super("conflict");
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "P2002";
}

/** PostgreSQL's unique violation on the redeemed-nonce set: the nonce was used before. */
function isNonceReplay(err: unknown): boolean {
  const e = err as { code?: string; table?: string; constraint?: string } | undefined;
  return e?.code === "23505" && (e.table === "RedeemedNonce" || e.constraint === "RedeemedNonce_pkey");
}

// A request's nonce claim (core/nonce-claim.ts) rides on its first read: on PostgreSQL the read becomes
// `WITH "anvil_nonce" AS (INSERT INTO "RedeemedNonce" …) SELECT …`, one statement and one round trip
// instead of two. The INSERT has no ON CONFLICT: a nonce used before fails the whole statement (23505),
// so the read answers nothing and the request is refused with badNonce. A claim nothing can carry (SQLite,
// or a later statement) is settled on its own before the statement runs.
const NONCE_CTE = `"anvil_nonce" AS (INSERT INTO "RedeemedNonce" ("nonce", "expires") VALUES (?, ?))`;

const text = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

export interface StorageOptions {
  /**
   * This process is the only writer of the database (SQLite: one process per file, by design). Then
   * accounts, read on every signed request, can be cached here with write-through invalidation, since
   * every change to them passes through this object. Never set it for a shared PostgreSQL database.
   */
  exclusive?: boolean;
}

const ACCOUNT_CACHE_SIZE = 10_000;

export function createStorage(database: Database, clock: () => Date = () => new Date(), opts: StorageOptions = {}) {
  const { prisma: db, sql, changes } = database;
  // PostgreSQL: a multi-statement change is one statement with data-modifying CTEs (atomic on its own),
  // one round trip instead of BEGIN … COMMIT; SQLite has no such CTEs and no round trips to save.
  const pg = sql.kind === "postgres";
  // Accounts are read on every signed request. They are cached when this process sees every change:
  // as the only writer (SQLite), or while PostgreSQL's change feed is live (several instances).
  const accounts = new Map<string, Account>();
  const cacheOn = () => opts.exclusive === true || (changes?.live() ?? false);
  changes?.onChange((id) => (id === undefined ? accounts.clear() : accounts.delete(id)));
  // Nonce redemptions: one INSERT … RETURNING for as many as are waiting. While fewer than two are on
  // their way to the database a redemption is sent at once (no added latency when idle); under load the
  // ones that arrive meanwhile wait for a slot and go together (fewer round trips, same answer each).
  type Redemption = { nonce: string; expires: Date; done: (inserted: boolean) => void; fail: (err: unknown) => void };
  const waiting: Redemption[] = [];
  const NONCE_BATCH = 64;
  const MAX_IN_FLIGHT = 2;
  let inFlight = 0;
  async function flushNonces(items: Redemption[]): Promise<void> {
    const unique = [...new Map(items.map((i) => [i.nonce, i.expires])).entries()];
    try {
      const rows = await sql.relaxed.all<{ nonce: string }>(
        `INSERT INTO "RedeemedNonce" ("nonce", "expires") VALUES ${unique.map(() => "(?, ?)").join(", ")} ON CONFLICT DO NOTHING RETURNING "nonce"`,
        unique.flat(),
      );
      const fresh = new Set(rows.map((r) => r.nonce));
      for (const i of items) {
        i.done(fresh.delete(i.nonce)); // a nonce twice in one batch: only the first request gets it
      }
    } catch (err) {
      for (const i of items) i.fail(err);
    }
  }
  function pump(): void {
    while (inFlight < MAX_IN_FLIGHT && waiting.length > 0) {
      inFlight++;
      void flushNonces(waiting.splice(0, NONCE_BATCH)).finally(() => {
        inFlight--;
        pump();
      });
    }
  }
  const redeemNonce = (nonce: string, expires: Date): Promise<boolean> =>
    new Promise<boolean>((done, fail) => {
      waiting.push({ nonce, expires, done, fail });
      pump();
    });

  /**
   * `sql`, with `claim` carried by the first statement that takes it (PostgreSQL) or settled before any
   * statement. `kind` picks the pool (PostgreSQL; sql.ts): a "read" carrying the nonce runs on the relaxed
   * pool (the nonce's commit need not wait) and otherwise on the main one; a "durable" write (one that
   * changes more than the nonce) on the main pool; a "relaxed" write, whose commit need not wait for the
   * disk because a durable commit of the same request follows it before anything is answered (or the
   * caller calls `confirmDurable`), on the relaxed pool.
   */
  function carrying(claim: NonceClaim | undefined, kind: "read" | "durable" | "relaxed" = "read"): SqlRunner {
    const plain = kind === "relaxed" ? sql.relaxed : sql;
    if (!claim || claim.redeemed) return plain;
    return {
      async all<T>(text: string, params: Param[] = []): Promise<T[]> {
        if (pg && claim.take()) {
          const carried = text.startsWith("WITH ") ? `WITH ${NONCE_CTE}, ${text.slice(5)}` : `WITH ${NONCE_CTE} ${text}`;
          let rows: T[];
          try {
            rows = await (kind === "durable" ? sql : sql.relaxed).all<T>(carried, [claim.nonce, claim.expires, ...params]);
          } catch (err) {
            const replayed = isNonceReplay(err);
            claim.carried(replayed ? false : undefined); // otherwise the statement undid the insert too
            throw replayed ? badNonce() : err;
          }
          claim.carried(true);
          return rows;
        }
        await claim.settle();
        return plain.all<T>(text, params);
      },
      async run(text: string, params?: Param[]): Promise<number> {
        await claim.settle();
        return plain.run(text, params);
      },
    };
  }

  const announce = async (id: string) => {
    if (!changes) return;
    const echoed = changes.echo(id, 1000);
    await sql.all(`SELECT pg_notify(?, ?)`, [ACCOUNT_CHANNEL, id]);
    await echoed;
  };
  return {
    async ping(): Promise<void> {
      await sql.all("SELECT 1 AS one");
    },

    // ---- accounts
    async createAccount(a: Account): Promise<Account> {
      try {
        const row = await db.account.create({
          data: { ...a, jwk: JSON.stringify(a.jwk), contact: json(a.contact) },
        });
        return toAccount(row);
      } catch (err) {
        if (isUniqueViolation(err)) {
          const existing = await db.account.findUnique({ where: { keyId: a.keyId }, select: { id: true } });
          throw new ConflictError(existing?.id);
        }
        throw err;
      }
    },
    async getAccount(id: string): Promise<Account | undefined> {
      if (cacheOn()) {
        const cached = accounts.get(id);
        if (cached) return cached;
      }
      const epoch = changes?.epoch();
      const a = await accountById(sql, id);
      // not if a change was announced while reading: the row read may predate it
      if (a && cacheOn() && changes?.epoch() === epoch) {
        if (accounts.size >= ACCOUNT_CACHE_SIZE) accounts.delete(accounts.keys().next().value!);
        accounts.set(a.id, a);
      }
      return a;
    },
    async getAccountByKeyId(keyId: string): Promise<Account | undefined> {
      const row = await db.account.findUnique({ where: { keyId } });
      return row ? toAccount(row) : undefined;
    },
    /** Updates a valid account; false if it is no longer valid. */
    async updateAccount(id: string, change: { contact?: string[]; status?: Account["status"] }): Promise<boolean> {
      accounts.delete(id);
      const { count } = await db.account.updateMany({
        where: { id, status: "valid" },
        data: { ...(change.contact ? { contact: json(change.contact) } : {}), ...(change.status ? { status: change.status } : {}) },
      });
      accounts.delete(id); // again: a read during the write may have cached the old row
      if (count === 1) await announce(id);
      return count === 1;
    },
    /** Key rollover: guarded on the old key; a key used by another account throws ConflictError. */
    async changeAccountKey(id: string, oldKeyId: string, newKeyId: string, newJwk: object): Promise<boolean> {
      accounts.delete(id);
      try {
        const { count } = await db.account.updateMany({
          where: { id, keyId: oldKeyId, status: "valid" },
          data: { keyId: newKeyId, jwk: JSON.stringify(newJwk) },
        });
        accounts.delete(id);
        if (count === 1) await announce(id);
        return count === 1;
      } catch (err) {
        if (isUniqueViolation(err)) {
          const other = await db.account.findUnique({ where: { keyId: newKeyId }, select: { id: true } });
          throw new ConflictError(other?.id);
        }
        throw err;
      }
    },

    // ---- orders and authorizations
    async createOrder(o: NewOrder): Promise<void> {
      const parts = orderInserts(o, clock());
      if (pg) {
        // foreign keys are checked at the end of the statement, when every row is there
        const last = parts.pop()!;
        await sql.run(`WITH ${parts.map(([t], i) => `w${i} AS (${t})`).join(", ")} ${last[0]}`, [...parts.flatMap(([, p]) => p), ...last[1]]);
        return;
      }
      await sql.tx(async (q) => {
        for (const [t, p] of parts) await q.run(t, p);
      });
    },
    /**
     * Creates an order whose authorizations are all new, unless the account has a valid authorization for one
     * of its identifiers that lasts past `reuseAfter` (one the caller would rather reuse): true when written,
     * false when nothing was (the caller then looks those up and creates the order with them). PostgreSQL: one
     * statement, which also records the request's nonce (saving newOrder the round trip of the look-up when
     * there is nothing to reuse); SQLite: one transaction.
     */
    async createOrderUnlessReusable(o: Omit<NewOrder, "authzs"> & { authzs: NewAuthz[] }, reuseAfter: Date, nonce?: NonceClaim): Promise<boolean> {
      const [where, whereParams] = validAuthzsWhere(o.accountId, o.authzs.map((a) => a.identifier), reuseAfter);
      const reusable: [string, Param[]] = [`SELECT 1 FROM "Authorization" a WHERE ${where} LIMIT 1`, whereParams];
      const parts = orderInserts(o, clock(), pg);
      if (!pg) {
        await nonce?.settle();
        return sql.tx(async (q) => {
          if ((await q.all(...reusable)).length > 0) return false;
          for (const [t, p] of parts) await q.run(t, p);
          return true;
        });
      }
      // every insert selects its rows WHERE NOT EXISTS a reusable authorization: all of them, or none
      const unless = (t: string) => t.replace(/ VALUES (.*)$/s, ` SELECT * FROM (VALUES $1) AS v WHERE NOT EXISTS (SELECT 1 FROM "reusable")`);
      const last = parts.pop()!;
      const ctes = [`"reusable" AS (${reusable[0]})`, ...parts.map(([t], i) => `w${i} AS (${unless(t)})`)];
      const rows = await carrying(nonce, "durable").all(`WITH ${ctes.join(", ")} ${unless(last[0])} RETURNING "position"`, [
        ...reusable[1],
        ...parts.flatMap(([, p]) => p),
        ...last[1],
      ]);
      return rows.length > 0;
    },
    /** When the account's `n`-th newest order was created, if it has that many (for rate limits). */
    async nthNewestOrderTime(accountId: string, n: number, nonce?: NonceClaim): Promise<Date | undefined> {
      const [row] = await carrying(nonce).all<{ createdAt: unknown }>(
        `SELECT "createdAt" FROM "Order" WHERE "accountId" = ? ORDER BY "createdAt" DESC LIMIT 1 OFFSET ?`,
        [accountId, n - 1],
      );
      return row ? date(row.createdAt)! : undefined;
    },
    /** The order with its authorizations and their challenges, in one query (every order read). */
    getOrderWithAuthzs: (id: string, nonce?: NonceClaim) => orderWithAuthzs(carrying(nonce), id),
    async getOrder(id: string): Promise<Order | undefined> {
      return (await orderWithAuthzs(sql, id))?.order;
    },
    /** The account's orders, newest first, as ids; `after` is the last id of the previous page. */
    async listOrderIds(accountId: string, limit: number, after?: { createdAt: Date; id: string }): Promise<{ id: string; createdAt: Date }[]> {
      return db.order.findMany({
        where: {
          accountId,
          ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
        },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: limit,
        select: { id: true, createdAt: true },
      });
    },
    async getOrderCursor(accountId: string, id: string) {
      return db.order.findFirst({ where: { id, accountId }, select: { id: true, createdAt: true } });
    },
    getAuthzs: (ids: string[]): Promise<Authorization[]> => authzsWithChallenges(sql, ids),
    getAuthz: (id: string, nonce?: NonceClaim): Promise<Authorization | undefined> => authzWithChallenges(carrying(nonce), id),
    /** Valid, unexpired authorizations of an account for these identifiers (for reuse and revocation). */
    findValidAuthzs: (accountId: string, identifiers: Identifier[], now: Date, nonce?: NonceClaim): Promise<Authorization[]> =>
      validAuthzs(carrying(nonce), accountId, identifiers, now),
    async deactivateAuthz(id: string): Promise<boolean> {
      const { count } = await db.authorization.updateMany({
        where: { id, status: { in: ["pending", "valid"] } },
        data: { status: "deactivated" },
      });
      return count === 1;
    },
    getChallenge: (id: string, nonce?: NonceClaim) => challengeWithAuthz(carrying(nonce), id),

    /**
     * Makes a relaxed write to this row (startChallengeFor, beginFinalize with `relaxed`) durable before it is
     * answered: a write of the same row on the main pool, whose commit waits for the disk and so flushes
     * PostgreSQL's log up to it, the relaxed commit included (the log is one sequence). It changes nothing
     * (the row is written as it is). SQLite: nothing to do (one connection; every commit goes the same way).
     */
    async confirmDurable(table: "Challenge" | "Order", id: string): Promise<void> {
      if (!pg) return;
      await sql.run(`UPDATE "${table}" SET "status" = "status" WHERE "id" = ?`, [id]);
    },

    // ---- validation jobs: a challenge in "processing" is a durable job
    /**
     * A challenge answered: pending → processing, only if it is `accountId`'s and its authorization is
     * pending and unexpired. With `claimUntil` the job starts claimed by the caller (as
     * claimDueChallengeJobs would, the attempt counted), so it validates at once without a claim;
     * otherwise it waits, unclaimed, for a validator's scan. Returns the challenge as started and its
     * authorization, or undefined if nothing started (the caller then reads and answers what is there).
     * On PostgreSQL one statement, which also carries the request's nonce: the guarded UPDATE in a CTE,
     * the authorization and its challenges read beside it. `relaxed`: the caller answers only after a
     * durable commit that follows this one (the outcome's, finishChallenge) or after `confirmDurable`, so
     * this commit need not wait for the disk (PostgreSQL; see `carrying`).
     */
    async startChallengeFor(
      challengeId: string,
      accountId: string,
      now: Date,
      claimUntil: Date | undefined,
      nonce?: NonceClaim,
      opts: { relaxed?: boolean } = {},
    ): Promise<{ challenge: Challenge; authz: Authorization } | undefined> {
      // The authorization is found by its primary key, through the challenge's, in scalar subqueries that run
      // first: a correlated EXISTS let PostgreSQL's generic plan (sql.ts), made from small tables' statistics,
      // filter a scan of the whole "Authorization" table instead, and keep doing so as the table grew.
      const update = `UPDATE "Challenge" SET "status" = 'processing', "runAfter" = ?, "lockedUntil" = ?, "attempts" = "attempts" + ?
          WHERE "id" = ? AND "status" = 'pending' AND "authzId" = (SELECT a."id" FROM "Authorization" a
          WHERE a."id" = (SELECT c2."authzId" FROM "Challenge" c2 WHERE c2."id" = ?)
          AND a."accountId" = ? AND a."status" = 'pending' AND a."expires" > ?) RETURNING "authzId"`;
      const params: Param[] = [now, claimUntil ?? null, claimUntil ? 1 : 0, challengeId, challengeId, accountId, now];
      if (!pg) {
        await nonce?.settle();
        if ((await sql.all(update, params)).length === 0) return undefined;
        return challengeWithAuthz(sql, challengeId); // as started (or later, if the validator was quicker)
      }
      // the CTE's read sees the rows as they were before the UPDATE: the started challenge is patched below
      const found = await challengeWithAuthz(carrying(nonce, opts.relaxed ? "relaxed" : "durable"), challengeId, { cte: `WITH "started" AS (${update})`, params });
      if (!found) return undefined;
      const challenge: Challenge = {
        ...found.challenge,
        status: "processing",
        attempts: found.challenge.attempts + (claimUntil ? 1 : 0),
        nextAttempt: now,
      };
      return { challenge, authz: { ...found.authz, challenges: found.authz.challenges.map((c) => (c.id === challengeId ? challenge : c)) } };
    },
    /** A client answered again while a retry waits (§8.2: retry now); false if none was waiting. */
    async expediteChallenge(id: string, now: Date): Promise<boolean> {
      const { count } = await db.challenge.updateMany({
        where: { id, status: "processing", runAfter: { gt: now }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] },
        data: { runAfter: now },
      });
      return count === 1;
    },
    /**
     * Claims up to `limit` due jobs until `lockUntil` and returns their ids, in one statement: a job is
     * claimed by exactly one caller of any instance (a concurrent claimer's UPDATE re-checks the lock
     * after waiting for the row, PostgreSQL READ COMMITTED; SQLite has one writer). Counts the attempt.
     */
    async claimDueChallengeJobs(now: Date, lockUntil: Date, limit: number): Promise<string[]> {
      const due = `"status" = 'processing' AND "runAfter" <= ? AND ("lockedUntil" IS NULL OR "lockedUntil" < ?)`;
      const rows = await sql.all<{ id: string }>(
        `UPDATE "Challenge" SET "lockedUntil" = ?, "attempts" = "attempts" + 1
          WHERE "id" IN (SELECT "id" FROM "Challenge" WHERE ${due} ORDER BY "runAfter" LIMIT ?) AND ${due} RETURNING "id"`,
        [lockUntil, now, now, limit, now, now],
      );
      return rows.map((r) => r.id);
    },
    async countChallengeJobs(): Promise<number> {
      // the partial index on processing challenges answers this (the status written out, as above)
      const [row] = await sql.all<{ n: number }>(`SELECT COUNT(*) AS "n" FROM "Challenge" WHERE "status" = 'processing'`);
      return Number(row?.n ?? 0);
    },
    /** A transient failure: run again later, keep the job. */
    async retryChallengeJob(id: string, runAfter: Date, records: ValidationRecord[], problem: ProblemData): Promise<void> {
      await sql.run(
        `UPDATE "Challenge" SET "runAfter" = ?, "lockedUntil" = NULL, "validationRecord" = ?, "error" = ? WHERE "id" = ? AND "status" = 'processing'`,
        [runAfter, text(records), text(problem), id],
      );
    },
    /** Records the outcome: the challenge and its authorization move together, once. */
    async finishChallenge(
      id: string,
      authzId: string,
      outcome: { valid: true; records: ValidationRecord[]; validated: Date; authzExpires: Date } | { valid: false; records: ValidationRecord[]; problem: ProblemData },
    ): Promise<boolean> {
      const [challenge, challengeParams]: [string, Param[]] = outcome.valid
        ? [`UPDATE "Challenge" SET "status" = 'valid', "validated" = ?, "validationRecord" = ?, "lockedUntil" = NULL WHERE "id" = ? AND "status" = 'processing'`,
            [outcome.validated, text(outcome.records), id]]
        : [`UPDATE "Challenge" SET "status" = 'invalid', "error" = ?, "validationRecord" = ?, "lockedUntil" = NULL WHERE "id" = ? AND "status" = 'processing'`,
            [text(outcome.problem), text(outcome.records), id]];
      const [authz, authzParams]: [string, Param[]] = outcome.valid
        ? [`UPDATE "Authorization" SET "status" = 'valid', "expires" = ? WHERE "id" = ? AND "status" = 'pending'`, [outcome.authzExpires, authzId]]
        : [`UPDATE "Authorization" SET "status" = 'invalid' WHERE "id" = ? AND "status" = 'pending'`, [authzId]];
      if (pg) {
        const [row] = await sql.all<{ n: number }>(
          `WITH c AS (${challenge} RETURNING "id"), a AS (${authz} AND EXISTS (SELECT 1 FROM c) RETURNING "id") SELECT COUNT(*) AS "n" FROM c`,
          [...challengeParams, ...authzParams],
        );
        return Number(row?.n) === 1;
      }
      return sql.tx(async (q) => {
        if ((await q.run(challenge, challengeParams)) !== 1) return false;
        await q.run(authz, authzParams);
        return true;
      });
    },

    // ---- finalize jobs: an order in "processing" with its CSR stored
    /**
     * Finalize's claim (RFC 8555 §7.4): the order moves ready → processing with the CSR, only if it is
     * `accountId`'s, unexpired, and every one of its authorizations valid and unexpired (an order is stored
     * "pending" until it is finalized; the status the client sees is computed, core/status.ts). Exactly one
     * finalize wins. Returns the order with its authorizations and whether this call claimed it (the order then
     * reads "processing"), or undefined if there is no such order. On PostgreSQL one statement, which also carries
     * the request's nonce: the guarded UPDATE in a CTE, the order read beside it; SQLite: the UPDATE, then the read.
     * `relaxed`: the caller answers only after storeCertificate's durable commit, releaseFinalize's or
     * `confirmDurable`, so this commit need not wait for the disk (PostgreSQL; see `carrying`).
     */
    async claimFinalize(
      orderId: string,
      accountId: string,
      csr: Uint8Array,
      now: Date,
      lockUntil: Date,
      nonce?: NonceClaim,
      opts: { relaxed?: boolean } = {},
    ): Promise<{ order: Order; authzs: Authorization[]; claimed: boolean } | undefined> {
      // the authorizations are reached through the order's key ("OrderAuthz" is keyed by order first), so no
      // statistics can make a generic plan scan them whole (see startChallengeFor)
      const update = `UPDATE "Order" SET "status" = 'processing', "csr" = ?, "lockedUntil" = ?
          WHERE "id" = ? AND "accountId" = ? AND "status" IN ('pending', 'ready') AND "expires" > ?
          AND NOT EXISTS (SELECT 1 FROM "OrderAuthz" oa JOIN "Authorization" a ON a."id" = oa."authzId"
            WHERE oa."orderId" = ? AND (a."status" <> 'valid' OR a."expires" <= ?))`;
      const params: Param[] = [csr, lockUntil, orderId, accountId, now, orderId, now];
      if (!pg) {
        await nonce?.settle();
        const claimed = (await sql.run(update, params)) === 1;
        const found = await orderWithAuthzs(sql, orderId);
        return found && { ...found, claimed };
      }
      const found = await orderWithAuthzs(carrying(nonce, opts.relaxed ? "relaxed" : "durable"), orderId, { cte: `WITH "claimed" AS (${update} RETURNING "id")`, params });
      // the CTE's read sees the order as it was before the UPDATE
      return found && (found.claimed ? { ...found, order: { ...found.order, status: "processing" } } : found);
    },
    /**
     * Undoes a claim whose CSR the order refused (badCSR after claimFinalize): processing → ready, the CSR and the
     * lock dropped, so the client may finalize again with another CSR. Durable: it is answered at once.
     */
    async releaseFinalize(orderId: string): Promise<boolean> {
      const count = await sql.run(`UPDATE "Order" SET "status" = 'ready', "csr" = NULL, "lockedUntil" = NULL WHERE "id" = ? AND "status" = 'processing'`, [orderId]);
      return count === 1;
    },
    async dueFinalizeJobs(now: Date, limit: number): Promise<string[]> {
      // `'processing'` written out, not a parameter: only then can a generic plan (PostgreSQL's, for a
      // statement prepared once per connection) use the partial index on such orders
      const rows = await sql.all<{ id: string }>(
        `SELECT "id" FROM "Order" WHERE "status" = 'processing' AND ("lockedUntil" IS NULL OR "lockedUntil" < ?) LIMIT ?`,
        [now, limit],
      );
      return rows.map((r) => r.id);
    },
    async claimFinalizeJob(orderId: string, now: Date, lockUntil: Date): Promise<boolean> {
      const { count } = await db.order.updateMany({
        where: { id: orderId, status: "processing", OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] },
        data: { lockedUntil: lockUntil },
      });
      return count === 1;
    },
    async getOrderCsr(orderId: string): Promise<Uint8Array | undefined> {
      const row = await db.order.findUnique({ where: { id: orderId }, select: { csr: true } });
      return row?.csr ?? undefined;
    },
    /** Stores the certificate and marks the order valid in one transaction: never one without the other. */
    async storeCertificate(c: Certificate): Promise<boolean> {
      const order = `UPDATE "Order" SET "status" = 'valid', "lockedUntil" = NULL WHERE "id" = ? AND "status" = 'processing'`;
      const columns = `"id", "serial", "accountId", "orderId", "der", "issuer", "identifiers", "notBefore", "notAfter", "status", "revokedAt", "revokedReason", "createdAt"`;
      const values: Param[] = [c.id, c.serial, c.accountId, c.orderId, c.der, c.issuer, JSON.stringify(c.identifiers), c.notBefore, c.notAfter, c.status,
        c.revokedAt, c.revokedReason, clock()];
      if (pg) {
        // the certificate row exists only if the order moved to valid, in the same statement
        const inserted = await sql.run(
          `WITH o AS (${order} RETURNING "id") INSERT INTO "Certificate" (${columns})
            SELECT ?, ?, ?, ?, ?::bytea, ?, ?::jsonb, ?::timestamp(3), ?::timestamp(3), ?, ?::timestamp(3), ?::integer, ?::timestamp(3) FROM o`,
          [c.orderId, ...values],
        );
        return inserted === 1;
      }
      return sql.tx(async (q) => {
        if ((await q.run(order, [c.orderId])) !== 1) return false;
        await q.run(`INSERT INTO "Certificate" (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, values);
        return true;
      });
    },
    async failOrder(orderId: string, problem: ProblemData, from: Order["status"][] = ["processing"]): Promise<boolean> {
      const { count } = await db.order.updateMany({
        where: { id: orderId, status: { in: from } },
        data: { status: "invalid", error: json(problem), lockedUntil: null },
      });
      return count === 1;
    },

    // ---- certificates
    async getCertificate(id: string, nonce?: NonceClaim): Promise<Certificate | undefined> {
      return certificateBy(carrying(nonce), "id", id);
    },
    async getCertificateBySerial(serial: string): Promise<Certificate | undefined> {
      return certificateBy(sql, "serial", serial);
    },
    async revokeCertificate(serial: string, reason: number, at: Date): Promise<boolean> {
      const { count } = await db.certificate.updateMany({
        where: { serial, status: "valid" },
        data: { status: "revoked", revokedAt: at, revokedReason: reason },
      });
      return count === 1;
    },

    // ---- upkeep
    /**
     * PostgreSQL with autovacuum off: keeps the planner's statistics fresh instead, by autovacuum's default
     * rule (ANALYZE a table once more than 50 + 10% of its rows changed since its last ANALYZE). Without
     * statistics the plans PostgreSQL caches for the hot statements while the tables are small (sequential
     * scans, hash joins) are kept for good, and each order read ends up scanning every challenge ever
     * stored. A table analyzed before waits `minAgeSeconds` for the next time (one of a table whose rows are
     * all sampled can cost PostgreSQL tens of milliseconds), unless it has doubled since: estimates scale
     * with the table, but a plan chosen at one size (a scan that is cheap at a few pages) is kept until the
     * next ANALYZE, so a young table's is refreshed at each doubling, a logarithmic number of times. Returns the tables analyzed: none when
     * autovacuum is on (it does this itself) or on SQLite (its planner assumes large tables and uses the indexes).
     */
    async refreshStatistics(opts: { minAgeSeconds?: number } = {}): Promise<string[]> {
      if (!pg) return [];
      const stale = await sql.all<{ relname: string }>(
        `SELECT s."relname" FROM pg_stat_user_tables s JOIN pg_class c ON c."oid" = s."relid"
          WHERE s."schemaname" = current_schema() AND current_setting('autovacuum') = 'off'
          AND s."n_mod_since_analyze" > 50 + 0.1 * s."n_live_tup"
          AND (s."last_analyze" IS NULL OR s."last_analyze" < now() - make_interval(secs => ?) OR s."n_live_tup" >= 2 * c."reltuples")
          ORDER BY s."relname"`,
        [opts.minAgeSeconds ?? 30],
      );
      const tables = stale.map((r) => r.relname);
      for (const t of tables) await sql.run(`ANALYZE "${t.replace(/"/g, '""')}"`);
      return tables;
    },
    async autovacuumOn(): Promise<boolean> {
      if (!pg) return true;
      const [row] = await sql.all<{ on: string }>(`SELECT current_setting('autovacuum') AS "on"`);
      return row?.on !== "off";
    },

    // ---- nonces and settings
    /** Once per signed request; the primary key makes a second redemption insert nothing. */
    markNonceRedeemed: (nonce: string, expires: Date): Promise<boolean> => redeemNonce(nonce, expires),
    async pruneNonces(now: Date): Promise<number> {
      return (await db.redeemedNonce.deleteMany({ where: { expires: { lt: now } } })).count;
    },
    /** Returns the stored value, creating it with `make()` if absent; concurrent first starts agree. */
    async getOrCreateSetting(key: string, make: () => string): Promise<string> {
      const existing = await db.setting.findUnique({ where: { key } });
      if (existing) return existing.value;
      try {
        return (await db.setting.create({ data: { key, value: make(), createdAt: clock() } })).value;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        return (await db.setting.findUniqueOrThrow({ where: { key } })).value;
      }
    },
  };
}

export type Storage = ReturnType<typeof createStorage>;
