// Object ids (src/core/ids.ts): URL-safe, unguessable, and ordered by creation time, so that new rows land at
// the right edge of their indexes.
import { afterEach, describe, expect, it, vi } from "vitest";
import { newId } from "../../src/core/ids.js";

describe("newId", () => {
  afterEach(() => vi.useRealTimers());

  it("is 26 URL-safe characters: 10 of time, 16 of randomness (96 bits)", () => {
    const ids = Array.from({ length: 2000 }, newId);
    for (const id of ids) expect(id).toMatch(/^[0-9a-v]{10}[A-Za-z0-9_-]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // the random part is not a counter: ids made in the same millisecond still differ in most characters
    const sameMs = ids.filter((id) => id.slice(0, 10) === ids[0]!.slice(0, 10)).map((id) => id.slice(10));
    if (sameMs.length > 1) expect([...sameMs[0]!].filter((c, i) => c === sameMs[1]![i]).length).toBeLessThan(8);
  });

  it("sorts by creation time, as bytes and in a locale's collation", () => {
    vi.useFakeTimers();
    const times = [0, 1, 31, 32, 1_000, 1_764_374_400_000, 1_764_374_400_001, 4_102_444_800_000]; // 1970 … 2100
    const ids = times.map((t) => {
      vi.setSystemTime(t);
      return newId();
    });
    const prefixes = ids.map((id) => id.slice(0, 10));
    expect([...prefixes].sort()).toEqual(prefixes);
    expect([...prefixes].sort((a, b) => a.localeCompare(b, "en"))).toEqual(prefixes);
    expect(prefixes.map((p) => parseInt(p, 32))).toEqual(times); // the creation time, read back
  });
});
