// bench/compare.ts: the rate a wedged Pebble run is compared at (its whole seconds before the wedge).
import { describe, expect, it } from "vitest";
import { steadyRate } from "../../bench/compare.js";
import type { LoadResult } from "../../bench/load.js";

const run = (perSecond: number[], wedged: { aborted?: string; stuckFlows?: number }): LoadResult =>
  ({ perSecond, certsPerSecond: perSecond.reduce((a, b) => a + b, 0) / perSecond.length, stuckFlows: 0, ...wedged }) as unknown as LoadResult;

describe("steadyRate", () => {
  it("a run that did not wedge: its throughput", () => {
    expect(steadyRate(run([100, 120, 110], {}))).toBeCloseTo(110);
  });

  it("a wedged run: the whole seconds before the first empty one, without the partial last busy second", () => {
    expect(steadyRate(run([151, 186, 172, 202, 134, 0, 0, 0], { aborted: "stalled" }))).toBeCloseTo((151 + 186 + 172 + 202) / 4);
  });

  it("wedged within its first second, or before anything finished: no steady rate, so no ratio", () => {
    expect(steadyRate(run([76, 0, 0, 0], { aborted: "stalled" }))).toBeNaN();
    expect(steadyRate(run([0, 0, 0], { aborted: "stalled" }))).toBeNaN();
  });

  it("flows stuck at the end without an empty second: the mean of every second", () => {
    expect(steadyRate(run([90, 110], { stuckFlows: 3 }))).toBeCloseTo(100);
  });
});
