// An Issuer whose issue() and parseCsr() run in a worker thread (sign-worker.ts). Everything else
// (names, PEMs, chains) comes from the main thread's own Issuer built from the same files. A worker that
// dies fails its pending requests (the RA keeps such orders "processing" and its recovery loop retries
// them) and is replaced on the next request (core/worker.ts).
import type { KeyObject } from "node:crypto";
import type { ParsedCsr } from "../core/csr.js";
import { workerChannel, workerEntry } from "../core/worker.js";
import { AcmeError } from "../errors/index.js";
import type { Issuer, LeafRequest } from "./issuer.js";
import type { SignRequest, SignResponse } from "./sign-worker.js";

export interface WorkerIssuer extends Issuer {
  close(): Promise<void>;
}

export function inWorker(local: Issuer, key: KeyObject): WorkerIssuer {
  const channel = workerChannel<SignRequest, SignResponse>(
    workerEntry(import.meta.url, "sign-worker"),
    { rootDer: local.rootDer, intermediateDer: local.intermediateDer, key },
    { name: "signing" },
  );
  async function ask(make: (id: number) => SignRequest): Promise<SignResponse> {
    const m = await channel.ask(make);
    if ("error" in m) throw m.acme ? new AcmeError(m.acme.type, m.error, { status: m.acme.status }) : new Error(`signing worker: ${m.error}`);
    return m;
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
    close: () => channel.close(),
  };
}
