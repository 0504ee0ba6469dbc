// Memory back after a burst (src/core/idle.ts): one full collection once requests stop for idleMs.
import { describe, expect, it } from "vitest";
import { createIdleTrim, fullCollection } from "../../src/core/idle.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("createIdleTrim", () => {
  it("trims once after requests stop for idleMs, not while they come, not before the first, again after the next burst", async () => {
    let trims = 0;
    const idle = createIdleTrim(100, () => trims++);
    try {
      await sleep(300);
      expect(trims).toBe(0); // never busy yet
      for (let i = 0; i < 8; i++) {
        idle.touch();
        await sleep(30);
      }
      expect(trims).toBe(0); // busy all along
      await sleep(400);
      expect(trims).toBe(1);
      await sleep(300);
      expect(trims).toBe(1); // once per quiet spell
      idle.touch();
      await sleep(400);
      expect(trims).toBe(2);
    } finally {
      idle.stop();
    }
  });

  it("fullCollection gives a working gc() even when node started without --expose-gc", async () => {
    const gc = fullCollection();
    const ref = new WeakRef({ payload: new Array(1e5).fill(0) });
    await sleep(0); // a WeakRef holds its target until the job that made it ends
    gc();
    expect(ref.deref()).toBeUndefined();
  });
});
