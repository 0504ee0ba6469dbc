// Hand-written reads of the hot path: an order, its authorizations and their challenges in one JOIN
// instead of Prisma's one query per relation, run as cached prepared statements (db/sql.ts). Rows are
// normalized here to what Prisma's models give, then mapped to domain objects by mappers.ts.
import type { Account, Authorization, Certificate, Challenge, Identifier, JsonWebKeyLike, Order, ProblemData } from "../core/types.js";
import type { Param, SqlRunner } from "./db/sql.js";
import { toAuthz, toCertificate } from "./mappers.js";
import type * as rows from "./generated/sqlite/client.js";

const COLUMNS = `a."id" AS "a_id", a."accountId" AS "a_accountId", a."identifierType" AS "a_identifierType",
  a."identifierValue" AS "a_identifierValue", a."wildcard" AS "a_wildcard", a."status" AS "a_status",
  a."expires" AS "a_expires", a."createdAt" AS "a_createdAt",
  c."id", c."authzId", c."type", c."token", c."status", c."validated", c."error", c."validationRecord",
  c."attempts", c."runAfter", c."lockedUntil"`;
const SELECT = `SELECT ${COLUMNS} FROM "Authorization" a JOIN "Challenge" c ON c."authzId" = a."id"`;
const ORDER_COLUMNS = `${COLUMNS}, o."id" AS "o_id", o."accountId" AS "o_accountId", o."status" AS "o_status",
  o."expires" AS "o_expires", o."identifiers" AS "o_identifiers", o."notBefore" AS "o_notBefore", o."notAfter" AS "o_notAfter",
  o."error" AS "o_error", o."createdAt" AS "o_createdAt", cert."id" AS "o_certificateId"`;
const ORDER_FROM = `FROM "Order" o JOIN "OrderAuthz" oa ON oa."orderId" = o."id" JOIN "Authorization" a ON a."id" = oa."authzId"
  JOIN "Challenge" c ON c."authzId" = a."id" LEFT JOIN "Certificate" cert ON cert."orderId" = o."id"`;

type Raw = Record<string, unknown>;

// What the drivers hand back (sql.ts): SQLite TEXT dates, 0/1 booleans, JSON text; PostgreSQL Dates,
// booleans, JSON text.
export const date = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
export const bool = (v: unknown): boolean => v === true || v === 1 || v === 1n || v === "1" || v === "true";
export const json = (v: unknown): rows.Prisma.JsonValue =>
  typeof v === "string" ? (JSON.parse(v) as rows.Prisma.JsonValue) : ((v ?? null) as rows.Prisma.JsonValue);
const bytes = (v: unknown): Uint8Array<ArrayBuffer> => {
  const b = v as Uint8Array;
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength);
};
/** `?, ?, ?` for an IN list */
const marks = (n: number): string => Array.from({ length: n }, () => "?").join(", ");

function toRows(raw: Raw[]): (rows.Authorization & { challenges: rows.Challenge[] }) | undefined {
  const first = raw[0];
  if (!first) return undefined;
  return {
    id: String(first.a_id),
    accountId: String(first.a_accountId),
    identifierType: String(first.a_identifierType),
    identifierValue: String(first.a_identifierValue),
    wildcard: bool(first.a_wildcard),
    status: String(first.a_status),
    expires: date(first.a_expires)!,
    createdAt: date(first.a_createdAt)!,
    challenges: raw.map((r) => ({
      id: String(r.id),
      authzId: String(r.authzId),
      type: String(r.type),
      token: String(r.token),
      status: String(r.status),
      validated: date(r.validated),
      error: json(r.error),
      validationRecord: json(r.validationRecord),
      attempts: Number(r.attempts),
      runAfter: date(r.runAfter),
      lockedUntil: date(r.lockedUntil),
    })),
  };
}

export async function authzWithChallenges(q: SqlRunner, id: string): Promise<Authorization | undefined> {
  const r = toRows(await q.all<Raw>(`${SELECT} WHERE a."id" = ?`, [id]));
  return r && toAuthz(r);
}

/**
 * A challenge and its authorization (with all its challenges), in one query. With `started` (a
 * `WITH "started" AS (… RETURNING "authzId")` clause and its parameters), the authorization is the one
 * that CTE returned, if any (PostgreSQL: the statement that starts a challenge reads it too).
 */
export async function challengeWithAuthz(
  q: SqlRunner,
  challengeId: string,
  started?: { cte: string; params: Param[] },
): Promise<{ challenge: Challenge; authz: Authorization } | undefined> {
  const r = toRows(
    await (started
      ? q.all<Raw>(`${started.cte} ${SELECT} WHERE a."id" = (SELECT "authzId" FROM "started")`, started.params)
      : q.all<Raw>(`${SELECT} WHERE a."id" = (SELECT "authzId" FROM "Challenge" WHERE "id" = ?)`, [challengeId])),
  );
  if (!r) return undefined;
  const authz = toAuthz(r);
  const challenge = authz.challenges.find((c) => c.id === challengeId);
  return challenge && { challenge, authz };
}

/** Groups JOIN rows by authorization, in first-seen order. */
function groupAuthzs(raw: Raw[]): Authorization[] {
  const groups = new Map<string, Raw[]>();
  for (const r of raw) {
    const list = groups.get(String(r.a_id)) ?? [];
    list.push(r);
    groups.set(String(r.a_id), list);
  }
  return [...groups.values()].map((g) => toAuthz(toRows(g)!));
}

