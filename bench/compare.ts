// `npm run bench -- compare`: Anvil on SQLite, Anvil on PostgreSQL and Pebble, each at several
// concurrencies with the same generator and settings, then the ratios Anvil / Pebble.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { runLoad, type LoadResult } from "./load.js";
import { formatResult } from "./report.js";
import { SERVER_KINDS, startStack, type ServerKind } from "./stack.js";
import { fmt, markdownTable, table } from "./stats.js";

const HELP = `Usage: npm run bench -- compare [--servers anvil-sqlite,anvil-pg,pebble] [--concurrency 1,8,32]
  [--duration 20] [--warmup 5] [--prime 2000] [--poll-cap 50] [--revoke] [--quiet-cores 0.3] [--quiet-wait 300]
  [--max-others 25] [--max-retries 2] [--stall-retries 4]
  [--rounds 1] [--json FILE] [--markdown]
The runs go concurrency by concurrency (every server at 1, then every server at 8, …), so that the runs
each ratio compares are close in time. --rounds N does all of it N times; each server and concurrency is then
reported by its median run (by throughput; of an even number, the middle that errs against Anvil in the ratios:
Anvil's lower, Pebble's upper), with every round's rate.
Each run (server × concurrency) starts a fresh server (temp data, fresh PostgreSQL database, Pebble
with PEBBLE_VA_NOSLEEP=1); everything is stopped and removed at the end. Each fresh Anvil first
issues --prime certificates at concurrency 8 (not measured, as the warm-up): Node's JIT optimizes a
function called once per certificate only after ~1,500 certificates, which at concurrency 1 takes a
minute and a half, so without it the concurrency-1 window measures Anvil's unoptimized code. Pebble,
compiled ahead of time, is not primed: it has nothing to warm, and a Pebble holding 2,000 more
certificates wedged while being primed. --prime 0 measures cold servers. Before each run
it waits (up to --quiet-wait s) until other processes use less than --quiet-cores cores, and a run
during which other processes used more than --max-others % of a core is repeated (--max-retries), and
one that stalled (the server stopped answering) too (--stall-retries; if all stall, the longest is kept).`;

/** Priming runs at this concurrency whatever the run's: 2,000 certificates take ~15 s at 8 (a minute and a half at 1). */
const PRIME_CONCURRENCY = 8;

