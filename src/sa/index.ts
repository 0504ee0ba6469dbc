// The storage authority: the only code that touches Prisma. State changes are guarded in storage
// (`update … where status = …`, then the row count), so two requests or instances cannot move an
// object twice.
import type {
  Account,
  Authorization,
  Certificate,
  ChallengeType,
  Identifier,
  Order,
  ProblemData,
  ValidationRecord,
} from "../core/types.js";
import type { Db } from "./db/client.js";
import { authzsWithChallenges, authzWithChallenges, challengeWithAuthz, orderWithAuthzs } from "./raw.js";
import { bytes, json, toAccount, toAuthz, toCertificate, toOrder } from "./mappers.js";

export { createDb, dbKind, type Db } from "./db/client.js";
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

export class ConflictError extends Error {
  constructor(readonly existingId?: string) {
    super("conflict");
  }
}

const orderInclude = { authzs: { select: { authzId: true, position: true } }, certificate: { select: { id: true } } } as const;

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "P2002";
}

export interface StorageOptions {
  /**
   * This process is the only writer of the database (SQLite: one process per file, by design). Then
   * accounts, read on every signed request, can be cached here with write-through invalidation, since
   * every change to them passes through this object. Never set it for a shared PostgreSQL database.
   */
  exclusive?: boolean;
}

const ACCOUNT_CACHE_SIZE = 10_000;

