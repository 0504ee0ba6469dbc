// bench/procstat.ts: the per-thread CPU the load generator reports (is the server's request thread the limit?)
import { describe, expect, it } from "vitest";
import { readMainThreadCpu, readProc } from "../../bench/procstat.js";

describe("bench procstat", () => {
  it("reads the CPU of a process's first thread, which is part of the process's total", () => {
    const main0 = readMainThreadCpu(process.pid)!;
    const proc0 = readProc(process.pid)!.cpuSeconds;
    const until = performance.now() + 300;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1); // busy on this (the first) thread
    const main = readMainThreadCpu(process.pid)! - main0;
    const proc = readProc(process.pid)!.cpuSeconds - proc0;
    expect(x).toBeGreaterThan(0);
    expect(main).toBeGreaterThanOrEqual(0.15); // clock ticks of 10 ms: ~0.3 s, whatever else the machine does
    expect(main).toBeLessThanOrEqual(proc + 0.02);
  });

  it("answers undefined for a process that is gone", () => {
    expect(readMainThreadCpu(2 ** 22 + 7)).toBeUndefined();
  });
});
