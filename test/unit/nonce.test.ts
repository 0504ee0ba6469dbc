// Nonces (RFC 8555 §6.5): sealed, expiring, single use; redeemed in a shared store or, for the only
// instance (SQLite), in bounded memory.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createNonceService, type NonceService, type RedeemedNonceStore } from "../../src/nonce/index.js";

/** A whole redemption as a request makes it: claim, then settle; true when the nonce was good and unused. */
async function redeem(s: NonceService, nonce: string): Promise<boolean> {
  const claim = s.claim(nonce);
  if (!claim) return false;
  return claim.settle().then(
    () => true,
    (err: unknown) => (claim.state === "refused" ? false : Promise.reject(err)),
  );
}

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
    expect(await redeem(s, a)).toBe(true);
    expect(await redeem(s, a)).toBe(false);
    expect(await redeem(s, b)).toBe(true);
  });

  it("refuses nonces of another instance or an earlier run, forged, tampered or expired ones", async () => {
    let t = 1_000_000;
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {}, now: () => t });
    const earlierRun = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {}, now: () => t });
    expect(await redeem(s, earlierRun.issue())).toBe(false);
    const other = createNonceService({ key: randomBytes(32), store: refusingStore, lifetimeSeconds: 60, local: {} });
    expect(await redeem(s, other.issue())).toBe(false);
    const n = s.issue();
    const flipped = n.slice(0, 10) + (n[10] === "A" ? "B" : "A") + n.slice(11);
    expect(await redeem(s, flipped)).toBe(false);
    expect(await redeem(s, "not a nonce")).toBe(false);
    t += 60_000;
    expect(await redeem(s, n)).toBe(false); // expired
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
      expect(await redeem(s, bad.toString("base64url"))).toBe(false);
    }
    // the last character carries 4 bits of data and 2 spare ones: another spelling of the same bytes is refused
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(a[42]!);
    const other = a.slice(0, 42) + alphabet[last ^ 1];
    expect(Buffer.from(other, "base64url").equals(ra)).toBe(true);
    expect(await redeem(s, other)).toBe(false);
    expect(await redeem(s, a + "A")).toBe(false);
    expect(await redeem(s, a)).toBe(true);
  });

  it("bounds its memory: past the limit the oldest half is forgotten and older nonces are refused as too old", async () => {
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 3600, local: { maxRedeemed: 10 } });
    const old = s.issue(); // issued first, used last
    const used = Array.from({ length: 11 }, () => s.issue());
    for (const n of used) expect(await redeem(s, n)).toBe(true);
    expect(await redeem(s, old)).toBe(false); // below the floor now
    for (const n of used) expect(await redeem(s, n)).toBe(false); // still single-use: forgotten ones are below the floor
    const fresh = s.issue();
    expect(await redeem(s, fresh)).toBe(true);
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
    expect(await redeem(b, n)).toBe(true); // another instance's nonce is fine
    expect(await redeem(a, n)).toBe(false);
    expect(calls.map(([, e]) => e.getTime())).toEqual([t + 60_000, t + 60_000]);
  });
});

describe("nonce claims (carried by the request's first statement, or recorded alone)", () => {
  const counting = () => {
    const seen = new Set<string>();
    let calls = 0;
    const store: RedeemedNonceStore = {
      markRedeemed: async (n) => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        if (seen.has(n)) return false;
        seen.add(n);
        return true;
      },
    };
    return { store, seen, calls: () => calls };
  };

  it("in memory a claim is redeemed when it is handed out, and a nonce gets one claim", () => {
    const s = createNonceService({ key, store: refusingStore, lifetimeSeconds: 60, local: {} });
    const n = s.issue();
    const c = s.claim(n)!;
    expect(c.state).toBe("redeemed");
    expect(c.redeemed).toBe(true);
    expect(s.claim(n)).toBeUndefined();
    expect(s.claim("A".repeat(43))).toBeUndefined();
  });

  it("settle() records a pending claim once, however many wait for it; a second claim of the nonce is refused with badNonce", async () => {
    const { store, calls } = counting();
    const s = createNonceService({ key, store, lifetimeSeconds: 60 });
    const n = s.issue();
    const c = s.claim(n)!;
    expect(c.state).toBe("pending");
    await Promise.all([c.settle(), c.settle(), c.settle()]);
    expect(c.state).toBe("redeemed");
    expect(calls()).toBe(1);
    const again = s.claim(n)!; // genuine and unexpired: only the store knows it was used
    await expect(again.settle()).rejects.toMatchObject({ type: "badNonce" });
    expect(again.state).toBe("refused");
    await expect(again.settle()).rejects.toMatchObject({ type: "badNonce" }); // stays refused, no second insert
    expect(calls()).toBe(2);
  });

  it("a claim a statement carried is settled by that statement's outcome, not by the store", async () => {
    const { store, calls } = counting();
    const s = createNonceService({ key, store, lifetimeSeconds: 60 });
    const ok = s.claim(s.issue())!;
    expect(ok.take()).toBe(true);
    expect(ok.take()).toBe(false); // one statement carries it
    const waiting = ok.settle(); // e.g. a second statement of the same request: waits for the first
    ok.carried(true);
    await waiting;
    expect(ok.state).toBe("redeemed");

    const replayed = s.claim(s.issue())!;
    replayed.take();
    const refused = replayed.settle();
    replayed.carried(false);
    await expect(refused).rejects.toMatchObject({ type: "badNonce" });
    expect(calls()).toBe(0);
  });

  it("a carrying statement that failed otherwise hands the claim back, and settle() then records it alone", async () => {
    const { store, seen, calls } = counting();
    const s = createNonceService({ key, store, lifetimeSeconds: 60 });
    const n = s.issue();
    const c = s.claim(n)!;
    c.take();
    c.carried(undefined);
    expect(c.state).toBe("pending");
    await c.settle();
    expect(calls()).toBe(1);
    expect(seen.has(n)).toBe(true);
  });

  it("a store that cannot be reached leaves the claim pending and the error with the caller", async () => {
    let down = true;
    const store: RedeemedNonceStore = {
      markRedeemed: async () => {
        if (down) throw new Error("connection refused");
        return true;
      },
    };
    const s = createNonceService({ key, store, lifetimeSeconds: 60 });
    const c = s.claim(s.issue())!;
    await expect(c.settle()).rejects.toThrow("connection refused");
    expect(c.state).toBe("pending");
    down = false;
    await c.settle();
    expect(c.state).toBe("redeemed");
  });
});
