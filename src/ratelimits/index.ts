// Named rate limits (RFC 8555 §6.7 rateLimited, answered with 429 and Retry-After). The caller counts
// (from storage, shared by every instance) or asks the in-memory window (per instance); this module only
// decides and says when to come back.
import { AcmeError } from "../errors/index.js";

export interface Limit {
  limit: number; // 0 = no limit
  window: number; // seconds
}

export interface RateLimitConfig {
  newOrdersPerAccount: Limit;
  newAccountsPerIp: Limit;
}

/**
 * `recent` are the creation times of the newest `limit` events of this key (newest first). Throws
 * rateLimited when all of them fall inside the window, with Retry-After = when the oldest leaves it.
 */
export function checkWindow(name: string, l: Limit, recent: Date[], now: Date): void {
  if (l.limit <= 0) return;
  checkOldest(name, l, recent[l.limit - 1], now);
}

/**
 * The same decision from one value: `oldest` is when the `limit`-th newest event happened (undefined
 * if there were fewer), so storage answers with one indexed row instead of `limit` rows.
 */
export function checkOldest(name: string, l: Limit, oldest: Date | undefined, now: Date): void {
  if (l.limit <= 0 || oldest === undefined) return;
  const leaves = oldest.getTime() + l.window * 1000;
  if (leaves <= now.getTime()) return;
  const retryAfter = Math.ceil((leaves - now.getTime()) / 1000);
  throw new AcmeError("rateLimited", `rate limit "${name}" reached: at most ${l.limit} per ${l.window} seconds; retry after ${retryAfter} seconds`, {
    retryAfter,
  });
}

/** A per-instance sliding window (for keys that storage does not record, such as client IPs). */
export function createMemoryWindow(name: string, l: Limit, maxKeys = 100_000) {
  const events = new Map<string, number[]>();
  return {
    /** Throws rateLimited if `key` is over the limit; otherwise records one event. */
    hit(key: string, now: Date): void {
      if (l.limit <= 0) return;
      const cutoff = now.getTime() - l.window * 1000;
      const list = (events.get(key) ?? []).filter((t) => t > cutoff);
      checkWindow(name, l, list.map((t) => new Date(t)).reverse(), now);
      list.push(now.getTime());
      events.delete(key); // re-insert: Map order is least recently used first
      events.set(key, list);
      if (events.size > maxKeys) events.delete(events.keys().next().value!);
    },
  };
}
