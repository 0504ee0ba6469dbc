import { randomBytes } from "./random.js";

/** Unguessable object ids for URLs (128 bits, base64url). */
export function newId(): string {
  return randomBytes(16).toString("base64url");
}

/** Challenge tokens: RFC 8555 §8.1 asks for at least 128 bits of entropy, base64url. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Serial numbers as stored and compared: lower-case hex of the integer, no leading zeros. */
export function canonicalSerial(hex: string): string {
  return BigInt(`0x${hex}`).toString(16);
}
