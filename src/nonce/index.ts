// Replay nonces (RFC 8555 §6.5) that cost no database write to hand out, and that any instance
// sharing the database accepts once.
//
// A nonce is AES-256-GCM(key, issuedAt ‖ instance ‖ counter ‖ random): unforgeable, so an instance
// can tell its (and its siblings') nonces from invented ones without storage, and expiring (issuedAt).
// Redeeming inserts the nonce into a shared "redeemed" set (a primary key), so a second use
// anywhere fails on the unique constraint. Rows live only until the nonce would expire anyway.
//
// A process that is the only instance (SQLite: one process per database file) keeps the redeemed set
// in memory instead (`local`): it accepts only nonces it issued since it started (its instance id),
// remembers which of their counters were used, and bounds that memory like Boulder's nonce service —
// past `maxRedeemed` entries the oldest half is forgotten and nonces issued before them are refused
// as too old. A refused nonce costs the client one badNonce and a retry (RFC 8555 §6.5).
import { createCipheriv, createDecipheriv } from "node:crypto";
import { randomBytes } from "../core/random.js";

export interface RedeemedNonceStore {
  /** true if inserted now, false if it was already redeemed */
  markRedeemed(nonce: string, expires: Date): Promise<boolean>;
}

export const MAX_LOCAL_REDEEMED = 200_000;

export interface NonceService {
  issue(): string;
  /** true when the nonce is genuine, not expired, and was not redeemed before */
  redeem(nonce: string): Promise<boolean>;
}

const PLAIN_LEN = 8 + 4 + 8 + 4; // ms timestamp, instance, counter, random

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
  const instance = randomBytes(4);
  let counter = 0n;
  const maxRedeemed = deps.local?.maxRedeemed ?? MAX_LOCAL_REDEEMED;
  const redeemed = new Set<bigint>(); // counters of this instance's nonces already used
  let floor = 0n; // counters below were forgotten: refused as too old

  function redeemLocally(plain: Buffer): boolean {
    if (!plain.subarray(8, 12).equals(instance)) return false; // issued by an earlier run of this process
    const n = plain.readBigUInt64BE(12);
    if (n < floor || redeemed.has(n)) return false;
    redeemed.add(n);
    if (redeemed.size > maxRedeemed) {
      const sorted = [...redeemed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      floor = sorted[sorted.length >> 1]!;
      for (const c of sorted) {
        if (c >= floor) break;
        redeemed.delete(c);
      }
    }
    return true;
  }

  return {
    issue(): string {
      const plain = Buffer.alloc(PLAIN_LEN);
      plain.writeBigUInt64BE(BigInt(now()), 0);
      instance.copy(plain, 8);
      plain.writeBigUInt64BE(counter++, 12);
      randomBytes(4).copy(plain, 20);
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", deps.key, iv);
      const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString("base64url");
    },
    async redeem(nonce: string): Promise<boolean> {
      const plain = open(deps.key, nonce);
      if (plain === undefined) return false;
      const issuedAt = Number(plain.readBigUInt64BE(0));
      const expires = issuedAt + deps.lifetimeSeconds * 1000;
      if (expires <= now() || issuedAt > now() + 60_000) return false;
      if (deps.local) return redeemLocally(plain);
      return deps.store.markRedeemed(nonce, new Date(expires));
    },
  };
}

/** The plaintext of a genuine nonce, or undefined. */
function open(key: Buffer, nonce: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(nonce) || nonce.length > 100) return undefined;
  const raw = Buffer.from(nonce, "base64url");
  // A non-canonical encoding (other trailing bits) would decode to the same bytes and dodge the
  // redeemed set, which is keyed by the string.
  if (raw.length !== 12 + PLAIN_LEN + 16 || raw.toString("base64url") !== nonce) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12 + PLAIN_LEN));
    return Buffer.concat([decipher.update(raw.subarray(12, 12 + PLAIN_LEN)), decipher.final()]);
  } catch {
    return undefined;
  }
}
