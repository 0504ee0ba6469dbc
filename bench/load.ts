// The load generator: one account per worker, then complete issuances in a closed loop. A warm-up
// runs first and is discarded; the measured window ends after a duration or a number of certificates,
// whichever comes first. The server's CPU and RSS come from /proc, the generator's own CPU from
// process.cpuUsage(), so a result shows whether the generator itself was the limit.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { AcmeSession, createHttp, FlowError } from "./client.js";
import { certificateFlow, startResponder, type FlowOptions, type Responder } from "./flow.js";
import { cpuBetween, cpuOfCommand, machineCores, readMachine, readMainThreadCpu, readProc, round1, startSampler, waitForQuiet, type RssSample } from "./procstat.js";
import { Recorder, summarize, type LatencySummary } from "./stats.js";

export interface LoadOptions extends FlowOptions {
  directoryUrl: string;
  ca?: string; // PEM bundle to trust
  concurrency: number;
  certificates?: number; // stop the measured window after this many certificates
  durationS?: number; // ... or after this many seconds
  maxDurationS: number; // the bound when only `certificates` is given
  warmupS: number;
  serverPid?: number;
  sampleMs: number; // RSS sampling interval
  idleS: number; // keep sampling this long after the load (idle RSS)
  stallS?: number; // no flow finished for this long: the server is stuck; stop (default 15)
  responder?: Responder; // shared with the caller (compare); else one is started on responderPort
  responderPort?: number;
  label?: string;
  cpuCommand?: string; // also report the CPU of every process with this name (e.g. "postgres")
  /** before starting, wait (at most maxWaitS) until other processes use less than maxCores */
  quiet?: { maxCores: number; maxWaitS: number };
  progress?: boolean;
}

