// An Issuer whose issue() runs in a worker thread (sign-worker.ts). Everything else (names, PEMs,
// chains) comes from the main thread's own Issuer built from the same files. A worker that dies fails
// its pending requests (the RA keeps such orders "processing" and its recovery loop retries them) and
// is replaced on the next request.
import type { KeyObject } from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { ParsedCsr } from "../core/csr.js";
import { AcmeError } from "../errors/index.js";
import type { Issuer, LeafRequest } from "./issuer.js";
import type { SignRequest, SignResponse } from "./sign-worker.js";

export interface WorkerIssuer extends Issuer {
  close(): Promise<void>;
}

interface Running {
  worker: Worker;
  pending: Map<number, { resolve: (m: SignResponse) => void; reject: (err: Error) => void }>;
}

/**
 * The compiled worker next to this file; or, when this module runs as TypeScript source (the test
 * runner), a bootstrap that registers tsx's loader in the worker and then imports the source.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith(".ts")) return new URL("./sign-worker.js", import.meta.url);
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL("./sign-worker.ts", import.meta.url).href;
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

export function inWorker(local: Issuer, key: KeyObject): WorkerIssuer {
  let running: Running | undefined;
  let nextId = 1;
  let closed = false;

  function start(): Running {
    // execArgv: [] — the process's own flags (--import hooks, --cpu-prof, …) are not the worker's business
    const worker = new Worker(workerEntry(), { workerData: { rootDer: local.rootDer, intermediateDer: local.intermediateDer, key }, execArgv: [] });
    worker.unref(); // never what keeps the process alive
    const pending: Running["pending"] = new Map();
    const r: Running = { worker, pending };
    const fail = (err: Error) => {
      if (running === r) running = undefined;
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    // requests posted before the worker has loaded its key wait in its port until it listens
    worker.on("message", (m: SignResponse) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if ("error" in m) p.reject(m.acme ? new AcmeError(m.acme.type, m.error, { status: m.acme.status }) : new Error(`signing worker: ${m.error}`));
      else p.resolve(m);
    });
    worker.on("error", (err) => fail(err));
    worker.on("exit", (code) => fail(new Error(`the signing worker exited (code ${code})`)));
    return r;
  }

  function ask(make: (id: number) => SignRequest): Promise<SignResponse> {
    if (closed) return Promise.reject(new Error("the issuer is closed"));
    const r = (running ??= start());
    const id = nextId++;
    const result = new Promise<SignResponse>((resolve, reject) => r.pending.set(id, { resolve, reject }));
    r.worker.postMessage(make(id));
    return result;
  }

  return {
    id: local.id,
    rootPem: local.rootPem,
    intermediatePem: local.intermediatePem,
    rootDer: local.rootDer,
    intermediateDer: local.intermediateDer,
    rootSubjectCN: local.rootSubjectCN,
    intermediateSubjectCN: local.intermediateSubjectCN,
    intermediateNotAfter: local.intermediateNotAfter,
    chainPems: (leafDer) => local.chainPems(leafDer),
    async issue(req: LeafRequest): Promise<Uint8Array> {
      const m = await ask((id) => ({ id, req }));
      if (!("der" in m)) throw new Error("signing worker: unexpected answer");
      return new Uint8Array(m.der);
    },
    async parseCsr(der: Uint8Array): Promise<ParsedCsr> {
      const m = await ask((id) => ({ id, csr: der }));
      if (!("parsed" in m)) throw new Error("signing worker: unexpected answer");
      return m.parsed;
    },
    async close() {
      closed = true;
      const r = running;
      running = undefined;
      await r?.worker.terminate();
    },
  };
}
