// bench/compare.ts: the rate a wedged Pebble run is compared at (its whole seconds before the wedge), and the run
// that stands for several rounds.
import { describe, expect, it } from "vitest";
import { medianRuns, steadyRate, type CompareRun } from "../../bench/compare.js";
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

describe("medianRuns (--rounds)", () => {
  const at = (server: CompareRun["server"], concurrency: number, perSecond: number[], wedged: { aborted?: string } = {}): CompareRun => ({
    server,
    startupMs: 0,
    result: { ...run(perSecond, wedged), concurrency } as LoadResult,
  });

  it("one run per server and concurrency: the median by rate, of an even number the middle that favours Pebble, with every round's rate", () => {
    const runs = [at("anvil-pg", 32, [150]), at("pebble", 32, [210, 190, 0, 0], { aborted: "stalled" }), at("anvil-pg", 32, [130]), at("anvil-pg", 32, [170]),
      at("pebble", 32, [120, 180, 0], { aborted: "stalled" }), at("anvil-pg", 8, [90]), at("anvil-pg", 8, [80])];
    const chosen = medianRuns(runs);
    expect(chosen.map((r) => [r.server, r.result.concurrency, steadyRate(r.result), r.rounds])).toEqual([
      ["anvil-pg", 32, 150, [150, 130, 170]],
      // a wedged Pebble counts at its rate before the wedge (the last busy second, partial, left out): 210 and 120;
      // of an even number Pebble's upper middle and Anvil's lower middle, so the ratio errs against Anvil
      ["pebble", 32, 210, [210, 120]],
      ["anvil-pg", 8, 80, [90, 80]],
    ]);
  });

  it("a round that wedged within its first second is passed over while another round has a rate; alone, it is kept", () => {
    const chosen = medianRuns([at("pebble", 8, [60, 0, 0], { aborted: "stalled" }), at("pebble", 8, [70, 75, 0], { aborted: "stalled" })]);
    expect(chosen.map((r) => [steadyRate(r.result), r.rounds])).toEqual([[70, [NaN, 70]]]);
    const alone = medianRuns([at("pebble", 1, [5, 0], { aborted: "stalled" }), at("pebble", 1, [0, 0], { aborted: "stalled" })]);
    expect(alone).toHaveLength(1);
    expect(steadyRate(alone[0]!.result)).toBeNaN();
  });
});
