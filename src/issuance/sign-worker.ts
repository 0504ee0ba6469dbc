// The signing worker's thread: holds its own Issuer (the same code and key as the main thread's) and
// signs leaves on request, so that building and signing certificates (asn1js, WebCrypto: ~4 ms of CPU
// per certificate) runs beside the request thread instead of on it. It also parses and verifies CSRs
// (~1 ms: key import, signature check), the other CPU-heavy step of finalize. See worker-issuer.ts.
import type { KeyObject } from "node:crypto";
import { parentPort, workerData } from "node:worker_threads";
import { parseCsr, type ParsedCsr } from "../core/csr.js";
import { AcmeError, type ProblemType } from "../errors/index.js";
import { createIssuer, type LeafRequest } from "./issuer.js";

export type SignRequest = { id: number; req: LeafRequest } | { id: number; csr: Uint8Array };
export type SignResponse =
  | { id: number; der: Uint8Array }
  | { id: number; parsed: ParsedCsr }
  /** `acme`: the error was an AcmeError (e.g. badCSR), to be thrown as one again */
  | { id: number; error: string; acme?: { type: ProblemType; status: number } };

const data = workerData as { rootDer: Uint8Array; intermediateDer: Uint8Array; key: KeyObject };
const issuer = await createIssuer(data.rootDer, data.intermediateDer, data.key);
const port = parentPort!;
const failed = (id: number) => (err: unknown) =>
  port.postMessage({
    id,
    error: err instanceof Error ? err.message : String(err),
    ...(err instanceof AcmeError ? { acme: { type: err.type, status: err.status } } : {}),
  } satisfies SignResponse);
port.on("message", (m: SignRequest) => {
  if ("csr" in m) {
    parseCsr(m.csr).then((parsed) => port.postMessage({ id: m.id, parsed } satisfies SignResponse), failed(m.id));
    return;
  }
  issuer.issue(m.req).then((der) => port.postMessage({ id: m.id, der } satisfies SignResponse, [der.buffer as ArrayBuffer]), failed(m.id));
});
