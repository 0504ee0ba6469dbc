// bench/procstat.ts: the per-thread CPU the load generator reports (is the server's request thread the limit?)
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cpuBetween, cpuOfCommand, readMainThreadCpu, readProc } from "../../bench/procstat.js";

describe("bench procstat", () => {
  it("reads the CPU of a process's first thread, which is part of the process's total", () => {
    const main0 = readMainThreadCpu(process.pid)!;
    const proc0 = readProc(process.pid)!.cpuSeconds;
    // busy on this (the first) thread until its own counter has moved 0.2 s: on a loaded machine that takes
    // longer than 0.2 s of wall time, so the loop watches the counter, not the clock (bounded at 20 s)
    const giveUp = performance.now() + 20_000;
    let x = 0;
    while (readMainThreadCpu(process.pid)! - main0 < 0.2 && performance.now() < giveUp) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + 1);
    }
    const main = readMainThreadCpu(process.pid)! - main0;
    const proc = readProc(process.pid)!.cpuSeconds - proc0;
    expect(x).toBeGreaterThan(0);
    expect(main).toBeGreaterThanOrEqual(0.2);
    expect(main).toBeLessThanOrEqual(proc + 0.02); // the thread's CPU is part of the process's
  });

  it("answers undefined for a process that is gone", () => {
    expect(readMainThreadCpu(2 ** 22 + 7)).toBeUndefined();
  });

  it("CPU of every process with one command name, per process: one that ends drops out, one that starts counts whole", () => {
    const before = new Map([["100:5", 2.0], ["101:5", 1.5], ["102:7", 0.4]]);
    // 101 ended (a pool closed an idle connection), 102 was reused by a process that started later, 103 is new
    const after = new Map([["100:5", 2.25], ["102:900", 0.05], ["103:950", 0.1]]);
    expect(cpuBetween(before, after)).toBeCloseTo(0.25 + 0.05 + 0.1);
  });

  it("reads the processes of one command name from /proc, keyed by pid and start time", async () => {
    const child = spawn("sleep", ["5"]);
    try {
      await new Promise((r) => child.once("spawn", r));
      const keys = [...cpuOfCommand("sleep").keys()];
      expect(keys.some((k) => k.startsWith(`${child.pid}:`))).toBe(true);
      expect(keys.every((k) => /^\d+:\d+$/.test(k))).toBe(true);
    } finally {
      child.kill();
    }
  });
});
