// Replay nonces (RFC 8555 §6.5) that cost no database write to hand out, and that any instance
// sharing the database accepts once.
//
// A nonce is 32 bytes: C = AES-256(k1, issuedAt ‖ instance ‖ counter), one block, then T = AES-256(k2, C),
// k1 and k2 derived from the shared key. T is a MAC of C (a block cipher is a pseudorandom function on a
// single block), so an instance can tell its (and its siblings') nonces from invented ones without storage;
// C hides the issue time, instance and counter; issuedAt makes nonces expire. Both are one AES block
// with a cipher object made once (ECB, no padding), a few microseconds in all (AES-GCM with a fresh
// cipher per nonce cost three times that).
// Redeeming inserts the nonce into a shared "redeemed" set (a primary key), so a second use
// anywhere fails on the unique constraint. Rows live only until the nonce would expire anyway. The
// insert is usually carried by the request's first statement (a claim, core/nonce-claim.ts; src/sa).
//
// A process that is the only instance (SQLite: one process per database file) keeps the redeemed set
// in memory instead (`local`): it accepts only nonces it issued since it started (its instance id),
// remembers which of their counters were used, and bounds that memory like Boulder's nonce service —
// past `maxRedeemed` entries the oldest half is forgotten and nonces issued before them are refused
// as too old. A refused nonce costs the client one badNonce and a retry (RFC 8555 §6.5).
import { createCipheriv, createDecipheriv, hkdfSync, timingSafeEqual, type Cipher, type Decipher } from "node:crypto";
import { NonceClaim } from "../core/nonce-claim.js";
import { randomBytes } from "../core/random.js";

export interface RedeemedNonceStore {
  /** true if inserted now, false if it was already redeemed */
  markRedeemed(nonce: string, expires: Date): Promise<boolean>;
}

export const MAX_LOCAL_REDEEMED = 200_000;

export interface NonceService {
  issue(): string;
  /**
   * A genuine, unexpired nonce as a claim (core/nonce-claim.ts): settled already when redeemed in memory,
   * pending when it is to be recorded in the shared store (by the request's first statement, or alone).
   * Undefined for a nonce that is invented, expired, or (in memory) used before.
   */
  claim(nonce: string): NonceClaim | undefined;
}

const BLOCK = 16; // plaintext: issuedAt ms (6 bytes) ‖ instance (4) ‖ counter (6)
const NONCE_LEN = 2 * BLOCK;
const ENCODED_LEN = 43; // base64url of 32 bytes, unpadded

/** One AES-256 block, encrypt or decrypt, with a cipher object reused for every call. */
function blockCipher(key: Buffer, info: string): { encrypt(b: Buffer): Buffer; decrypt(b: Buffer): Buffer } {
  const k = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), `anvil nonce ${info}`, 32));
  const enc: Cipher = createCipheriv("aes-256-ecb", k, null).setAutoPadding(false);
  const dec: Decipher = createDecipheriv("aes-256-ecb", k, null).setAutoPadding(false);
  return { encrypt: (b) => enc.update(b), decrypt: (b) => dec.update(b) };
}

export function createNonceService(deps: {
  key: Buffer; // 32 bytes shared by every instance (stored in the database)
  store: RedeemedNonceStore;
  lifetimeSeconds: number;
  now?: () => number;
  /** the only instance: redeem in memory, never in `store` */
  local?: { maxRedeemed?: number };
}): NonceService {
  if (deps.key.length !== 32) throw new Error("nonce key must be 32 bytes");
  const now = deps.now ?? Date.now;
  const seal = blockCipher(deps.key, "seal");
  const mac = blockCipher(deps.key, "mac");
  const instance = randomBytes(4).readUInt32BE(0);
  let counter = 0;
  const maxRedeemed = deps.local?.maxRedeemed ?? MAX_LOCAL_REDEEMED;
  const redeemed = new Set<number>(); // counters of this instance's nonces already used
  let floor = 0; // counters below were forgotten: refused as too old

  function redeemLocally(plain: Buffer): boolean {
    if (plain.readUInt32BE(6) !== instance) return false; // issued by an earlier run of this process
    const n = plain.readUIntBE(10, 6);
    if (n < floor || redeemed.has(n)) return false;
    redeemed.add(n);
    if (redeemed.size > maxRedeemed) {
      const sorted = Float64Array.from(redeemed).sort();
      floor = sorted[sorted.length >> 1]!;
      for (const c of sorted) {
        if (c >= floor) break;
        redeemed.delete(c);
      }
    }
    return true;
  }

  /** The plaintext of a genuine nonce, or undefined. */
  function open(nonce: string): Buffer | undefined {
    if (nonce.length !== ENCODED_LEN || !/^[A-Za-z0-9_-]+$/.test(nonce)) return undefined;
    const raw = Buffer.from(nonce, "base64url");
    // A non-canonical encoding (other trailing bits) would decode to the same bytes and dodge the
    // redeemed set, which is keyed by the string.
    if (raw.length !== NONCE_LEN || raw.toString("base64url") !== nonce) return undefined;
    const sealed = raw.subarray(0, BLOCK);
    if (!timingSafeEqual(mac.encrypt(sealed), raw.subarray(BLOCK))) return undefined;
    return seal.decrypt(sealed);
  }

  return {
    issue(): string {
      const plain = Buffer.allocUnsafe(BLOCK);
      plain.writeUIntBE(now(), 0, 6);
      plain.writeUInt32BE(instance, 6);
      plain.writeUIntBE(counter++, 10, 6);
      const sealed = seal.encrypt(plain);
      return Buffer.concat([sealed, mac.encrypt(sealed)], NONCE_LEN).toString("base64url");
    },
    claim,
  };

  function claim(nonce: string): NonceClaim | undefined {
    const plain = open(nonce);
    if (plain === undefined) return undefined;
    const issuedAt = plain.readUIntBE(0, 6);
    const expires = issuedAt + deps.lifetimeSeconds * 1000;
    if (expires <= now() || issuedAt > now() + 60_000) return undefined;
    if (deps.local) return redeemLocally(plain) ? new NonceClaim(nonce, new Date(expires)) : undefined;
    const at = new Date(expires);
    return new NonceClaim(nonce, at, () => deps.store.markRedeemed(nonce, at));
  }
}
