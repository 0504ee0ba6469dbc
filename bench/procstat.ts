// CPU and memory of other processes, read from /proc (Linux): utime+stime from /proc/<pid>/stat,
// VmRSS and VmHWM from /proc/<pid>/status. A sampler records RSS on an interval for the curve.
import { readdirSync, readFileSync } from "node:fs";

// USER_HZ is 100 on every Linux architecture Node supports (getconf CLK_TCK); /proc counts in it.
const CLK_TCK = 100;

export interface ProcSnapshot {
  cpuSeconds: number;
  rssMB: number;
  hwmMB: number;
}

/** utime + stime of a /proc/…/stat line, in seconds */
function statCpuSeconds(stat: string): number {
  // the command name may contain spaces and parentheses: fields start after the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
}

/**
 * CPU seconds of a process's first thread (the task whose id is the pid): for Node, the request thread
 * (the event loop); workers, GC and libuv's pool are the other threads. Undefined once it is gone.
 */
export function readMainThreadCpu(pid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** CPU seconds (user+system) and memory of one process, or undefined once it is gone. */
export function readProc(pid: number): ProcSnapshot | undefined {
  try {
    const cpuSeconds = statCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
    return { cpuSeconds, rssMB: kb("VmRSS") / 1024, hwmMB: kb("VmHWM") / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of every process whose command name is `comm` (e.g. all "postgres" backends), by process:
 * the key is the pid with its start time, so a pid the kernel reuses reads as a new process.
 */
export function cpuOfCommand(comm: string): Map<string, number> {
  const byProcess = new Map<string, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== comm) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]; // starttime (field 22)
      byProcess.set(`${entry}:${startTime}`, statCpuSeconds(stat));
    } catch {
      // the process ended while we looked
    }
  }
  return byProcess;
}

/**
 * CPU used between two `cpuOfCommand` readings: each process's own increase, all of it for a process that
 * started in between. A process that ended in between is not counted (its CPU since the first reading is
 * lost), so the figure can only be low, never negative as a difference of two totals is when a connection
 * pool closes idle backends.
 */
export function cpuBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [key, cpu] of after) total += cpu - (before.get(key) ?? 0);
  return total;
}

/** Jiffies of the whole machine (all cores) from /proc/stat: busy and total. */
export function readMachine(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]; // "cpu  user nice system idle iowait irq softirq steal ..."
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

/** Busy CPU of the whole machine between two readings, in cores (1.0 = one core fully busy). */
export function machineCores(a: { busy: number; total: number }, b: { busy: number; total: number }, seconds: number): number {
  return (b.busy - a.busy) / CLK_TCK / seconds;
}

/**
 * Waits until the machine is quiet (other work below `maxCores` over 2 s), for at most `maxWaitS`:
 * on a small shared machine a compiler or test run next door would otherwise be measured too.
 * Returns the busy cores seen last.
 */
export async function waitForQuiet(maxCores: number, maxWaitS: number, log: (m: string) => void): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000;
  for (;;) {
    const a = readMachine();
    await new Promise((r) => setTimeout(r, 2000));
    const cores = machineCores(a, readMachine(), 2);
    if (cores <= maxCores || Date.now() > deadline) return cores;
    log(`machine busy (${cores.toFixed(2)} cores in use by other processes); waiting for it to settle`);
  }
}

export interface RssSample {
  t: number; // seconds since the sampler started
  rssMB: number;
  cpuSeconds: number;
}

export interface Sampler {
  samples: RssSample[];
  /** the highest sampled RSS in this run */
  peakRssMB(): number;
  /** VmHWM: the kernel's peak RSS over the process's whole life (start-up included) */
  hwmMB(): number;
  stop(): RssSample[];
}

/** Samples `pid` every `intervalMs`. */
export function startSampler(pid: number, intervalMs: number): Sampler {
  const t0 = performance.now();
  const samples: RssSample[] = [];
  let hwm = 0;
  const take = () => {
    const s = readProc(pid);
    if (!s) return;
    hwm = Math.max(hwm, s.hwmMB);
    samples.push({ t: Math.round((performance.now() - t0) / 100) / 10, rssMB: round1(s.rssMB), cpuSeconds: s.cpuSeconds });
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    samples,
    peakRssMB: () => round1(Math.max(0, ...samples.map((s) => s.rssMB))),
    hwmMB: () => round1(hwm),
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

export const round1 = (v: number) => Math.round(v * 10) / 10;