/** Several authorizations with their challenges, in one query, in the order of `ids`. */
export async function authzsWithChallenges(q: SqlRunner, ids: string[]): Promise<Authorization[]> {
  if (ids.length === 0) return [];
  const byId = new Map(groupAuthzs(await q.all<Raw>(`${SELECT} WHERE a."id" IN (${marks(ids.length)})`, ids)).map((a) => [a.id, a]));
  return ids.map((id) => byId.get(id)).filter((a): a is Authorization => a !== undefined);
}

/** Valid, unexpired authorizations of an account for these identifiers, latest expiry first. */
export async function validAuthzs(q: SqlRunner, accountId: string, identifiers: Identifier[], now: Date): Promise<Authorization[]> {
  if (identifiers.length === 0) return [];
  const [where, params] = validAuthzsWhere(accountId, identifiers, now);
  const raw = await q.all<Raw>(`${SELECT} WHERE ${where} ORDER BY a."expires" DESC, a."id"`, params);
  return groupAuthzs(raw);
}

/** The condition on `"Authorization" a` for the account's valid authorizations of these identifiers expiring after `after`. */
export function validAuthzsWhere(accountId: string, identifiers: Identifier[], after: Date): [string, Param[]] {
  const match = identifiers.map(() => `(a."identifierType" = ? AND a."identifierValue" = ?)`).join(" OR ");
  return [`a."accountId" = ? AND a."status" = 'valid' AND a."expires" > ? AND (${match})`, [accountId, after, ...identifiers.flatMap((i) => [i.type, i.value])]];
}

/**
 * An order, its authorizations (with challenges, in the order's order) and its certificate id: one query.
 * With `claim` (a `WITH "claimed" AS (… RETURNING "id")` clause and its parameters), the same statement runs
 * that write first and `claimed` tells whether it returned a row; the read sees the rows as they were before it
 * (PostgreSQL: finalize's claim reads the order too).
 */
export async function orderWithAuthzs(
  q: SqlRunner,
  id: string,
  claim?: { cte: string; params: Param[] },
): Promise<{ order: Order; authzs: Authorization[]; claimed: boolean } | undefined> {
  const query = `SELECT ${ORDER_COLUMNS}${claim ? `, EXISTS (SELECT 1 FROM "claimed") AS "o_claimed"` : ""} ${ORDER_FROM} WHERE o."id" = ? ORDER BY oa."position", c."type"`;
  const raw = await (claim ? q.all<Raw>(`${claim.cte} ${query}`, [...claim.params, id]) : q.all<Raw>(query, [id]));
  const o = raw[0];
  if (!o) return undefined;
  const authzs = groupAuthzs(raw);
  const order: Order = {
    id: String(o.o_id),
    accountId: String(o.o_accountId),
    status: String(o.o_status) as Order["status"],
    expires: date(o.o_expires)!,
    identifiers: json(o.o_identifiers) as unknown as Identifier[],
    notBefore: date(o.o_notBefore) ?? undefined,
    notAfter: date(o.o_notAfter) ?? undefined,
    error: (json(o.o_error) ?? undefined) as unknown as ProblemData | undefined,
    authzIds: authzs.map((a) => a.id),
    certificateId: o.o_certificateId ? String(o.o_certificateId) : undefined,
    createdAt: date(o.o_createdAt)!,
  };
  return { order, authzs, claimed: bool(o.o_claimed) };
}

export async function accountById(q: SqlRunner, id: string): Promise<Account | undefined> {
  const [r] = await q.all<Raw>(`SELECT "id", "keyId", "jwk", "contact", "status", "tosAgreed", "createdAt" FROM "Account" WHERE "id" = ?`, [id]);
  if (!r) return undefined;
  return {
    id: String(r.id),
    keyId: String(r.keyId),
    jwk: JSON.parse(String(r.jwk)) as JsonWebKeyLike,
    contact: (json(r.contact) as string[] | null) ?? [],
    status: String(r.status) as Account["status"],
    tosAgreed: bool(r.tosAgreed),
    createdAt: date(r.createdAt)!,
  };
}

const CERT_COLUMNS = `"id", "serial", "accountId", "orderId", "der", "issuer", "identifiers", "notBefore", "notAfter", "status",
  "revokedAt", "revokedReason", "createdAt"`;

export async function certificateBy(q: SqlRunner, column: "id" | "serial", value: string): Promise<Certificate | undefined> {
  const [r] = await q.all<Raw>(`SELECT ${CERT_COLUMNS} FROM "Certificate" WHERE "${column}" = ?`, [value]);
  if (!r) return undefined;
  return toCertificate({
    id: String(r.id),
    serial: String(r.serial),
    accountId: String(r.accountId),
    orderId: String(r.orderId),
    der: bytes(r.der),
    issuer: String(r.issuer),
    identifiers: json(r.identifiers),
    notBefore: date(r.notBefore)!,
    notAfter: date(r.notAfter)!,
    status: String(r.status),
    revokedAt: date(r.revokedAt),
    revokedReason: r.revokedReason === null || r.revokedReason === undefined ? null : Number(r.revokedReason),
    createdAt: date(r.createdAt)!,
  } as rows.Certificate);
}
