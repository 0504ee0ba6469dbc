import { describe, expect, it } from "vitest";
import { randomBytes } from "../../src/core/random.js";

describe("pooled random bytes", () => {
  it("hands out each byte once: 20,000 draws across many refills are all distinct and independent buffers", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const n = [4, 12, 16, 32][i % 4]!;
      const b = randomBytes(n);
      expect(b.length).toBe(n);
      seen.add(b.toString("hex"));
      b.fill(0xff); // scribbling on one draw must not show up in another
    }
    expect(seen.size).toBe(20_000);
  });

  it("looks uniform: every byte value appears, none far from the mean", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4096; i++) for (const v of randomBytes(64)) counts[v]!++;
    const mean = (4096 * 64) / 256;
    expect(Math.min(...counts)).toBeGreaterThan(mean * 0.8);
    expect(Math.max(...counts)).toBeLessThan(mean * 1.2);
  });

  it("refuses large draws", () => {
    expect(() => randomBytes(257)).toThrow(RangeError);
  });
});