export interface LoadResult {
  label?: string;
  directoryUrl: string;
  concurrency: number;
  pollCapMs: number;
  warmupS: number;
  windowS: number;
  /** the measured window on the monotonic clock (µs), to cut a server's CPU profile to it */
  monotonicWindowUs: [number, number];
  certificates: number;
  certsPerSecond: number;
  failedFlows: number;
  /** flows still running more than 5 s after they started when the window closed (a wedged server) */
  stuckFlows: number;
  /** certificates finished in each second of the window (a stall shows as a run of zeros) */
  perSecond: number[];
  errors: Record<string, number>;
  retries: Record<string, number>;
  aborted?: string;
  latency: Record<string, LatencySummary>;
  server?: {
    pid: number;
    cpuSeconds: number;
    cpuPercent: number; // of one core, over the window
    cpuMsPerCert: number;
    /** the process's first thread: for Node (Anvil) the request thread; near 100% means it is the bottleneck */
    mainThread?: { cpuPercent: number; cpuMsPerCert: number };
    peakRssMB: number;
    hwmMB: number;
    idleRssMB?: number;
    rss: RssSample[];
  };
  other?: { command: string; cpuSeconds: number; cpuPercent: number };
  generator: { cpuSeconds: number; cpuPercent: number; eventLoopDelayP99Ms: number; eventLoopDelayMaxMs: number };
  /** the whole machine over the window, in % of one core (200% = both cores of a 2-core machine) */
  machine: { busyPercent: number; othersPercent: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const log = (msg: string) => o.progress !== false && process.stderr.write(`${o.label ? `[${o.label}] ` : ""}${msg}\n`);
  const { http, close } = createHttp({ ca: o.ca });
  const responder = o.responder ?? (await startResponder(o.responderPort ?? 0));
  const rec = new Recorder();
  try {
    if (o.quiet) {
      const cores = await waitForQuiet(o.quiet.maxCores, o.quiet.maxWaitS, log);
      if (cores > o.quiet.maxCores) log(`starting anyway: the machine is still busy (${cores.toFixed(2)} cores)`);
    }
    const directory = await AcmeSession.directoryOf(http, o.directoryUrl);
    const sessions = Array.from({ length: o.concurrency }, () => new AcmeSession(http, directory, rec));
    await Promise.all(sessions.map((s) => s.register()));

    let stopping = false;
    let aborted: string | undefined;
    let failStreak = 0;
    let measuring = false;
    let tStop = 0;
    let hrStop = 0;
    let lastProgress = performance.now();
    let lastProgressHr = hrUs();
    let onStop = () => {};
    const stopped = new Promise<void>((r) => (onStop = r));
    const stop = () => {
      if (stopping) return;
      stopping = true;
      tStop = performance.now();
      hrStop = hrUs();
      onStop();
    };
    const flowStart = new Map<AcmeSession, number>();
    const perSecond: number[] = [];
    let tMeasure = 0;
    const worker = async (s: AcmeSession) => {
      while (!stopping) {
        const t0 = performance.now();
        flowStart.set(s, t0);
        try {
          await certificateFlow(s, responder, o);
          (lastProgress = performance.now()), (lastProgressHr = hrUs());
          failStreak = 0;
          if (stopping) break; // finished after the window: not counted
          rec.latency("flow", performance.now() - t0);
          const sec = Math.floor((performance.now() - tMeasure) / 1000);
          if (measuring) perSecond[sec] = (perSecond[sec] ?? 0) + 1;
          if (measuring && ++rec.certificates >= (o.certificates ?? Infinity)) stop();
        } catch (err) {
          if (stopping) break;
          (lastProgress = performance.now()), (lastProgressHr = hrUs());
          rec.error(err instanceof FlowError ? err.type : ((err as { code?: string }).code ?? (err as Error).message.slice(0, 60)));
          if (++failStreak >= Math.max(50, 5 * o.concurrency)) {
            aborted = `${failStreak} failures in a row; last: ${(err as Error).message.slice(0, 300)}`;
            stop();
          }
          await sleep(20);
        }
      }
    };
    const running = sessions.map(worker);
    // A server that stops answering (Pebble 2.4 can deadlock under concurrency) must not hang the
    // run: the window then ends at the last finished flow, the result is marked, sockets are cut.
    const stallS = o.stallS ?? 15;
    const watchdog = setInterval(() => {
      if (stopping || performance.now() - lastProgress < stallS * 1000) return;
      aborted = `stalled: no flow finished for ${stallS} s (the server stopped answering)`;
      stop();
      (tStop = lastProgress), (hrStop = lastProgressHr);
      close();
    }, 1000);
    watchdog.unref();

    if (o.warmupS > 0) {
      log(`warm-up ${o.warmupS} s at concurrency ${o.concurrency}`);
      await Promise.race([sleep(o.warmupS * 1000), Promise.all(running)]);
    }
    // a warm-up that failed yields an empty, marked result rather than an exception
    if (aborted) aborted = `during the warm-up: ${aborted}; errors: ${JSON.stringify(Object.fromEntries(rec.errors))}`;
    rec.reset();
    tMeasure = performance.now();
    measuring = true;
    const server0 = o.serverPid ? readProc(o.serverPid) : undefined;
    const main0 = o.serverPid ? readMainThreadCpu(o.serverPid) : undefined;
    const other0 = o.cpuCommand ? cpuOfCommand(o.cpuCommand) : undefined;
    const gen0 = process.cpuUsage();
    const machine0 = readMachine();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const sampler = o.serverPid ? startSampler(o.serverPid, o.sampleMs) : undefined;
    const t0 = performance.now();
    const hrStart = hrUs();
    const limitS = o.durationS ?? o.maxDurationS;
    const timer = setTimeout(stop, limitS * 1000);
    const ticker = setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      const rss = o.serverPid ? ` server RSS ${round1(readProc(o.serverPid)?.rssMB ?? NaN)} MB` : "";
      log(`${s.toFixed(0)} s: ${rec.certificates} certs (${(rec.certificates / s).toFixed(1)}/s), ${[...rec.errors.values()].reduce((a, b) => a + b, 0)} errors${rss}`);
    }, 5000);
    await stopped;
    clearTimeout(timer);
    clearInterval(ticker);
    rec.active = false;
    clearInterval(watchdog);
    const stuckFlows = [...flowStart.values()].filter((t) => tStop - t > 5000).length;
    const windowS = Math.max(0.001, (tStop - t0) / 1000);
    const gen = process.cpuUsage(gen0);
    // CPU shares are over the time the counters ran (a stalled window ends earlier than they do)
    const cpuS = (performance.now() - t0) / 1000;
    const machineBusy = machineCores(machine0, readMachine(), cpuS);
    loop.disable();
    const server1 = o.serverPid ? readProc(o.serverPid) : undefined;
    const main1 = o.serverPid ? readMainThreadCpu(o.serverPid) : undefined;
    const other1 = o.cpuCommand ? cpuOfCommand(o.cpuCommand) : undefined;
    const otherCpu = other0 && other1 ? cpuBetween(other0, other1) : 0;
    // in-flight flows finish (not counted) so nothing is cut mid-request, within the poll timeout
    await Promise.race([Promise.all(running), sleep(o.pollTimeoutMs + 5000)]);
    close();