export function createStorage(db: Db, clock: () => Date = () => new Date(), opts: StorageOptions = {}) {
  const accounts = new Map<string, Account>();
  const remember = (a: Account | undefined) => {
    if (!opts.exclusive || !a) return a;
    if (accounts.size >= ACCOUNT_CACHE_SIZE) accounts.delete(accounts.keys().next().value!);
    accounts.set(a.id, a);
    return a;
  };
  return {
    db,

    async ping(): Promise<void> {
      await db.$queryRawUnsafe("SELECT 1");
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
      const cached = accounts.get(id);
      if (cached) return cached;
      const row = await db.account.findUnique({ where: { id } });
      return remember(row ? toAccount(row) : undefined);
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
      const now = clock();
      const fresh = o.authzs.filter((a): a is NewAuthz => !("reuse" in a));
      await db.$transaction(async (tx) => {
        for (const a of fresh) {
          await tx.authorization.create({
            data: {
              id: a.id, accountId: o.accountId, identifierType: a.identifier.type, identifierValue: a.identifier.value,
              wildcard: a.wildcard, status: "pending", expires: a.expires, createdAt: now,
              challenges: { create: a.challenges.map((c) => ({ ...c, status: "pending", attempts: 0 })) },
            },
            select: { id: true }, // nothing to read back
          });
        }
        await tx.order.create({
          data: {
            id: o.id, accountId: o.accountId, status: "pending", expires: o.expires, identifiers: json(o.identifiers),
            notBefore: o.notBefore, notAfter: o.notAfter, createdAt: now,
            authzs: { create: o.authzs.map((a, position) => ({ authzId: "reuse" in a ? a.reuse : a.id, position })) },
          },
          select: { id: true },
        });
      });
    },
    /** Creation times of the account's newest `limit` orders, newest first (for rate limits). */
    async recentOrderTimes(accountId: string, limit: number): Promise<Date[]> {
      const rows = await db.order.findMany({ where: { accountId }, orderBy: { createdAt: "desc" }, take: limit, select: { createdAt: true } });
      return rows.map((r) => r.createdAt);
    },
    async getOrder(id: string): Promise<Order | undefined> {
      const row = await db.order.findUnique({ where: { id }, include: orderInclude });
      return row ? toOrder(row) : undefined;
    },
    /** The order with its authorizations and their challenges, in one query (every order read). */
    getOrderWithAuthzs: (id: string) => orderWithAuthzs(db, id),
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
    getAuthzs: (ids: string[]): Promise<Authorization[]> => authzsWithChallenges(db, ids),
    getAuthz: (id: string): Promise<Authorization | undefined> => authzWithChallenges(db, id),
    /** Valid, unexpired authorizations of an account for these identifiers (for reuse and revocation). */
    async findValidAuthzs(accountId: string, identifiers: Identifier[], now: Date): Promise<Authorization[]> {
      if (identifiers.length === 0) return [];
      const rows = await db.authorization.findMany({
        where: {
          accountId, status: "valid", expires: { gt: now },
          OR: identifiers.map((i) => ({ identifierType: i.type, identifierValue: i.value })),
        },
        include: { challenges: true },
        orderBy: { expires: "desc" },
      });
      return rows.map(toAuthz);
    },
    async deactivateAuthz(id: string): Promise<boolean> {
      const { count } = await db.authorization.updateMany({
        where: { id, status: { in: ["pending", "valid"] } },
        data: { status: "deactivated" },
      });
      return count === 1;
    },
    getChallenge: (id: string) => challengeWithAuthz(db, id),

    // ---- validation jobs: a challenge in "processing" is a durable job
    /** pending → processing, only while its authorization is pending and unexpired. */
    async startChallenge(challengeId: string, authzId: string, now: Date): Promise<boolean> {
      // hot path, guarded in one statement (Prisma would wrap its updateMany in BEGIN/COMMIT)
      const count = await db.$executeRaw`UPDATE "Challenge" SET "status" = 'processing', "runAfter" = ${now}, "lockedUntil" = NULL
        WHERE "id" = ${challengeId} AND "status" = 'pending' AND "authzId" = ${authzId}
        AND EXISTS (SELECT 1 FROM "Authorization" a WHERE a."id" = ${authzId} AND a."status" = 'pending' AND a."expires" > ${now})`;
      return count === 1;
    },
    /** A client answered again while a retry waits (§8.2: retry now); false if none was waiting. */
    async expediteChallenge(id: string, now: Date): Promise<boolean> {
      const { count } = await db.challenge.updateMany({
        where: { id, status: "processing", runAfter: { gt: now }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] },
        data: { runAfter: now },
      });
      return count === 1;
    },
    async dueChallengeJobs(now: Date, limit: number): Promise<string[]> {
      const rows = await db.challenge.findMany({
        where: { status: "processing", runAfter: { lte: now }, OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] },
        select: { id: true },
        orderBy: { runAfter: "asc" },
        take: limit,
      });
      return rows.map((r) => r.id);
    },
    async countChallengeJobs(): Promise<number> {
      return db.challenge.count({ where: { status: "processing" } });
    },
    /** Claims a due job until `lockUntil`; exactly one caller (of any instance) wins. */
    async claimChallengeJob(id: string, now: Date, lockUntil: Date): Promise<boolean> {
      const count = await db.$executeRaw`UPDATE "Challenge" SET "lockedUntil" = ${lockUntil}, "attempts" = "attempts" + 1
        WHERE "id" = ${id} AND "status" = 'processing' AND "runAfter" <= ${now} AND ("lockedUntil" IS NULL OR "lockedUntil" < ${now})`;
      return count === 1;
    },
    /** A transient failure: run again later, keep the job. */
    async retryChallengeJob(id: string, runAfter: Date, records: ValidationRecord[], problem: ProblemData): Promise<void> {
      await db.challenge.updateMany({
        where: { id, status: "processing" },
        data: { runAfter, lockedUntil: null, validationRecord: json(records), error: json(problem) },
      });
    },
    /** Records the outcome: the challenge and its authorization move together, once. */
    async finishChallenge(
      id: string,
      authzId: string,
      outcome: { valid: true; records: ValidationRecord[]; validated: Date; authzExpires: Date } | { valid: false; records: ValidationRecord[]; problem: ProblemData },
    ): Promise<boolean> {
      return db.$transaction(async (tx) => {
        const { count } = await tx.challenge.updateMany({
          where: { id, status: "processing" },
          data: outcome.valid
            ? { status: "valid", validated: outcome.validated, validationRecord: json(outcome.records), lockedUntil: null }
            : { status: "invalid", error: json(outcome.problem), validationRecord: json(outcome.records), lockedUntil: null },
        });
        if (count !== 1) return false;
        await tx.authorization.updateMany({
          where: { id: authzId, status: "pending" },
          data: outcome.valid ? { status: "valid", expires: outcome.authzExpires } : { status: "invalid" },
        });
        return true;
      });
    },

    // ---- finalize jobs: an order in "processing" with its CSR stored
    /** ready → processing with the CSR; exactly one finalize wins. */
    async beginFinalize(orderId: string, csr: Uint8Array, lockUntil: Date): Promise<boolean> {
      const count = await db.$executeRaw`UPDATE "Order" SET "status" = 'processing', "csr" = ${bytes(csr)}, "lockedUntil" = ${lockUntil}
        WHERE "id" = ${orderId} AND "status" IN ('pending', 'ready')`;
      return count === 1;
    },
    async dueFinalizeJobs(now: Date, limit: number): Promise<string[]> {
      const rows = await db.order.findMany({
        where: { status: "processing", OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] },
        select: { id: true }, take: limit,
      });
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
      return db.$transaction(async (tx) => {
        const { count } = await tx.order.updateMany({
          where: { id: c.orderId, status: "processing" },
          data: { status: "valid", lockedUntil: null },
        });
        if (count !== 1) return false;
        await tx.certificate.create({ data: { ...c, der: bytes(c.der), identifiers: json(c.identifiers), createdAt: clock() } });
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
    async getCertificate(id: string): Promise<Certificate | undefined> {
      const row = await db.certificate.findUnique({ where: { id } });
      return row ? toCertificate(row) : undefined;
    },
    async getCertificateBySerial(serial: string): Promise<Certificate | undefined> {
      const row = await db.certificate.findUnique({ where: { serial } });
      return row ? toCertificate(row) : undefined;
    },
    async revokeCertificate(serial: string, reason: number, at: Date): Promise<boolean> {
      const { count } = await db.certificate.updateMany({
        where: { serial, status: "valid" },
        data: { status: "revoked", revokedAt: at, revokedReason: reason },
      });
      return count === 1;
    },

    // ---- nonces and settings
    async markNonceRedeemed(nonce: string, expires: Date): Promise<boolean> {
      // once per signed request: raw SQL (portable: SQLite ≥ 3.24 and PostgreSQL) skips the query
      // compiler and the exception path; the primary key makes the second redemption insert nothing
      const inserted = await db.$executeRaw`INSERT INTO "RedeemedNonce" ("nonce", "expires") VALUES (${nonce}, ${expires}) ON CONFLICT DO NOTHING`;
      return inserted === 1;
    },
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