export interface CompareRun {
  server: ServerKind;
  startupMs: number;
  result: LoadResult;
  discarded?: string[]; // why earlier attempts of this run were measured again
  rounds?: number[]; // with --rounds: every round's rate (steadyRate) of this server and concurrency, in run order
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      servers: { type: "string", default: SERVER_KINDS.join(",") },
      concurrency: { type: "string", default: "1,8,32" },
      rounds: { type: "string", default: "1" },
      duration: { type: "string", default: "20" },
      warmup: { type: "string", default: "5" },
      prime: { type: "string", default: "2000" },
      "poll-cap": { type: "string", default: "50" },
      revoke: { type: "boolean", default: false },
      "quiet-cores": { type: "string", default: "0.3" },
      "max-others": { type: "string", default: "25" },
      "max-retries": { type: "string", default: "2" },
      "stall-retries": { type: "string", default: "4" },
      "quiet-wait": { type: "string", default: "300" },
      json: { type: "string" },
      markdown: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return void console.log(HELP);
  const servers = values.servers.split(",").map((s) => s.trim()) as ServerKind[];
  for (const s of servers) if (!SERVER_KINDS.includes(s)) throw new Error(`--servers: unknown "${s}" (${SERVER_KINDS.join(", ")})`);
  const levels = values.concurrency.split(",").map(Number);
  const runs: CompareRun[] = [];
  // concurrency by concurrency, every server at each: the runs a ratio divides are minutes apart, not the whole
  // comparison apart, on a machine whose speed drifts (docs/performance.md, session 16)
  for (let round = 0; round < Number(values.rounds); round++) for (const concurrency of levels) {
    for (const kind of servers) {
      // a fresh server per run: no run inherits another's data, and a wedged Pebble is not reused
      const once = async () => {
        const stack = await startStack(kind);
        try {
          const common = {
            directoryUrl: stack.server.directoryUrl,
            ca: stack.server.ca,
            responder: stack.responder,
            serverPid: stack.server.pid,
            pollCapMs: Number(values["poll-cap"]),
            pollTimeoutMs: 60_000,
            revoke: values.revoke,
            namesPerOrder: 1,
            domain: "bench.test",
            sampleMs: 1000,
            idleS: 0,
          };
          // Anvil only: Pebble has no JIT to warm, and it keeps every certificate, order and authorization in
          // memory; primed, it wedged during the priming itself (four attempts of four, session 9)
          const prime = kind === "pebble" ? 0 : Number(values.prime);
          if (prime > 0) {
            const primed = await runLoad({ ...common, label: `${kind} c=${concurrency} priming`, concurrency: PRIME_CONCURRENCY, certificates: prime, maxDurationS: 300, warmupS: 0 });
            // a server that failed or stalled while priming is measured again, like one that stalled in its window
            if (primed.aborted) {
              const result = { ...primed, label: `${kind} c=${concurrency}`, concurrency, aborted: `while priming: ${primed.aborted}` };
              return { server: kind, startupMs: Math.round(stack.server.startupMs), result };
            }
          }
          const result = await runLoad({
            ...common,
            label: `${kind} c=${concurrency}`,
            cpuCommand: kind === "anvil-pg" ? "postgres" : undefined,
            concurrency,
            durationS: Number(values.duration),
            maxDurationS: 600,
            warmupS: Number(values.warmup),
            quiet: { maxCores: Number(values["quiet-cores"]), maxWaitS: Number(values["quiet-wait"]) },
          });
          return { server: kind, startupMs: Math.round(stack.server.startupMs), result };
        } finally {
          await stack.stop();
        }
      };
      // Measure again after a stall (Pebble 2.4 can deadlock) or when another process was busy during
      // the window (it skews a 2-core machine). If every attempt stalls, keep the longest window.
      const attempts: string[] = [];
      // a run that threw (a server that did not start or refused connections) is started again, within the stall retries
      let thrown = 0;
      const attempt = async (): Promise<CompareRun> => {
        for (;;) {
          try {
            return await once();
          } catch (err) {
            if (++thrown > Number(values["stall-retries"])) throw err;
            attempts.push(`failed: ${(err as Error).message.split("\n")[0]}`);
            console.log(`[${kind} c=${concurrency}] ${attempts.at(-1)}; measuring again`);
          }
        }
      };
      let run = await attempt();
      let [noisy, stalls] = [0, 0];
      for (;;) {
        const why = run.result.aborted ?? (run.result.machine.othersPercent > Number(values["max-others"]) ? `other processes used ${run.result.machine.othersPercent}% of a core` : undefined);
        if (!why) break;
        const stalled = run.result.aborted !== undefined;
        if (stalled ? ++stalls > Number(values["stall-retries"]) : ++noisy > Number(values["max-retries"])) break;
        attempts.push(why);
        console.log(`[${kind} c=${concurrency}] ${why}; measuring again`);
        const next = await attempt();
        if (!(stalled && next.result.aborted && next.result.windowS <= run.result.windowS)) run = next;
      }
      console.log(`\n${formatResult(run.result)}\n`);
      runs.push({ ...run, ...(attempts.length ? { discarded: attempts } : {}) });
    }
  }
  const position = (r: CompareRun) => servers.indexOf(r.server) * levels.length + levels.indexOf(r.result.concurrency);
  const chosen = medianRuns(runs).sort((a, b) => position(a) - position(b));
  console.log(formatComparison(chosen, values.markdown));
  if (values.json) await writeFile(values.json, JSON.stringify(runs, null, 2));
}

/**
 * One run per server and concurrency: the median by throughput (steadyRate) of that pair's rounds, with every
 * round's rate in `rounds` when there was more than one. Of an even number, the middle that errs against Anvil in
 * the ratios: an Anvil server's lower middle, Pebble's upper one. Rounds without a rate (wedged within their first
 * second) are left out unless none has one.
 */
export function medianRuns(runs: CompareRun[]): CompareRun[] {
  const groups = new Map<string, CompareRun[]>();
  for (const r of runs) {
    const key = `${r.server} ${r.result.concurrency}`;
    const group = groups.get(key) ?? [];
    group.push(r);
    groups.set(key, group);
  }
  return [...groups.values()].map((g) => {
    if (g.length === 1) return g[0]!;
    // a run with no rate (wedged within its first second) is chosen only if no round has one
    const rated = g.filter((r) => !Number.isNaN(steadyRate(r.result)));
    const sorted = (rated.length ? rated : g).sort((a, b) => steadyRate(a.result) - steadyRate(b.result));
    const middle = (sorted.length - 1) / 2;
    const pick = g[0]!.server === "pebble" ? Math.ceil(middle) : Math.floor(middle);
    return { ...sorted[pick]!, rounds: g.map((r) => Number(steadyRate(r.result).toFixed(1))) };
  });
}