    let idleRssMB: number | undefined;
    if (sampler && o.idleS > 0) {
      log(`idle ${o.idleS} s`);
      await sleep(o.idleS * 1000);
      idleRssMB = readProc(o.serverPid!)?.rssMB;
    }
    const samples = sampler?.stop() ?? [];
    const latency: Record<string, LatencySummary> = {};
    for (const [k, v] of rec.samples) latency[k] = summarize(v);
    const serverCpu = server0 && server1 ? server1.cpuSeconds - server0.cpuSeconds : NaN;
    const mainCpu = main0 !== undefined && main1 !== undefined ? main1 - main0 : undefined;
    const genCpu = (gen.user + gen.system) / 1e6;
    const known = genCpu + (Number.isFinite(serverCpu) ? serverCpu : 0) + otherCpu;
    return {
      label: o.label,
      directoryUrl: o.directoryUrl,
      concurrency: o.concurrency,
      pollCapMs: o.pollCapMs,
      warmupS: o.warmupS,
      windowS: round3(windowS),
      monotonicWindowUs: [hrStart, hrStop],
      certificates: rec.certificates,
      certsPerSecond: round3(rec.certificates / windowS),
      failedFlows: [...rec.errors.values()].reduce((a, b) => a + b, 0),
      stuckFlows,
      perSecond: Array.from({ length: Math.max(1, Math.round(windowS)) }, (_, i) => perSecond[i] ?? 0),
      errors: Object.fromEntries(rec.errors),
      retries: Object.fromEntries(rec.retries),
      ...(aborted ? { aborted } : {}),
      latency,
      ...(o.serverPid && sampler
        ? {
            server: {
              pid: o.serverPid,
              cpuSeconds: round3(serverCpu),
              cpuPercent: round1((100 * serverCpu) / cpuS),
              cpuMsPerCert: round3((1000 * serverCpu) / rec.certificates),
              ...(mainCpu !== undefined
                ? { mainThread: { cpuPercent: round1((100 * mainCpu) / cpuS), cpuMsPerCert: round3((1000 * mainCpu) / rec.certificates) } }
                : {}),
              peakRssMB: sampler.peakRssMB(),
              hwmMB: sampler.hwmMB(),
              ...(idleRssMB !== undefined ? { idleRssMB: round1(idleRssMB) } : {}),
              rss: samples,
            },
          }
        : {}),
      ...(o.cpuCommand
        ? { other: { command: o.cpuCommand, cpuSeconds: round3(otherCpu), cpuPercent: round1((100 * otherCpu) / cpuS) } }
        : {}),
      generator: {
        cpuSeconds: round3(genCpu),
        cpuPercent: round1((100 * genCpu) / cpuS),
        eventLoopDelayP99Ms: round3(loop.percentile(99) / 1e6),
        eventLoopDelayMaxMs: round3(loop.max / 1e6),
      },
      machine: { busyPercent: round1(100 * machineBusy), othersPercent: round1(Math.max(0, 100 * machineBusy - (100 * known) / cpuS)) },
    };
  } finally {
    if (!o.responder) await responder.close();
    close();
  }
}

const hrUs = () => Number(process.hrtime.bigint() / 1000n);
const round3 = (v: number) => Math.round(v * 1000) / 1000;
