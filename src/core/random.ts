// CSPRNG bytes for ids, tokens, serials and nonces, drawn from a pool that is refilled 4 KiB at a time.
// A certificate needs ~25 small random values; one getrandom call each cost ~20 µs of the request
// thread (docs/performance.md). The bytes are the same CSPRNG's (node:crypto randomFillSync); each is
// handed out once, into a fresh buffer, and the pool slot is overwritten before reuse.
import { randomFillSync } from "node:crypto";

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/** `n` fresh random bytes (n ≤ 256), in a buffer of their own. */
export function randomBytes(n: number): Buffer {
  if (n > 256) throw new RangeError("draw at most 256 bytes from the pool");
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n)); // a copy, never a view of the pool
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
