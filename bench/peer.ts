// Starts a bench/peer-worker.ts thread (the http-01 responder or the DNS server) and talks to it.
import { Worker } from "node:worker_threads";
import { workerEntry } from "../src/core/worker.js";
import type { PeerData, PeerReply, PeerRequest } from "./peer-worker.js";

export interface Peer {
  port: number;
  /**
   * http-01: registers an account's key thumbprint and resolves, once the worker has it, with the label that
   * starts the first label of the account's names (peer-worker.ts serveHttp01). Once per account.
   */
  account(thumbprint: string): Promise<string>;
  served(): number;
  close(): Promise<void>;
}

export function startPeer(kind: PeerData["kind"], port: number, host: string): Promise<Peer> {
  const counters = new SharedArrayBuffer(4);
  const served = new Int32Array(counters);
  const worker = new Worker(workerEntry(import.meta.url, "peer-worker"), { workerData: { kind, port, host, counters } satisfies PeerData, name: `bench ${kind}` });
  const acks = new Map<number, () => void>();
  let nextId = 1;
  let onClosed = () => {};
  const send = (m: PeerRequest) => worker.postMessage(m);
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", () => onClosed()); // a worker that is gone is closed too: close() must not wait for it
    worker.on("message", (m: PeerReply) => {
      if ("ack" in m) {
        acks.get(m.ack)?.();
        acks.delete(m.ack);
      } else if ("failed" in m) {
        reject(new Error(`bench ${kind} server: ${m.failed}`));
        void worker.terminate();
      } else if ("closed" in m) onClosed();
      else if ("listening" in m) {
        resolve({
          port: m.listening,
          account: (thumbprint) =>
            new Promise<string>((done) => {
              const id = nextId++;
              const label = `a${id}`;
              acks.set(id, () => done(label));
              send({ op: "account", id, label, thumbprint });
            }),
          served: () => Atomics.load(served, 0),
          close: async () => {
            await new Promise<void>((done) => {
              onClosed = done;
              send({ op: "close" });
            });
            await worker.terminate();
          },
        });
      }
    });
  });
}