/**
 * Throughput of a run, or for a run that wedged (stalled or stuck flows) the mean of the whole seconds
 * before the first second in which nothing finished (the last busy second is partial and left out).
 * NaN for a run that wedged within its first second: it has no steady rate to compare with.
 */
export function steadyRate(r: LoadResult): number {
  if (!r.aborted && r.stuckFlows === 0) return r.certsPerSecond;
  const zero = r.perSecond.indexOf(0);
  const before = r.perSecond.slice(0, zero < 0 ? r.perSecond.length : Math.max(0, zero - 1));
  return before.length ? before.reduce((a, b) => a + b, 0) / before.length : NaN;
}

export function formatComparison(runs: CompareRun[], markdown: boolean): string {
  const t = markdown ? markdownTable : table;
  const rows = runs.map(({ server, result: r }) => [
    server,
    String(r.concurrency),
    r.certsPerSecond.toFixed(1),
    fmt(r.latency.flow?.p50 ?? NaN),
    fmt(r.latency.flow?.p95 ?? NaN),
    fmt(r.latency.flow?.p99 ?? NaN),
    `${r.failedFlows}${r.stuckFlows ? ` (${r.stuckFlows} stuck)` : ""}${r.aborted ? " STALLED" : ""}`,
    r.server ? `${r.server.cpuPercent}` : "-",
    r.server ? r.server.cpuMsPerCert.toFixed(1) : "-",
    r.server?.mainThread ? `${r.server.mainThread.cpuPercent}` : "-",
    r.other ? `${r.other.cpuPercent}` : "-",
    r.server ? r.server.peakRssMB.toFixed(0) : "-",
    `${r.generator.cpuPercent}`,
    `${r.machine.othersPercent}`,
  ]);
  const out = [
    t(["server", "conc", "certs/s", "flow p50 ms", "p95", "p99", "failed", "server CPU %", "CPU ms/cert", "thread 1 %", "postgres CPU %", "peak RSS MB", "generator CPU %", "others CPU %"], rows),
  ];
  const pebble = new Map(runs.filter((r) => r.server === "pebble").map((r) => [r.result.concurrency, r.result]));
  const anvils = runs.filter((r) => r.server !== "pebble" && pebble.has(r.result.concurrency));
  if (anvils.length) {
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
    out.push("", "Ratios Anvil / Pebble (throughput > 1 and latency < 1 favour Anvil; a wedged Pebble run counts at its rate before the wedge, '-' if it wedged within its first second):", "");
    out.push(
      t(
        ["server", "conc", "certs/s ratio", "flow p50 ratio", "flow p99 ratio"],
        anvils.map(({ server, result: a }) => {
          const p = pebble.get(a.concurrency)!;
          return [server, String(a.concurrency), ratio(a.certsPerSecond, steadyRate(p)), ratio(a.latency.flow?.p50 ?? 0, p.latency.flow?.p50 ?? 0), ratio(a.latency.flow?.p99 ?? 0, p.latency.flow?.p99 ?? 0)];
        }),
      ),
    );
  }
  for (const r of runs.filter((x) => x.rounds)) out.push(`${r.server} c=${r.result.concurrency}: median of the rounds' rates ${r.rounds!.join(", ")}`);
  const starts = runs.map((r) => `${r.server} c=${r.result.concurrency} ${r.startupMs} ms`).join(", ");
  out.push("", `start-up (spawn → ready): ${starts}`);
  for (const r of runs.filter((x) => x.discarded)) out.push(`${r.server} c=${r.result.concurrency}: measured again after: ${r.discarded!.join("; ")}`);
  for (const r of runs.filter((x) => x.result.aborted || x.result.stuckFlows)) {
    const why = r.result.aborted ?? `${r.result.stuckFlows} of ${r.result.concurrency} flows stuck at the end`;
    const rate = steadyRate(r.result);
    const before = Number.isNaN(rate) ? "no whole second before the wedge: no ratio" : `rate before the wedge ${rate.toFixed(1)}/s`;
    out.push(`${r.server} c=${r.result.concurrency}: ${why}; per second: ${r.result.perSecond.join(" ")}; ${before}`);
  }
  return out.join("\n");
}
