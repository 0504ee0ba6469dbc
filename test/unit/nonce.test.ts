// Nonces (RFC 8555 §6.5): sealed, expiring, single use; redeemed in a shared store or, for the only
// instance (SQLite), in bounded memory.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createNonceService, type RedeemedNonceStore } from "../../src/nonce/index.js";

const key = randomBytes(32);
const refusingStore: RedeemedNonceStore = {
  markRedeemed: () => {
    throw new Error("the local mode must not touch the store");
  },
};

describe("nonces redeemed in memory (the only instance)", () => {
  it("each nonce works once", async () => {
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {} });
    const a = s.issue();
    const b = s.issue();
    expect(a).not.toBe(b);
    expect(await s.redeem(a)).toBe(true);
    expect(await s.redeem(a)).toBe(false);
    expect(await s.redeem(b)).toBe(true);
  });

  it("refuses nonces of another instance or an earlier run, forged, tampered or expired ones", async () => {
    let t = 1_000_000;
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {}, now: () => t });
    const earlierRun = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {}, now: () => t });
    expect(await s.redeem(earlierRun.issue())).toBe(false);
    const other = createNonceService({ key: randomBytes(32), store: refusingStore, lifetimeSeconds: 60, local: {} });
    expect(await s.redeem(other.issue())).toBe(false);
    const n = s.issue();
    const flipped = n.slice(0, 10) + (n[10] === "A" ? "B" : "A") + n.slice(11);
    expect(await s.redeem(flipped)).toBe(false);
    expect(await s.redeem("not a nonce")).toBe(false);
    t += 60_000;
    expect(await s.redeem(n)).toBe(false); // expired
  });

  it("is 32 bytes, base64url, and shows nothing of its sequence; the MAC covers every byte; one encoding only", async () => {
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {} });
    const [a, b] = [s.issue(), s.issue()];
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // consecutive counters, yet the sealed halves share no 4-byte run at the same offset
    const [ra, rb] = [Buffer.from(a, "base64url"), Buffer.from(b, "base64url")];
    for (let i = 0; i + 4 <= 16; i += 4) expect(ra.subarray(i, i + 4).equals(rb.subarray(i, i + 4))).toBe(false);
    for (const at of [0, 15, 16, 31]) {
      const bad = Buffer.from(ra);
      bad[at]! ^= 1;
      expect(await s.redeem(bad.toString("base64url"))).toBe(false);
    }
    // the last character carries 4 bits of data and 2 spare ones: another spelling of the same bytes is refused
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(a[42]!);
    const other = a.slice(0, 42) + alphabet[last ^ 1];
    expect(Buffer.from(other, "base64url").equals(ra)).toBe(true);
    expect(await s.redeem(other)).toBe(false);
    expect(await s.redeem(a + "A")).toBe(false);
    expect(await s.redeem(a)).toBe(true);
  });

  it("bounds its memory: past the limit the oldest half is forgotten and older nonces are refused as too old", async () => {
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 3600, local: { maxRedeemed: 10 } });
    const old = s.issue(); // issued first, used last
    const used = Array.from({ length: 11 }, () => s.issue());
    for (const n of used) expect(await s.redeem(n)).toBe(true);
    expect(await s.redeem(old)).toBe(false); // below the floor now
    for (const n of used) expect(await s.redeem(n)).toBe(false); // still single-use: forgotten ones are below the floor
    const fresh = s.issue();
    expect(await s.redeem(fresh)).toBe(true);
  });
});

describe("nonces redeemed in the shared store (several instances)", () => {
  it("asks the store, with the nonce's expiry", async () => {
    const calls: [string, Date][] = [];
    const seen = new Set<string>();
    const store: RedeemedNonceStore = {
      markRedeemed: async (n, e) => {
        calls.push([n, e]);
        if (seen.has(n)) return false;
        seen.add(n);
        return true;
      },
    };
    const t = 5_000_000;
    const a = createNonceService({ key, store, lifetimeSeconds: 60, now: () => t });
    const b = createNonceService({ key, store, lifetimeSeconds: 60, now: () => t });
    const n = a.issue();
    expect(await b.redeem(n)).toBe(true); // another instance's nonce is fine
    expect(await a.redeem(n)).toBe(false);
    expect(calls.map(([, e]) => e.getTime())).toEqual([t + 60_000, t + 60_000]);
  });
});
