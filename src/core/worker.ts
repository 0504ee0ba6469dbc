// A request/response channel to a worker thread, for CPU work moved off the request thread (signing,
// CSR parsing, validation). Requests carry an id; a worker that dies fails its pending requests and is
// replaced on the next one; the worker never keeps the process alive; close() terminates it. A worker
// with nothing to do for `idleMs` is stopped, and started again by the next request: its V8 heap and
// buffers (20–40 MB each) go back to the system after a burst instead of staying for good.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { IDLE_MS } from "./idle.js";

export interface WorkerReply {
  id: number;
}

export interface WorkerChannel<Req, Res extends WorkerReply> {
  /** Posts `make(id)` and resolves with the worker's reply of that id. */
  ask(make: (id: number) => Req & { id: number }): Promise<Res>;
  close(): Promise<void>;
}

/**
 * The worker module `file` next to `base` (an import.meta.url): the compiled `.js`, or, when `base` is
 * TypeScript source (the test runner), a bootstrap that registers tsx's loader in the worker and then
 * imports the `.ts` source.
 */
export function workerEntry(base: string, file: string): URL {
  if (!base.endsWith(".ts")) return new URL(`./${file}.js`, base);
  const tsx = pathToFileURL(createRequire(base).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL(`./${file}.ts`, base).href;
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

export function workerChannel<Req, Res extends WorkerReply>(
  entry: URL,
  workerData: unknown,
  opts: { name: string; onMessage?: (m: unknown) => boolean; idleMs?: number },
): WorkerChannel<Req, Res> {
  interface Running {
    worker: Worker;
    pending: Map<number, { resolve: (m: Res) => void; reject: (err: Error) => void }>;
  }
  let running: Running | undefined;
  let nextId = 1;
  let closed = false;
  const idleMs = opts.idleMs ?? IDLE_MS; // restarting a worker takes ~0.1–0.3 s
  let idleTimer: NodeJS.Timeout | undefined;
  const stopIfIdle = () => {
    const r = running;
    if (!r || r.pending.size > 0) return;
    running = undefined;
    void r.worker.terminate();
  };
  // (re)armed whenever the last pending request is answered; an ask in between finds pending non-empty
  const armIdle = () => {
    if (idleTimer) idleTimer.refresh();
    else (idleTimer = setTimeout(stopIfIdle, idleMs)).unref();
  };

  function start(): Running {
    // execArgv: [] — the process's own flags (--import hooks, --cpu-prof, …) are not the worker's business
    // a small young generation: these threads keep little alive, and each isolate's new space counts in RSS
    const worker = new Worker(entry, { workerData, execArgv: [], name: opts.name, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    worker.unref();
    const r: Running = { worker, pending: new Map() };
    const fail = (err: Error) => {
      if (running === r) running = undefined;
      for (const p of r.pending.values()) p.reject(err);
      r.pending.clear();
    };
    // requests posted before the worker listens wait in its port
    worker.on("message", (m: Res) => {
      if (opts.onMessage?.(m)) return; // e.g. a log line
      const p = r.pending.get(m.id);
      if (!p) return;
      r.pending.delete(m.id);
      if (r.pending.size === 0) armIdle();
      p.resolve(m);
    });
    worker.on("error", (err) => fail(err));
    worker.on("exit", (code) => fail(new Error(`the ${opts.name} worker exited (code ${code})`)));
    return r;
  }

  return {
    ask(make) {
      if (closed) return Promise.reject(new Error(`the ${opts.name} worker is closed`));
      const r = (running ??= start());
      const id = nextId++;
      const result = new Promise<Res>((resolve, reject) => r.pending.set(id, { resolve, reject }));
      r.worker.postMessage(make(id));
      return result;
    },
    async close() {
      closed = true;
      clearTimeout(idleTimer);
      const r = running;
      running = undefined;
      await r?.worker.terminate();
    },
  };
}
