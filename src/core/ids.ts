import { randomBytes } from "./random.js";

/**
 * Unguessable object ids for URLs: the creation time in milliseconds (10 characters of lower-case base32hex,
 * which sort as the time does as bytes and in any collation), then 96 random bits (16 characters of base64url).
 * Like UUIDv7 and for the same reason: a new row's primary key (and the foreign keys that copy it) lands at the
 * right edge of its index, so the rows written together share index pages, on SQLite in one group commit's WAL
 * frames (docs/performance.md, session 13), instead of each landing on a page of its own.
 */
export function newId(): string {
  return Date.now().toString(32).padStart(10, "0") + randomBytes(12).toString("base64url");
}

/** Challenge tokens: RFC 8555 §8.1 asks for at least 128 bits of entropy, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Serial numbers as stored and compared: lower-case hex of the integer, no leading zeros. */
export function canonicalSerial(hex: string): string {
  return BigInt(`0x${hex}`).toString(16);
}
