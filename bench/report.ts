// Printing a load result: the latency table, errors, throughput and the CPU/RSS lines.
import type { LoadResult } from "./load.js";
import { latencyTable } from "./stats.js";

export function formatResult(r: LoadResult): string {
  const lines: string[] = [];
  lines.push(`${r.label ? `${r.label}: ` : ""}${r.directoryUrl}, concurrency ${r.concurrency}, poll cap ${r.pollCapMs} ms, warm-up ${r.warmupS} s`);
  lines.push(`certificates: ${r.certificates} in ${r.windowS.toFixed(1)} s = ${r.certsPerSecond.toFixed(2)} certificates/s`);
  if (r.aborted) lines.push(`ABORTED: ${r.aborted}`);
  const errs = Object.entries(r.errors);
  lines.push(`failed flows: ${r.failedFlows}${errs.length ? ` (${errs.map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}`);
  if (r.perSecond.length > 1) lines.push(`certificates per second: ${r.perSecond.join(" ")}`);
  if (r.stuckFlows) lines.push(`flows stuck (running > 5 s when the window closed): ${r.stuckFlows} of ${r.concurrency}`);
  const retries = Object.entries(r.retries);
  if (retries.length) lines.push(`retried requests: ${retries.map(([k, v]) => `${k}: ${v}`).join(", ")}`);
  lines.push("");
  lines.push(latencyTable(r.latency));
  lines.push("");
  if (r.server) {
    const s = r.server;
    lines.push(
      `server pid ${s.pid}: CPU ${s.cpuSeconds.toFixed(2)} s (${s.cpuPercent}% of one core, ${s.cpuMsPerCert.toFixed(2)} ms/cert), ` +
        (s.mainThread ? `first thread ${s.mainThread.cpuPercent}% of one core (${s.mainThread.cpuMsPerCert.toFixed(2)} ms/cert), ` : "") +
        `peak RSS ${s.peakRssMB} MB (sampled), VmHWM ${s.hwmMB} MB${s.idleRssMB !== undefined ? `, idle RSS after ${s.idleRssMB} MB` : ""}`,
    );
  }
  if (r.other) lines.push(`all "${r.other.command}" processes: CPU ${r.other.cpuSeconds.toFixed(2)} s (${r.other.cpuPercent}% of one core)`);
  const g = r.generator;
  lines.push(
    `generator: CPU ${g.cpuSeconds.toFixed(2)} s (${g.cpuPercent}% of one core), event-loop delay p99 ${g.eventLoopDelayP99Ms.toFixed(1)} ms, max ${g.eventLoopDelayMaxMs.toFixed(1)} ms`,
  );
  lines.push(`machine: ${r.machine.busyPercent}% of one core busy in all (${r.machine.othersPercent}% by other processes)`);
  return lines.join("\n");
}

/** The RSS curve as "t s: MB" pairs, one line. */
export function formatRss(r: LoadResult): string {
  return (r.server?.rss ?? []).map((s) => `${s.t.toFixed(0)}s:${s.rssMB.toFixed(0)}`).join(" ");
}
