// Rows ↔ domain objects. Json columns hold plain arrays/objects; Bytes are Uint8Array.
import type {
  Account,
  Authorization,
  Certificate,
  Challenge,
  Identifier,
  JsonWebKeyLike,
  Order,
  ProblemData,
  ValidationRecord,
} from "../core/types.js";
import type * as rows from "./generated/sqlite/client.js";

type Json = rows.Prisma.InputJsonValue;
const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

export function toAccount(r: rows.Account): Account {
  return {
    id: r.id,
    keyId: r.keyId,
    jwk: JSON.parse(r.jwk) as JsonWebKeyLike,
    contact: (r.contact as string[] | null) ?? [],
    status: r.status as Account["status"],
    tosAgreed: r.tosAgreed,
    createdAt: r.createdAt,
  };
}

export function toChallenge(r: rows.Challenge): Challenge {
  return {
    id: r.id,
    authzId: r.authzId,
    type: r.type as Challenge["type"],
    token: r.token,
    status: r.status as Challenge["status"],
    validated: opt(r.validated),
    error: opt(r.error as unknown as ProblemData | null),
    validationRecord: opt(r.validationRecord as unknown as ValidationRecord[] | null),
    attempts: r.attempts,
    nextAttempt: r.status === "processing" ? opt(r.runAfter) : undefined,
  };
}

export function toAuthz(r: rows.Authorization & { challenges: rows.Challenge[] }): Authorization {
  return {
    id: r.id,
    accountId: r.accountId,
    identifier: { type: r.identifierType as Identifier["type"], value: r.identifierValue },
    wildcard: r.wildcard,
    status: r.status as Authorization["status"],
    expires: r.expires,
    createdAt: r.createdAt,
    // a stable order: by type, so responses do not shuffle between reads
    challenges: r.challenges.map(toChallenge).sort((a, b) => a.type.localeCompare(b.type)),
  };
}

export function toCertificate(r: rows.Certificate): Certificate {
  return {
    id: r.id,
    serial: r.serial,
    accountId: r.accountId,
    orderId: r.orderId,
    der: r.der,
    issuer: r.issuer,
    identifiers: r.identifiers as unknown as Identifier[],
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    status: r.status as Certificate["status"],
    revokedAt: opt(r.revokedAt),
    revokedReason: opt(r.revokedReason),
  };
}

export const json = (v: unknown): Json => v as Json;
