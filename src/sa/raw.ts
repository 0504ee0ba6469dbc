// Hand-written SQL for the hottest reads (an authorization with its challenges, read on every poll and
// every challenge response), in one JOIN instead of Prisma's one query per relation. Portable SQL,
// run through Prisma's tagged $queryRaw so both databases get their own placeholders.
import type { Authorization, Challenge, Identifier, Order, ProblemData } from "../core/types.js";
import type { Db } from "./db/client.js";
import { toAuthz } from "./mappers.js";
import { Prisma } from "./generated/sqlite/client.js";
import type * as rows from "./generated/sqlite/client.js";

const COLUMNS = `a."id" AS "a_id", a."accountId" AS "a_accountId", a."identifierType" AS "a_identifierType",
  a."identifierValue" AS "a_identifierValue", a."wildcard" AS "a_wildcard", a."status" AS "a_status",
  a."expires" AS "a_expires", a."createdAt" AS "a_createdAt",
  c."id", c."authzId", c."type", c."token", c."status", c."validated", c."error", c."validationRecord",
  c."attempts", c."runAfter", c."lockedUntil"`;
const SELECT = Prisma.raw(`SELECT ${COLUMNS} FROM "Authorization" a JOIN "Challenge" c ON c."authzId" = a."id"`);
const SELECT_ORDER = Prisma.raw(`SELECT ${COLUMNS}, o."id" AS "o_id", o."accountId" AS "o_accountId", o."status" AS "o_status",
  o."expires" AS "o_expires", o."identifiers" AS "o_identifiers", o."notBefore" AS "o_notBefore", o."notAfter" AS "o_notAfter",
  o."error" AS "o_error", o."createdAt" AS "o_createdAt", cert."id" AS "o_certificateId"
  FROM "Order" o JOIN "OrderAuthz" oa ON oa."orderId" = o."id" JOIN "Authorization" a ON a."id" = oa."authzId"
  JOIN "Challenge" c ON c."authzId" = a."id" LEFT JOIN "Certificate" cert ON cert."orderId" = o."id"`);

type Raw = Record<string, unknown>;

// The drivers differ in what they hand back for raw rows: normalize to what Prisma's models give.
const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
const bool = (v: unknown) => v === true || v === 1 || v === 1n || v === "1" || v === "true";
const json = (v: unknown) => (typeof v === "string" ? (JSON.parse(v) as rows.Prisma.JsonValue) : ((v ?? null) as rows.Prisma.JsonValue));

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

export async function authzWithChallenges(db: Db, id: string): Promise<Authorization | undefined> {
  const raw = await db.$queryRaw<Raw[]>`${SELECT} WHERE a."id" = ${id}`;
  const r = toRows(raw);
  return r && toAuthz(r);
}

/** A challenge and its authorization (with all its challenges), in one query. */
export async function challengeWithAuthz(db: Db, challengeId: string): Promise<{ challenge: Challenge; authz: Authorization } | undefined> {
  const raw = await db.$queryRaw<Raw[]>`${SELECT} WHERE a."id" = (SELECT "authzId" FROM "Challenge" WHERE "id" = ${challengeId})`;
  const r = toRows(raw);
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
export async function authzsWithChallenges(db: Db, ids: string[]): Promise<Authorization[]> {
  if (ids.length === 0) return [];
  const raw = await db.$queryRaw<Raw[]>`${SELECT} WHERE a."id" IN (${Prisma.join(ids)})`;
  const byId = new Map(groupAuthzs(raw).map((a) => [a.id, a]));
  return ids.map((id) => byId.get(id)).filter((a): a is Authorization => a !== undefined);
}

/** An order, its authorizations (with challenges, in the order's order) and its certificate id: one query. */
export async function orderWithAuthzs(db: Db, id: string): Promise<{ order: Order; authzs: Authorization[] } | undefined> {
  const raw = await db.$queryRaw<Raw[]>`${SELECT_ORDER} WHERE o."id" = ${id} ORDER BY oa."position", c."type"`;
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
  return { order, authzs };
}
